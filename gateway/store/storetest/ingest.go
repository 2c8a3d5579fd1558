package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

func testIngestNewLead(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	l := lead.Lead{Email: "john@example.com", FirstName: "John", LastName: "Doe", Score: 42,
		Fields: map[string]any{"budget": "5000", "count": int64(3), "ok": true}}
	res := ingest(t, s, request(at, l, "email:john@example.com"))
	if res.Duplicate {
		t.Fatalf("duplicate on first ingest")
	}
	if res.LeadID == "" {
		t.Fatalf("empty lead id")
	}
	if got := eventNames(res.Events); !slices.Equal(got, []string{lead.LeadCreated}) {
		t.Fatalf("events = %v, want [lead.created]", got)
	}
	ev := res.Events[0]
	if len(ev.ID) < 5 || ev.ID[:4] != "evt_" {
		t.Fatalf("event id = %q, want evt_…", ev.ID)
	}
	if ev.Source != "website" || ev.LeadID != res.LeadID || !ev.ReceivedAt.Equal(at) || ev.Changed != nil {
		t.Fatalf("event = %+v", ev)
	}
	if ev.Lead.FullName != "John Doe" || ev.Lead.Score != 42 {
		t.Fatalf("lead = %+v, want merged with full_name", ev.Lead)
	}
	ds := lease(t, s, "crm", at, 10, time.Minute)
	if len(ds) != 1 {
		t.Fatalf("leased %d, want 1", len(ds))
	}
	sameEvent(t, ds[0].Event, ev)
}

func testIngestNeedsIdentity(t *testing.T, open Open) {
	s := openStore(t, open)
	_, err := s.Ingest(context.Background(), request(base(), lead.Lead{Email: "a@b.c"}))
	if err == nil {
		t.Fatalf("ingest without identity: no error")
	}
	if errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("ingest without identity: %v, want a request error, not unavailable", err)
	}
}

func testDedupe(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	ttl := 10 * time.Minute
	req := func(at time.Time, key string) store.IngestRequest {
		r := request(at, lead.Lead{Email: "a@b.c"}, "email:a@b.c")
		r.Emits = form
		r.DedupeKey = key
		r.DedupeTTL = ttl
		return r
	}
	first := ingest(t, s, req(at, "k1"))
	tests := []struct {
		name      string
		at        time.Time
		key       string
		duplicate bool
		events    []string
	}{
		{"same key within ttl", at.Add(5 * time.Minute), "k1", true, nil},
		{"same key just before expiry", at.Add(ttl - time.Millisecond), "k1", true, nil},
		{"other key", at.Add(time.Minute), "k2", false, []string{lead.FormSubmitted}},
		{"empty key never dedupes", at.Add(time.Minute), "", false, []string{lead.FormSubmitted}},
		{"empty key again", at.Add(time.Minute), "", false, []string{lead.FormSubmitted}},
		{"same key after ttl", at.Add(ttl + time.Minute), "k1", false, []string{lead.FormSubmitted}},
		{"same key within the renewed ttl", at.Add(ttl + 2*time.Minute), "k1", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := depth(t, s)
			res := ingest(t, s, req(tt.at, tt.key))
			if res.Duplicate != tt.duplicate {
				t.Fatalf("duplicate = %v, want %v", res.Duplicate, tt.duplicate)
			}
			if res.LeadID != first.LeadID {
				t.Fatalf("lead id = %q, want %q", res.LeadID, first.LeadID)
			}
			if got := eventNames(res.Events); !slices.Equal(got, tt.events) {
				t.Fatalf("events = %v, want %v", got, tt.events)
			}
			after := depth(t, s)
			queued := func(d map[string]int64) int64 { return d["due"] + d["scheduled"] + d["in_flight"] }
			if got, want := queued(after)-queued(before), int64(len(tt.events)); got != want {
				t.Fatalf("queued %d deliveries, want %d", got, want)
			}
		})
	}
}

