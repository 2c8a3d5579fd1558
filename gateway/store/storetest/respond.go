package storetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// The reverse-proxy answer (contract §3): Ingest holds one delivery for
// the caller to send at once (IngestRequest.Hold), and KeepAnswer keeps
// what the destination answered with the payload's dedupe record.

// heldRequest is a form payload routed to ledsak and crm, holding its
// ledsak delivery until at+hold. The subtests share one backing store, so
// each names destinations of its own.
func heldRequest(at time.Time, hold time.Duration, ledsak, crm string) store.IngestRequest {
	req := request(at, lead.Lead{Email: "form@b.c"}, "email:form@b.c")
	req.Emits = form
	req.Route = routeTo(ledsak, crm)
	req.RequestID = "req-held"
	req.Hold = &store.Hold{Destination: ledsak, Until: at.Add(hold)}
	return req
}

func ids(ds []store.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func testHold(t *testing.T, open Open) {
	at := base()

	t.Run("the first routed event is held, the rest is queued", func(t *testing.T) { holdFirstRouted(t, open, at) })
	holdSettled(t, open, at)
	t.Run("nothing routed to the destination holds nothing", func(t *testing.T) { holdUnrouted(t, open, at) })
	t.Run("a duplicate holds nothing", func(t *testing.T) { holdDuplicate(t, open, at) })
	t.Run("a held delivery survives a restart", func(t *testing.T) { holdRestart(t, open, at) })
}

// holdFirstRouted: the first routed event's delivery to the holding
// destination is held; the rest is queued, and a hold nobody settles
// ends like a lease.
func holdFirstRouted(t *testing.T, open Open, at time.Time) {
	s := openStore(t, open)
	res := ingest(t, s, heldRequest(at, time.Minute, "ledsak", "crm"))
	if got := eventNames(res.Events); len(got) != 2 || got[0] != lead.FormSubmitted {
		t.Fatalf("events = %v, want form.submitted first", got)
	}
	h := res.Held
	if h == nil {
		t.Fatalf("held = nil, want the form.submitted delivery to ledsak")
	}
	if h.EventID != res.Events[0].ID || h.Destination != "ledsak" || h.Attempts != 0 || h.RequestID != "req-held" || h.ID == "" {
		t.Fatalf("held = %+v, want attempt 0 of %s to ledsak with its request id", h, res.Events[0].ID)
	}
	if !h.EnqueuedAt.Equal(at) {
		t.Fatalf("held enqueued at %v, want %v", h.EnqueuedAt, at)
	}
	sameEvent(t, h.Event, res.Events[0])
	if d := depth(t, s); d["in_flight"] != 1 || d["due"] != 3 {
		t.Fatalf("depth = %v, want the held delivery in flight and 3 due", d)
	}
	got := lease(t, s, "ledsak", at, 10, 10*time.Second)
	if len(got) != 1 || got[0].EventID != res.Events[1].ID {
		t.Fatalf("ledsak leased %+v, want only the lead.created delivery", got)
	}
	if got := lease(t, s, "crm", at, 10, 10*time.Second); len(got) != 2 {
		t.Fatalf("crm leased %d deliveries, want both events (nothing held for crm)", len(got))
	}
	settle(t, s, store.Outcome{Delivery: got[0], Attempt: attemptAt(at, 200, ""), State: store.Delivered})
	// The caller never settled it (it died mid-send): the hold ends
	// like a lease, and the delivery is handed out as any other.
	if got := lease(t, s, "ledsak", at.Add(59*time.Second), 10, 10*time.Second); len(got) != 0 {
		t.Fatalf("ledsak leased %v before the hold ended", ids(got))
	}
	again := lease(t, s, "ledsak", at.Add(2*time.Minute), 10, 10*time.Second)
	if len(again) != 1 || again[0].ID != h.ID || again[0].Attempts != 0 {
		t.Fatalf("after the hold ledsak leased %+v, want %s with 0 attempts", again, h.ID)
	}
}

// holdUnrouted: a destination nothing is routed to holds nothing.
func holdUnrouted(t *testing.T, open Open, at time.Time) {
	s := openStore(t, open)
	req := heldRequest(at, time.Minute, "ledsak-unrouted", "crm-unrouted")
	req.Route = routeTo("crm-unrouted")
	res := ingest(t, s, req)
	if res.Held != nil {
		t.Fatalf("held = %+v, want nil", res.Held)
	}
	if got := lease(t, s, "crm-unrouted", at, 10, time.Second); len(got) != len(res.Events) {
		t.Fatalf("crm leased %d, want every event's (%d)", len(got), len(res.Events))
	}
}

// holdDuplicate: a duplicate holds nothing.
func holdDuplicate(t *testing.T, open Open, at time.Time) {
	s := openStore(t, open)
	req := heldRequest(at, time.Minute, "ledsak-dup", "crm-dup")
	req.DedupeKey, req.DedupeTTL = "held", time.Hour
	ingest(t, s, req)
	req.ReceivedAt = at.Add(time.Second)
	if dup := ingest(t, s, req); !dup.Duplicate || dup.Held != nil {
		t.Fatalf("duplicate = %+v, want a duplicate holding nothing", dup)
	}
}

// holdRestart: a held delivery survives a restart.
func holdRestart(t *testing.T, open Open, at time.Time) {
	s := &closer{Store: open(t)}
	t.Cleanup(func() { _ = s.Close() })
	res := ingest(t, s, heldRequest(at, time.Minute, "ledsak-restart", "crm-restart"))
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	r := openStore(t, open)
	got := lease(t, r, "ledsak-restart", at.Add(2*time.Minute), 10, 10*time.Second)
	found := false
	for _, d := range got {
		found = found || d.ID == res.Held.ID
	}
	if !found {
		t.Fatalf("after a restart ledsak leased %v, want the held %s", ids(got), res.Held.ID)
	}
}

// holdSettled: the caller settles the held delivery like a leased one.
func holdSettled(t *testing.T, open Open, at time.Time) {
	ctx := context.Background()
	tests := []struct {
		name    string
		outcome store.Outcome
		// then: what Lease of ledsak hands out at the time, and whether
		// ledsak has the held delivery in its dead letters.
		leaseAt time.Duration
		leased  int
		dead    bool
		status  string
	}{
		{"settled delivered", store.Outcome{Attempt: attemptAt(at, 200, ""), State: store.Delivered}, 2 * time.Minute, 0, false, "delivered"},
		{"settled retrying ends the hold", store.Outcome{Attempt: attemptAt(at, 503, "unexpected status 503"), State: store.Retrying, RetryAt: at.Add(5 * time.Second)},
			5 * time.Second, 1, false, "retrying"},
		{"settled dead", store.Outcome{Attempt: attemptAt(at, 422, "unexpected status 422"), State: store.Dead}, 2 * time.Minute, 0, true, "dead"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, open)
			ledsak := fmt.Sprintf("ledsak%d", i)
			res := ingest(t, s, heldRequest(at, time.Minute, ledsak, fmt.Sprintf("crm%d", i)))
			lease(t, s, ledsak, at, 10, time.Hour) // the lead.created delivery, out of the way
			out := tt.outcome
			out.Delivery = *res.Held
			settle(t, s, out)
			got := lease(t, s, ledsak, at.Add(tt.leaseAt), 10, 10*time.Second)
			if len(got) != tt.leased {
				t.Fatalf("leased %v, want %d", ids(got), tt.leased)
			}
			if tt.leased == 1 && (got[0].ID != res.Held.ID || got[0].Attempts != 1) {
				t.Fatalf("leased %+v, want %s after its first attempt", got[0], res.Held.ID)
			}
			dls := deadLetters(t, s, ledsak)
			if (len(dls) == 1 && dls[0].ID == res.Held.ID) != tt.dead || (!tt.dead && len(dls) != 0) {
				t.Fatalf("dead letters = %+v, want dead %v", dls, tt.dead)
			}
			rec, err := s.Event(ctx, res.Held.EventID)
			if err != nil {
				t.Fatalf("event: %v", err)
			}
			for _, d := range rec.Deliveries {
				if d.Destination == ledsak && (d.Status != tt.status || len(d.Attempts) != 1 || d.Attempts[0].Code != out.Attempt.Code) {
					t.Fatalf("ledsak delivery = %+v, want %s after one attempt", d, tt.status)
				}
			}
		})
	}
}

