package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// sweepAll calls SweepEvents with max until a call removes fewer, as the
// gateway's sweeper does, and returns the first call's count and the total.
func sweepAll(t *testing.T, s store.Store, before time.Time, max int) (first, total int) {
	t.Helper()
	for i := 0; ; i++ {
		n, err := s.SweepEvents(context.Background(), before, max)
		if err != nil {
			t.Fatalf("sweep events: %v", err)
		}
		if i == 0 {
			first = n
		}
		total += n
		if n < max {
			return first, total
		}
		if i == 1000 {
			t.Fatalf("sweep events: still removing %d per call after 1000 calls", n)
		}
	}
}

// testRetention fills the store with events in every state, sweeps with a
// cut past some of them, and checks that exactly the finished events last
// changed before the cut are gone, with their attempts and dead letters,
// and that everything queued, leased or retrying is intact and leasable.
func testRetention(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := context.Background()
	at := base()
	ids, byEvent := retentionFill(t, s, at)
	retentionSettle(t, s, at, byEvent)
	retentionSweep(t, s, at, ids)

	// Everything queued is still leasable: the retrying one, the one whose
	// lease ran out, the replayed one; and the never-leased one.
	later := at.Add(11 * time.Hour)
	var leased []string
	for _, d := range lease(t, s, "crm", later, 100, time.Minute) {
		leased = append(leased, byEvent[d.EventID])
	}
	slices.Sort(leased)
	if want := []string{"leased", "replayed-queued", "retrying"}; !slices.Equal(leased, want) {
		t.Fatalf("leasable after sweep = %v, want %v", leased, want)
	}
	if ds := lease(t, s, "slow", later, 100, time.Minute); len(ds) != 1 || byEvent[ds[0].EventID] != "queued" {
		t.Fatalf("slow destination after sweep leased %+v, want the queued event", ds)
	}

	// The replayed and redelivered event goes retention after its last
	// change, and what is leased now stays.
	if _, total := sweepAll(t, s, later, 100); total != 1 {
		t.Fatalf("sweep past the replay removed %d, want 1", total)
	}
	if _, err := s.Event(ctx, ids["replayed-delivered"]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("replayed-delivered after its retention: %v, want ErrNotFound", err)
	}
	for _, name := range []string{"retrying", "queued", "leased", "replayed-queued"} {
		if _, err := s.Event(ctx, ids[name]); err != nil {
			t.Fatalf("%s after the second sweep: %v, want it kept", name, err)
		}
	}
}

// retentionNames are testRetention's events, one per state, ingested a
// millisecond apart in this order.
var retentionNames = []string{"delivered", "dead", "retrying", "queued", "leased", "unrouted", "mixed", "replayed-delivered", "replayed-queued"}

// retentionFill ingests testRetention's events and answers their ids by
// name, and their names by id.
func retentionFill(t *testing.T, s store.Store, at time.Time) (ids, byEvent map[string]string) {
	t.Helper()
	names := retentionNames
	ids = map[string]string{} // name → its event id
	byEvent = map[string]string{}
	for i, name := range names {
		email := name + "@retention.test"
		req := request(at.Add(time.Duration(i)*time.Millisecond), lead.Lead{Email: email}, "email:"+email)
		switch name {
		case "unrouted":
			req.Route = nil
		case "queued":
			req.Route = routeTo("slow")
		case "mixed":
			req.Route = routeTo("crm", "erp")
		}
		res := ingest(t, s, req)
		if len(res.Events) != 1 {
			t.Fatalf("%s: events %v, want lead.created only", name, eventNames(res.Events))
		}
		ids[name], byEvent[res.Events[0].ID] = res.Events[0].ID, name
	}
	return ids, byEvent
}

// retentionSettle brings testRetention's events to the state each is
// named after.
func retentionSettle(t *testing.T, s store.Store, at time.Time, byEvent map[string]string) {
	t.Helper()
	ctx := context.Background()
	settledAt := at.Add(time.Second)
	ds := lease(t, s, "crm", settledAt, 100, time.Minute)
	if len(ds) != 7 {
		t.Fatalf("leased %d crm deliveries, want 7", len(ds))
	}
	var outs []store.Outcome
	for _, d := range ds {
		o := store.Outcome{Delivery: d, Attempt: attemptAt(settledAt, 200, "")}
		switch byEvent[d.EventID] {
		case "delivered", "mixed":
			o.State = store.Delivered
		case "dead", "replayed-delivered", "replayed-queued":
			o.State, o.Attempt = store.Dead, attemptAt(settledAt, 404, "HTTP 404")
		case "retrying":
			o.State, o.Attempt, o.RetryAt = store.Retrying, attemptAt(settledAt, 503, "HTTP 503"), at.Add(time.Hour)
		case "leased":
			continue // its lease runs out unsettled
		}
		outs = append(outs, o)
	}
	settle(t, s, outs...)
	erp := lease(t, s, "erp", settledAt, 10, time.Minute)
	if len(erp) != 1 {
		t.Fatalf("leased %d erp deliveries, want 1", len(erp))
	}
	settle(t, s, store.Outcome{Delivery: erp[0], Attempt: attemptAt(settledAt, 410, "HTTP 410"), State: store.Dead})

	// Replaying a dead letter is a change: its clock restarts.
	replayedAt := at.Add(10 * time.Hour)
	for _, dl := range deadLetters(t, s, "crm") {
		if name := byEvent[dl.EventID]; name == "replayed-delivered" || name == "replayed-queued" {
			if err := s.Replay(ctx, dl.ID, replayedAt); err != nil {
				t.Fatalf("replay %s: %v", name, err)
			}
		}
	}
	again := lease(t, s, "crm", replayedAt, 100, time.Minute)
	for _, d := range again {
		if byEvent[d.EventID] == "replayed-delivered" {
			settle(t, s, store.Outcome{Delivery: d, Attempt: attemptAt(replayedAt, 200, ""), State: store.Delivered})
		}
	}
	// The others leased here are leased again below, once this lease ends.
}