func testLeadIdentity(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	first := ingest(t, s, request(at, lead.Lead{Email: "a@b.c", Phone: "+1555"}, "email:a@b.c", "phone:+1555"))
	tests := []struct {
		name     string
		l        lead.Lead
		identity []string
	}{
		{"same email", lead.Lead{Email: "a@b.c"}, []string{"email:a@b.c"}},
		{"same phone, no email", lead.Lead{Phone: "+1555"}, []string{"phone:+1555"}},
		{"phone and a new key", lead.Lead{Phone: "+1555", User: "u1"}, []string{"phone:+1555", "key:leadsie:u1"}},
		{"key alone, pointed by the last ingest", lead.Lead{User: "u1"}, []string{"key:leadsie:u1"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ingest(t, s, request(at.Add(time.Duration(i+1)*time.Second), tt.l, tt.identity...))
			if res.LeadID != first.LeadID {
				t.Fatalf("lead id = %q, want %q", res.LeadID, first.LeadID)
			}
			for _, ev := range res.Events {
				if ev.Event == lead.LeadCreated {
					t.Fatalf("lead.created for a known lead")
				}
			}
		})
	}
	other := ingest(t, s, request(at, lead.Lead{Email: "z@b.c"}, "email:z@b.c"))
	if other.LeadID == first.LeadID {
		t.Fatalf("a new email got the known lead id")
	}
}

func testEmailWinsOverPhone(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	a := ingest(t, s, request(at, lead.Lead{Email: "a@b.c", Phone: "+1555"}, "email:a@b.c", "phone:+1555"))
	b := ingest(t, s, request(at, lead.Lead{Email: "b@b.c"}, "email:b@b.c"))
	if a.LeadID == b.LeadID {
		t.Fatalf("two emails share a lead id")
	}
	got := ingest(t, s, request(at.Add(time.Second), lead.Lead{Email: "b@b.c", Phone: "+1555"}, "email:b@b.c", "phone:+1555"))
	if got.LeadID != b.LeadID {
		t.Fatalf("email+phone went to %q, want the email's lead %q", got.LeadID, b.LeadID)
	}
	got = ingest(t, s, request(at.Add(2*time.Second), lead.Lead{Phone: "+1555"}, "phone:+1555"))
	if got.LeadID != b.LeadID {
		t.Fatalf("phone now names %q, want %q (every key points at the resolved lead)", got.LeadID, b.LeadID)
	}
}

func testEventSequence(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	id := "email:seq@b.c"
	steps := []struct {
		name    string
		l       lead.Lead
		events  []string
		changed [][]string
	}{
		{"created", lead.Lead{Email: "seq@b.c", FirstName: "Ann", Score: 1}, []string{lead.LeadCreated}, [][]string{nil}},
		{"unchanged", lead.Lead{Email: "seq@b.c", Score: 1}, nil, nil},
		{"name changed", lead.Lead{Email: "seq@b.c", FirstName: "Anne", Fields: map[string]any{"budget": "5"}},
			[]string{lead.LeadUpdated, lead.LeadFieldUpdated},
			[][]string{{"first_name", "full_name", "fields.budget"}, {"first_name", "full_name", "fields.budget"}}},
		{"score changed", lead.Lead{Email: "seq@b.c", Score: 2},
			[]string{lead.LeadUpdated, lead.LeadScoreChanged, lead.LeadFieldUpdated},
			[][]string{{"score"}, {"score"}, {"score"}}},
		{"field kept, empty does not clear", lead.Lead{Email: "seq@b.c", Fields: map[string]any{"budget": ""}}, nil, nil},
	}
	for i, st := range steps {
		res := ingest(t, s, request(at.Add(time.Duration(i)*time.Second), st.l, id))
		if got := eventNames(res.Events); !slices.Equal(got, st.events) {
			t.Fatalf("%s: events = %v, want %v", st.name, got, st.events)
		}
		for j, ev := range res.Events {
			if !slices.Equal(ev.Changed, st.changed[j]) {
				t.Fatalf("%s: %s changed = %v, want %v", st.name, ev.Event, ev.Changed, st.changed[j])
			}
			if ev.Lead.Email != "seq@b.c" {
				t.Fatalf("%s: event lead = %+v, want the merged lead", st.name, ev.Lead)
			}
		}
	}
	final := ingest(t, s, request(at.Add(time.Minute), lead.Lead{Email: "seq@b.c", Status: "won"}, id))
	if len(final.Events) == 0 {
		t.Fatalf("status change made no events")
	}
	l := final.Events[0].Lead
	if l.FirstName != "Anne" || l.FullName != "Anne" || l.Score != 2 || fmt.Sprint(l.Fields["budget"]) != "5" || l.Status != "won" {
		t.Fatalf("merged lead = %+v", l)
	}
}

