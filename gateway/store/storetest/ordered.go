package storetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// orderedPoster ingests one payload of email's lead, with the given score,
// routed to the ordered destination "crm" and the unordered "plain"; each
// payload makes one event (lead.created, then lead.updated).
func orderedPoster(t *testing.T) func(s store.Store, at time.Time, email string, score int64) lead.Event {
	return func(s store.Store, at time.Time, email string, score int64) lead.Event {
		t.Helper()
		req := request(at, lead.Lead{Email: email, Score: score, HasScore: true}, "email:"+email)
		req.Emits = []string{lead.LeadCreated, lead.LeadUpdated}
		req.Route = routeTo("crm", "plain")
		req.Ordered = func(dest string) bool { return dest == "crm" }
		res := ingest(t, s, req)
		if len(res.Events) != 1 {
			t.Fatalf("ingest %s score %d: events %v, want one", email, score, eventNames(res.Events))
		}
		return res.Events[0]
	}
}

// leaseEvents leases dest at now and answers the leased deliveries and
// their event ids, in lease order.
func leaseEvents(t *testing.T, s store.Store, dest string, now time.Time) ([]store.Delivery, []string) {
	t.Helper()
	ds := lease(t, s, dest, now, 100, time.Minute)
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.EventID
	}
	return ds, ids
}

// expectLeased fails unless leasing dest at now hands out exactly the
// events want, in that order; it answers the deliveries.
func expectLeased(t *testing.T, s store.Store, step, dest string, now time.Time, want ...lead.Event) []store.Delivery {
	t.Helper()
	ds, got := leaseEvents(t, s, dest, now)
	wantIDs := make([]string, len(want))
	for i, ev := range want {
		wantIDs[i] = ev.ID
	}
	if !slices.Equal(got, wantIDs) {
		t.Fatalf("%s: %s leased events %v, want %v", step, dest, got, wantIDs)
	}
	return ds
}

// wantDepth fails unless Depth answers want.
func wantDepth(t *testing.T, s store.Store, step string, want map[string]int64) {
	t.Helper()
	if got := depth(t, s); !maps.Equal(got, want) {
		t.Fatalf("%s: depth = %v, want %v", step, got, want)
	}
}

// testOrdered: deliveries queued as ordered go out one at a time per (lead,
// destination), in the order they were queued; a retrying one holds the
// next back even before its retry is due, a delivered or dead one lets it
// go; other leads and unordered destinations are never held; the line
// survives a restart. Depth counts the deliveries waiting in a line as
// scheduled. Times are a minute in the past, as Depth judges due against
// the wall clock.
func testOrdered(t *testing.T, open Open) {
	at := base().Add(-time.Minute)
	post := orderedPoster(t)
	s := &closer{Store: open(t)}
	t.Cleanup(func() { _ = s.Close() })

	e1 := post(s, at, "ord@b.c", 10)
	e2 := post(s, at.Add(time.Second), "ord@b.c", 20)
	e3 := post(s, at.Add(2*time.Second), "ord@b.c", 30)
	m1 := post(s, at.Add(3*time.Second), "other@b.c", 5)
	if e1.LeadID != e2.LeadID || e2.LeadID != e3.LeadID || m1.LeadID == e1.LeadID {
		t.Fatalf("lead ids %s %s %s / %s: want one lead and another", e1.LeadID, e2.LeadID, e3.LeadID, m1.LeadID)
	}
	now := at.Add(10 * time.Second)
	wantDepth(t, s, "ingested", map[string]int64{"due": 6, "scheduled": 2, "in_flight": 0, "dead": 0})

	expectLeased(t, s, "unordered", "plain", now, e1, e2, e3, m1)
	ds := expectLeased(t, s, "first lease", "crm", now, e1, m1)
	settle(t, s,
		store.Outcome{Delivery: ds[0], Attempt: attemptAt(now, 503, "HTTP 503"), State: store.Retrying, RetryAt: now.Add(time.Hour)},
		store.Outcome{Delivery: ds[1], Attempt: attemptAt(now, 200, ""), State: store.Delivered},
	)
	expectLeased(t, s, "e1 retrying, not due", "crm", now.Add(2*time.Minute))
	// plain's four leased; e1 due in an hour and e2, e3 waiting behind it.
	wantDepth(t, s, "e1 retrying", map[string]int64{"due": 0, "scheduled": 3, "in_flight": 4, "dead": 0})

	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	r := openStore(t, open)
	expectLeased(t, r, "after restart, e1 not due", "crm", now.Add(2*time.Minute))
	later := now.Add(time.Hour)
	ds = expectLeased(t, r, "e1 due", "crm", later, e1)
	if ds[0].Attempts != 1 {
		t.Fatalf("e1 attempts = %d, want 1", ds[0].Attempts)
	}
	expectLeased(t, r, "e1 leased", "crm", later)
	settle(t, r, store.Outcome{Delivery: ds[0], Attempt: attemptAt(later, 200, ""), State: store.Delivered})

	ds = expectLeased(t, r, "e1 delivered", "crm", later, e2)
	settle(t, r, store.Outcome{Delivery: ds[0], Attempt: attemptAt(later, 400, "HTTP 400"), State: store.Dead})
	ds = expectLeased(t, r, "e2 dead", "crm", later, e3)
	inFlight := ds[0]

	t.Run("replay joins the back of the line", func(t *testing.T) { orderedReplay(t, r, post, later, e2, inFlight) })
}

