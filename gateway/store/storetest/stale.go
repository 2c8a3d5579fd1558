package storetest

// Settles that arrive after their lease ran out (a stalled replica) must
// not break an ordered line, nor the count of what is queued.

import (
	"context"
	"testing"
	"time"

	"leadgate/gateway/store"
)

// testOrderedStaleSettle: a replica whose lease ran out settles late
// (retrying) a delivery that was since dead-lettered and replayed into the
// back of its lead's line. The line must still hold it behind v2.
func testOrderedStaleSettle(t *testing.T, open Open) {
	s := &closer{Store: open(t)}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	at := base().Add(-time.Minute)
	post := orderedPoster(t)
	ev1 := post(s, at, "a@x.com", 1)
	ev2 := post(s, at.Add(time.Millisecond), "a@x.com", 2)
	// replica A leases v1 with a short lease and stalls.
	a := lease(t, s, "crm", at.Add(time.Second), 10, time.Second)
	if len(a) != 1 || a[0].EventID != ev1.ID {
		t.Fatalf("lease A: %v", a)
	}
	// lease runs out, replica B leases v1 and gets a 4xx: dead.
	b := lease(t, s, "crm", at.Add(5*time.Second), 10, time.Minute)
	if len(b) != 1 || b[0].EventID != ev1.ID {
		t.Fatalf("lease B: %v", b)
	}
	settle(t, s, store.Outcome{Delivery: b[0], Attempt: attemptAt(at.Add(5*time.Second), 400, "bad"), State: store.Dead})
	// v2 is now the head; the operator replays v1: it waits behind v2.
	dls := deadLetters(t, s, "crm")
	if len(dls) != 1 {
		t.Fatalf("dead letters %v", dls)
	}
	if err := s.Replay(ctx, dls[0].ID, at.Add(6*time.Second)); err != nil {
		t.Fatal(err)
	}
	// replica A finally settles its stale attempt: a 503, retry at +7s.
	settle(t, s, store.Outcome{Delivery: a[0], Attempt: attemptAt(at.Add(6*time.Second), 503, "later"), State: store.Retrying, RetryAt: at.Add(7 * time.Second)})
	got := lease(t, s, "crm", at.Add(10*time.Second), 10, time.Minute)
	var ids []string
	for _, d := range got {
		ids = append(ids, d.EventID)
	}
	if len(got) != 1 || got[0].EventID != ev2.ID {
		t.Errorf("ordered line broken: leased %v, want only v2 %s", ids, ev2.ID)
	}
	for _, d := range got {
		settle(t, s, store.Outcome{Delivery: d, Attempt: attemptAt(at.Add(10*time.Second), 200, ""), State: store.Delivered})
	}
	again := lease(t, s, "crm", at.Add(20*time.Second), 10, time.Minute)
	if len(again) != 1 || again[0].EventID != ev1.ID {
		t.Errorf("v1 not delivered after v2: %v", again)
	}
}

// testOrderedStaleDelivered: a stale Delivered settle of a delivery that
// waits in its line (replayed) must not make Pending forget the
// destination while v2 is still queued.
func testOrderedStaleDelivered(t *testing.T, open Open) {
	s := &closer{Store: open(t)}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	at := base().Add(-time.Minute)
	post := orderedPoster(t)
	ev1 := post(s, at, "b@x.com", 1)
	ev2 := post(s, at.Add(time.Millisecond), "b@x.com", 2)
	// drain "plain"
	for _, d := range lease(t, s, "plain", at.Add(time.Second), 10, time.Minute) {
		settle(t, s, store.Outcome{Delivery: d, Attempt: attemptAt(at.Add(time.Second), 200, ""), State: store.Delivered})
	}
	a := lease(t, s, "crm", at.Add(time.Second), 10, time.Second)
	b := lease(t, s, "crm", at.Add(5*time.Second), 10, time.Minute)
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("leases %v %v", a, b)
	}
	settle(t, s, store.Outcome{Delivery: b[0], Attempt: attemptAt(at.Add(5*time.Second), 400, "bad"), State: store.Dead})
	dls := deadLetters(t, s, "crm")
	if err := s.Replay(ctx, dls[0].ID, at.Add(6*time.Second)); err != nil {
		t.Fatal(err)
	}
	settle(t, s, store.Outcome{Delivery: a[0], Attempt: attemptAt(at.Add(6*time.Second), 200, ""), State: store.Delivered})
	p, err := s.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pending %v depth %v (v1=%s v2=%s)", p, depth(t, s), ev1.ID, ev2.ID)
	if len(p) != 1 || p[0] != "crm" {
		t.Errorf("Pending = %v while v2 is queued for crm", p)
	}
	got := lease(t, s, "crm", at.Add(10*time.Second), 10, time.Minute)
	if len(got) != 1 || got[0].EventID != ev2.ID {
		t.Errorf("lease after: %v", got)
	}
}