func testRouteFanOut(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	route := func(ev *lead.Event) []string {
		switch ev.Event {
		case lead.FormSubmitted:
			return []string{"a", "b", "c"}
		case lead.LeadCreated:
			return []string{"a", "b"}
		}
		return nil
	}
	req := request(at, lead.Lead{Email: "f@b.c"}, "email:f@b.c")
	req.Emits = form
	req.Route = route
	res := ingest(t, s, req)
	byName := map[string]lead.Event{}
	for _, ev := range res.Events {
		byName[ev.Event] = ev
	}
	tests := []struct {
		dest   string
		events []string
	}{
		{"a", []string{lead.FormSubmitted, lead.LeadCreated}},
		{"b", []string{lead.FormSubmitted, lead.LeadCreated}},
		{"c", []string{lead.FormSubmitted}},
		{"d", nil},
	}
	ids := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.dest, func(t *testing.T) {
			ds := lease(t, s, tt.dest, at.Add(time.Second), 10, time.Minute)
			var got []string
			for _, d := range ds {
				got = append(got, d.Event.Event)
				if d.Destination != tt.dest || d.Attempts != 0 || d.EventID != d.Event.ID || !d.EnqueuedAt.Equal(at) {
					t.Fatalf("delivery = %+v", d)
				}
				if d.ID == "" || ids[d.ID] {
					t.Fatalf("delivery id %q empty or repeated", d.ID)
				}
				ids[d.ID] = true
				sameEvent(t, d.Event, byName[d.Event.Event])
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.events) {
				t.Fatalf("events = %v, want %v", got, tt.events)
			}
		})
	}
}

func testConcurrentIngest(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	const n = 32
	results := make([]store.IngestResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req := request(at, lead.Lead{Email: "race@b.c"}, "email:race@b.c")
			req.DedupeKey, req.DedupeTTL = fmt.Sprintf("k%d", i), time.Hour
			results[i], errs[i] = s.Ingest(context.Background(), req)
		})
	}
	wg.Wait()
	created := 0
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("ingest %d: %v", i, errs[i])
		}
		if res.LeadID != results[0].LeadID {
			t.Fatalf("lead ids %q and %q for one email", res.LeadID, results[0].LeadID)
		}
		for _, ev := range res.Events {
			if ev.Event == lead.LeadCreated {
				created++
			}
		}
	}
	if created != 1 {
		t.Fatalf("%d lead.created, want 1", created)
	}
	if ds := lease(t, s, "crm", at, 100, time.Minute); len(ds) != 1 {
		t.Fatalf("queued %d deliveries, want 1", len(ds))
	}
}

// testRequestID checks a request id is kept with its events, outside their
// canonical body, and returned with every delivery leased, before and after
// a retry and a restart; a request without one leases with "".
func testRequestID(t *testing.T, open Open) {
	ctx := context.Background()
	at := base()
	s := &closer{Store: open(t)}
	t.Cleanup(func() { _ = s.Close() })

	req := request(at, lead.Lead{Email: "rid@b.c"}, "email:rid@b.c")
	req.Route = routeTo("crm", "retry", "later")
	req.RequestID = "req-7f3a"
	res := ingest(t, s, req)
	plain := ingest(t, s, request(at, lead.Lead{Email: "norid@b.c"}, "email:norid@b.c"))

	got := lease(t, s, "crm", at, 10, time.Minute)
	if len(got) != 2 {
		t.Fatalf("leased %d deliveries, want 2", len(got))
	}
	want := map[string]string{res.Events[0].ID: "req-7f3a", plain.Events[0].ID: ""}
	for _, d := range got {
		if d.RequestID != want[d.EventID] {
			t.Fatalf("delivery of %s has request id %q, want %q", d.EventID, d.RequestID, want[d.EventID])
		}
	}
	rt := lease(t, s, "retry", at, 1, time.Minute)
	settle(t, s, store.Outcome{Delivery: rt[0], Attempt: attemptAt(at, 503, "HTTP 503"), State: store.Retrying, RetryAt: at.Add(time.Second)})
	if again := lease(t, s, "retry", at.Add(2*time.Second), 1, time.Minute); len(again) != 1 || again[0].RequestID != "req-7f3a" {
		t.Fatalf("retried delivery leased %+v, want request id req-7f3a", again)
	}
	rec, err := s.Event(ctx, res.Events[0].ID)
	if err != nil {
		t.Fatalf("event: %v", err)
	}
	if body := mustJSON(t, rec.Event); strings.Contains(body, "req-7f3a") {
		t.Fatalf("canonical event carries the request id: %s", body)
	}
	sameEvent(t, rec.Event, res.Events[0])
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	r := openStore(t, open)
	if ds := lease(t, r, "later", at, 1, time.Minute); len(ds) != 1 || ds[0].RequestID != "req-7f3a" {
		t.Fatalf("after reopen leased %+v, want request id req-7f3a", ds)
	}
}