// orderedReplay: with e2 dead and e3 in flight, a replayed e2 joins the
// back of its lead's line, behind e4, and into an empty line is due at once.
func orderedReplay(t *testing.T, r store.Store, post func(s store.Store, at time.Time, email string, score int64) lead.Event, later time.Time, e2 lead.Event, inFlight store.Delivery) {
	e4 := post(r, later, "ord@b.c", 40)
	expectLeased(t, r, "e3 leased, e4 queued", "crm", later)
	dls := deadLetters(t, r, "crm")
	if len(dls) != 1 || dls[0].EventID != e2.ID {
		t.Fatalf("dead letters = %+v, want e2's", dls)
	}
	if err := r.Replay(context.Background(), dls[0].ID, later); err != nil {
		t.Fatalf("replay: %v", err)
	}
	expectLeased(t, r, "e2 replayed behind e4", "crm", later)
	settle(t, r, store.Outcome{Delivery: inFlight, Attempt: attemptAt(later, 200, ""), State: store.Delivered})
	ds := expectLeased(t, r, "e3 delivered", "crm", later, e4)
	settle(t, r, store.Outcome{Delivery: ds[0], Attempt: attemptAt(later, 200, ""), State: store.Delivered})
	ds = expectLeased(t, r, "e4 delivered", "crm", later, e2)
	if ds[0].Attempts != 0 {
		t.Fatalf("replayed e2 attempts = %d, want 0", ds[0].Attempts)
	}
	// Dead again and replayed into an empty line: due at once.
	settle(t, r, store.Outcome{Delivery: ds[0], Attempt: attemptAt(later, 400, "HTTP 400"), State: store.Dead})
	if err := r.Replay(context.Background(), ds[0].ID, later); err != nil {
		t.Fatalf("replay: %v", err)
	}
	ds = expectLeased(t, r, "e2 replayed into an empty line", "crm", later, e2)
	settle(t, r, store.Outcome{Delivery: ds[0], Attempt: attemptAt(later, 200, ""), State: store.Delivered})
	expectLeased(t, r, "all delivered", "crm", later)
}

// testOrderedAbandonAndReplayAll: abandoning an ordered destination buries
// the deliveries waiting behind others too, and ReplayAll puts a lead's
// dead letters back in line in the order they died.
func testOrderedAbandonAndReplayAll(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := context.Background()
	at := base().Add(-time.Minute)
	post := orderedPoster(t)
	var evs []lead.Event
	for i := range 3 {
		evs = append(evs, post(s, at.Add(time.Duration(i)*time.Second), "ab@b.c", int64(i+1)))
	}
	other := post(s, at.Add(5*time.Second), "ab2@b.c", 1)
	now := at.Add(time.Minute)
	ds := expectLeased(t, s, "before abandon", "crm", now, evs[0], other)
	settle(t, s, store.Outcome{Delivery: ds[1], Attempt: attemptAt(now, 200, ""), State: store.Delivered})

	n, err := s.AbandonQueued(ctx, "crm", now, "subscription deleted")
	if err != nil {
		t.Fatalf("abandon: %v", err)
	}
	if n != 3 {
		t.Fatalf("abandoned %d, want 3 (one leased, two waiting)", n)
	}
	dls := deadLetters(t, s, "crm")
	if len(dls) != 3 {
		t.Fatalf("dead letters = %+v, want 3", dls)
	}
	for i, dl := range dls {
		if dl.EventID != evs[i].ID || dl.LastError != "subscription deleted" {
			t.Fatalf("dead letter %d = %+v, want event %s dead with the reason", i, dl, evs[i].ID)
		}
	}
	expectLeased(t, s, "after abandon", "crm", now.Add(time.Hour))
	// plain's four; nothing waits for crm any more.
	wantDepth(t, s, "after abandon", map[string]int64{"due": 4, "scheduled": 0, "in_flight": 0, "dead": 3})
	// The leased one's late outcome changes nothing.
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(now, 503, "HTTP 503"), State: store.Retrying, RetryAt: now})
	expectLeased(t, s, "after a late settle", "crm", now.Add(time.Hour))

	// A new event of the lead is not held by the buried ones.
	next := post(s, now, "ab@b.c", 9)
	ds = expectLeased(t, s, "new event after abandon", "crm", now, next)
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(now, 200, ""), State: store.Delivered})

	replayAt := now.Add(time.Hour)
	if n, err := s.ReplayAll(ctx, "crm", replayAt); err != nil || n != 3 {
		t.Fatalf("replay all = %d, %v; want 3", n, err)
	}
	// plain's five due; crm's first due in an hour, two waiting behind it.
	wantDepth(t, s, "after replay all", map[string]int64{"due": 5, "scheduled": 3, "in_flight": 0, "dead": 0})
	for i, ev := range evs {
		ds := expectLeased(t, s, fmt.Sprintf("replayed %d", i), "crm", replayAt, ev)
		settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(replayAt, 200, ""), State: store.Delivered})
	}
	expectLeased(t, s, "all replayed delivered", "crm", replayAt)
	if got, err := s.Pending(ctx); err != nil || slices.Contains(got, "crm") {
		t.Fatalf("pending = %v, %v; want crm gone", got, err)
	}
}