// retentionSweep sweeps testRetention's events with a cut past the
// finished ones, and checks exactly those are gone.
func retentionSweep(t *testing.T, s store.Store, at time.Time, ids map[string]string) {
	t.Helper()
	ctx := context.Background()
	names := retentionNames
	gone := []string{"delivered", "dead", "unrouted", "mixed"}
	kept := []string{"retrying", "queued", "leased", "replayed-delivered", "replayed-queued"}
	unrouted := at.Add(time.Duration(slices.Index(names, "unrouted")) * time.Millisecond)
	if n, err := s.SweepEvents(ctx, unrouted, 100); err != nil || n != 0 {
		t.Fatalf("sweep at the unrouted event's receipt: removed %d (%v), want 0: the cut is exclusive", n, err)
	}
	first, total := sweepAll(t, s, at.Add(5*time.Hour), 1)
	if first != 1 || total != len(gone) {
		t.Fatalf("sweep with max 1: first call removed %d, all calls %d; want 1 and %d", first, total, len(gone))
	}
	if _, total := sweepAll(t, s, at.Add(5*time.Hour), 100); total != 0 {
		t.Fatalf("second sweep removed %d more, want 0", total)
	}
	for _, name := range gone {
		if _, err := s.Event(ctx, ids[name]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: event after sweep: %v, want ErrNotFound", name, err)
		}
		if evs := events(t, s, store.EventQuery{EventID: ids[name]}); len(evs) != 0 {
			t.Errorf("%s: console search still finds %v", name, evs)
		}
	}
	for _, dest := range []string{"", "crm", "erp"} {
		if dls := deadLetters(t, s, dest); len(dls) != 0 {
			t.Errorf("dead letters of %q after sweep = %+v, want none", dest, dls)
		}
	}
	if d := depth(t, s); d["dead"] != 0 {
		t.Errorf("depth after sweep = %v, want dead 0", d)
	}
	for _, name := range kept {
		rec, err := s.Event(ctx, ids[name])
		if err != nil {
			t.Fatalf("%s: event after sweep: %v, want it kept", name, err)
		}
		if len(rec.Deliveries) != 1 {
			t.Fatalf("%s: deliveries after sweep = %+v", name, rec.Deliveries)
		}
	}

}

// testProbeWrite: a healthy store takes the readiness probe's write, and
// reports a size.
func testProbeWrite(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := context.Background()
	if err := s.ProbeWrite(ctx); err != nil {
		t.Fatalf("probe write: %v", err)
	}
	if err := s.ProbeWrite(ctx); err != nil {
		t.Fatalf("second probe write: %v", err)
	}
	n, err := s.Size(ctx)
	if err != nil || n <= 0 {
		t.Fatalf("size = %d, %v; want > 0", n, err)
	}
}

// testRetentionOrdered: an event waiting in an ordered line behind a
// retrying one is never removed, however old; once the line has moved on
// and both are delivered, both go retention after their last change.
func testRetentionOrdered(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := context.Background()
	at := base()
	post := orderedPoster(t)
	first := post(s, at, "line@retention.test", 10)
	second := post(s, at.Add(time.Millisecond), "line@retention.test", 20)
	plain := lease(t, s, "plain", at.Add(time.Millisecond), 10, time.Minute)
	if len(plain) != 2 {
		t.Fatalf("leased %d unordered deliveries, want 2", len(plain))
	}
	for _, d := range plain {
		settle(t, s, store.Outcome{Delivery: d, Attempt: attemptAt(at, 200, ""), State: store.Delivered})
	}
	head := expectLeased(t, s, "head", "crm", at, first)
	settle(t, s, store.Outcome{Delivery: head[0], Attempt: attemptAt(at, 503, "HTTP 503"), State: store.Retrying, RetryAt: at.Add(time.Hour)})

	if _, total := sweepAll(t, s, at.Add(100*time.Hour), 100); total != 0 {
		t.Fatalf("sweep with a line waiting removed %d events, want 0", total)
	}
	for _, ev := range []lead.Event{first, second} {
		if _, err := s.Event(ctx, ev.ID); err != nil {
			t.Fatalf("event %s after the sweep: %v, want it kept", ev.ID, err)
		}
	}
	retryAt := at.Add(time.Hour)
	head = expectLeased(t, s, "retry", "crm", retryAt, first)
	settle(t, s, store.Outcome{Delivery: head[0], Attempt: attemptAt(retryAt, 200, ""), State: store.Delivered})
	next := expectLeased(t, s, "the line moved on", "crm", retryAt, second)
	settle(t, s, store.Outcome{Delivery: next[0], Attempt: attemptAt(retryAt.Add(time.Second), 200, ""), State: store.Delivered})

	if _, total := sweepAll(t, s, retryAt.Add(time.Second), 100); total != 1 {
		t.Fatalf("sweep between the two deliveries removed %d, want the first event only", total)
	}
	if _, err := s.Event(ctx, second.ID); err != nil {
		t.Fatalf("second event: %v, want it kept until retention after its delivery", err)
	}
	if _, total := sweepAll(t, s, retryAt.Add(2*time.Second), 100); total != 1 {
		t.Fatalf("sweep after both deliveries removed %d, want 1 more", total)
	}
}