func testKeepAnswer(t *testing.T, open Open) {
	ctx := context.Background()
	at := base()
	ttl := 10 * time.Minute
	req := func(at time.Time, key string) store.IngestRequest {
		r := request(at, lead.Lead{Email: "a@b.c"}, "email:a@b.c")
		r.Emits = form
		r.DedupeKey, r.DedupeTTL = key, ttl
		return r
	}
	keep := func(t *testing.T, s store.Store, key string, a store.Answer) {
		t.Helper()
		if err := s.KeepAnswer(ctx, key, a); err != nil {
			t.Fatalf("keep answer: %v", err)
		}
	}
	first := store.Answer{Status: 201, ContentType: "application/json; charset=utf-8", Body: []byte(`{"message": "Successfully created", "lead_id": "L1"}`)}
	second := store.Answer{Status: 422, ContentType: "text/plain", Body: []byte("bad \xff bytes kept as sent")}
	sameAnswer := func(t *testing.T, got *store.Answer, want store.Answer) {
		t.Helper()
		if got == nil || got.Status != want.Status || got.ContentType != want.ContentType || !bytes.Equal(got.Body, want.Body) {
			t.Fatalf("answer = %+v, want %+v", got, want)
		}
	}

	s := &closer{Store: open(t)}
	t.Cleanup(func() { _ = s.Close() })
	orig := ingest(t, s, req(at, "k1"))
	keep(t, s, "k1", first)
	dup := ingest(t, s, req(at.Add(time.Minute), "k1"))
	if !dup.Duplicate || dup.LeadID != orig.LeadID {
		t.Fatalf("dup = %+v, want a duplicate of %s", dup, orig.LeadID)
	}
	sameAnswer(t, dup.Answer, first)

	keep(t, s, "k1", second)
	sameAnswer(t, ingest(t, s, req(at.Add(2*time.Minute), "k1")).Answer, second)

	ingest(t, s, req(at, "k2"))
	if dup := ingest(t, s, req(at.Add(time.Minute), "k2")); !dup.Duplicate || dup.Answer != nil {
		t.Fatalf("dup of k2 = %+v, want a duplicate with no answer kept", dup)
	}

	// No record: nothing is kept, and the first payload with that key is
	// not a duplicate.
	keep(t, s, "never-seen", first)
	if res := ingest(t, s, req(at, "never-seen")); res.Duplicate || res.Answer != nil {
		t.Fatalf("first payload of a key = %+v, want no duplicate and no answer", res)
	}
	keep(t, s, "", first)

	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	r := openStore(t, open)
	sameAnswer(t, ingest(t, r, req(at.Add(3*time.Minute), "k1")).Answer, second)

	// The window ends: the answer goes with the record it was kept with.
	if res := ingest(t, r, req(at.Add(ttl+time.Minute), "k1")); res.Duplicate || res.Answer != nil {
		t.Fatalf("after the window = %+v, want a new payload with no answer", res)
	}
	if res := ingest(t, r, req(at.Add(ttl+2*time.Minute), "k1")); !res.Duplicate || res.Answer != nil {
		t.Fatalf("in the renewed window = %+v, want a duplicate with no answer", res)
	}
}

// testHoldOrdered: a destination that wants a lead's events in order is
// never held, so the inline send cannot overtake an earlier event.
func testHoldOrdered(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	req := heldRequest(at, time.Minute, "ledsak-ordered", "crm-ordered")
	req.Ordered = func(dest string) bool { return dest == "ledsak-ordered" }
	res := ingest(t, s, req)
	if res.Held != nil {
		t.Fatalf("held = %+v, want nil for an ordered destination", res.Held)
	}
	if got := lease(t, s, "ledsak-ordered", at, 10, time.Second); len(got) != 1 || got[0].EventID != res.Events[0].ID {
		t.Fatalf("ledsak-ordered leased %v, want the line's head, queued as usual", ids(got))
	}
}
