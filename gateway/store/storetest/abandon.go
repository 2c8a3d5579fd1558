package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// testSubscriptionCap: at the cap a new subscription is ErrFull and writes
// nothing, replacing one is still allowed, and concurrent puts (replicas
// racing at the cap) create exactly as many as the cap leaves room for.
func testSubscriptionCap(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t)
	const max = 5
	if err := s.PutSubscription(ctx, store.Subscription{ID: "first", Body: []byte(`{}`)}, max); err != nil {
		t.Fatalf("put: %v", err)
	}
	var wg sync.WaitGroup
	var made, full atomic.Int64
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.PutSubscription(ctx, store.Subscription{ID: fmt.Sprintf("racer%02d", i), Body: []byte(`{}`)}, max)
			switch {
			case err == nil:
				made.Add(1)
			case errors.Is(err, store.ErrFull):
				full.Add(1)
			default:
				t.Errorf("put racer%02d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if made.Load() != max-1 || full.Load() != 16-(max-1) {
		t.Fatalf("%d created and %d refused as full, want %d and %d", made.Load(), full.Load(), max-1, 16-(max-1))
	}
	subs, err := s.Subscriptions(ctx)
	if err != nil || len(subs) != max {
		t.Fatalf("%d subscriptions, %v; want %d", len(subs), err, max)
	}
	v, _ := s.SubscriptionsVersion(ctx)
	if err := s.PutSubscription(ctx, store.Subscription{ID: "late", Body: []byte(`{}`)}, max); !errors.Is(err, store.ErrFull) {
		t.Fatalf("put at the cap: %v, want ErrFull", err)
	}
	if v2, _ := s.SubscriptionsVersion(ctx); v2 != v {
		t.Fatalf("a refused put changed the version %d -> %d", v, v2)
	}
	if err := s.PutSubscription(ctx, store.Subscription{ID: "first", Body: []byte(`{"n":2}`)}, max); err != nil {
		t.Fatalf("replace at the cap: %v", err)
	}
}

// testUpdateSubscription: an update replaces only a subscription that
// exists, so an Update racing a Delete cannot bring it back.
func testUpdateSubscription(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := context.Background()
	if err := s.PutSubscription(ctx, store.Subscription{ID: "a", Body: []byte(`{"n":1}`)}, 0); err != nil {
		t.Fatalf("put: %v", err)
	}
	v0, err := s.SubscriptionsVersion(ctx)
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	if err := s.UpdateSubscription(ctx, store.Subscription{ID: "a", Body: []byte(`{"n":2}`)}); err != nil {
		t.Fatalf("update: %v", err)
	}
	v1, _ := s.SubscriptionsVersion(ctx)
	if v1 == v0 {
		t.Fatalf("an update did not change the version")
	}
	if err := s.DeleteSubscription(ctx, "a"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	v2, _ := s.SubscriptionsVersion(ctx)
	if err := s.UpdateSubscription(ctx, store.Subscription{ID: "a", Body: []byte(`{"n":3}`)}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update after delete: %v, want ErrNotFound", err)
	}
	if err := s.UpdateSubscription(ctx, store.Subscription{ID: "never", Body: []byte(`{}`)}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of an unknown id: %v, want ErrNotFound", err)
	}
	subs, err := s.Subscriptions(ctx)
	if err != nil {
		t.Fatalf("subscriptions: %v", err)
	}
	if len(subs) != 0 {
		t.Fatalf("subscriptions after a refused update = %+v, want none", subs)
	}
	if v, _ := s.SubscriptionsVersion(ctx); v != v2 {
		t.Fatalf("a refused update changed the version from %d to %d", v2, v)
	}
}

// testAbandonQueued: a destination gone for good has its due, scheduled
// and leased deliveries dead-lettered, with the reason as last error, and
// no longer counts in the queue; delivered ones and other destinations are
// untouched, and a late outcome of a leased one changes nothing.
func testAbandonQueued(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := context.Background()
	at := base()
	events, inFlight := abandonFill(t, s, at)

	gone := at.Add(time.Second)
	n, err := s.AbandonQueued(ctx, "gone", gone, "subscription deleted")
	if err != nil {
		t.Fatalf("abandon: %v", err)
	}
	if n != 3 {
		t.Fatalf("abandoned %d, want 3 (scheduled, leased, due)", n)
	}
	if d := depth(t, s); d["due"] != 4 || d["scheduled"] != 0 || d["in_flight"] != 0 || d["dead"] != 3 {
		t.Fatalf("depth after = %v, want due 4 (crm), scheduled 0, in_flight 0, dead 3", d)
	}
	if got, err := s.Pending(ctx); err != nil || !slices.Equal(got, []string{"crm"}) {
		t.Fatalf("pending = %v, %v; want [crm]", got, err)
	}
	dls := deadLetters(t, s, "gone")
	if len(dls) != 3 {
		t.Fatalf("dead letters = %+v, want 3", dls)
	}
	for _, dl := range dls {
		if dl.LastError != "subscription deleted" || !dl.DeadAt.Equal(gone) || dl.Destination != "gone" {
			t.Errorf("dead letter = %+v, want last_error \"subscription deleted\" at %v", dl, gone)
		}
		if dl.EventID == events[0] {
			t.Errorf("the delivered event %s was dead-lettered", dl.EventID)
		}
	}
	rec, err := s.Event(ctx, events[0])
	if err != nil {
		t.Fatalf("event: %v", err)
	}
	for _, d := range rec.Deliveries {
		if d.Destination == "gone" && d.Status != "delivered" {
			t.Errorf("delivered delivery is now %q", d.Status)
		}
	}

	// The attempt that was in flight ends later: it is not queued again.
	settle(t, s, store.Outcome{Delivery: inFlight, Attempt: attemptAt(gone, 503, "HTTP 503"), State: store.Retrying, RetryAt: gone})
	if got := lease(t, s, "gone", at.Add(2*time.Hour), 10, time.Minute); len(got) != 0 {
		t.Fatalf("leased %d of an abandoned destination, want 0", len(got))
	}
	if d := depth(t, s); d["scheduled"] != 0 || d["dead"] != 3 {
		t.Fatalf("depth after a late settle = %v, want scheduled 0 and dead 3", d)
	}
	if n, err := s.AbandonQueued(ctx, "gone", gone, "again"); err != nil || n != 0 {
		t.Fatalf("second abandon = %d, %v; want 0", n, err)
	}
	if got := lease(t, s, "crm", at, 10, time.Minute); len(got) != 4 {
		t.Fatalf("crm leased %d, want its 4 untouched", len(got))
	}
	// A dead letter of the gone destination can still be replayed, for
	// when it comes back.
	if err := s.Replay(ctx, dls[0].ID, at.Add(3*time.Hour)); err != nil {
		t.Fatalf("replay: %v", err)
	}
}

// abandonFill queues four events for "gone" and crm, brings gone's four
// deliveries to four states, and answers the event ids and the delivery
// left in flight.
func abandonFill(t *testing.T, s store.Store, at time.Time) (events []string, inFlight store.Delivery) {
	t.Helper()
	for i := range 4 {
		email := fmt.Sprintf("ab%d@b.c", i)
		req := request(at.Add(time.Duration(i-10)*time.Second), lead.Lead{Email: email}, "email:"+email)
		req.Route = routeTo("gone", "crm")
		events = append(events, ingest(t, s, req).Events[0].ID)
	}
	// One delivered, one scheduled for a retry in an hour, one leased (in
	// flight), one due.
	ds := lease(t, s, "gone", at, 3, time.Hour)
	if len(ds) != 3 {
		t.Fatalf("leased %d, want 3", len(ds))
	}
	settle(t, s,
		store.Outcome{Delivery: ds[0], Attempt: attemptAt(at, 200, ""), State: store.Delivered},
		store.Outcome{Delivery: ds[1], Attempt: attemptAt(at, 503, "HTTP 503"), State: store.Retrying, RetryAt: at.Add(time.Hour)},
	)
	inFlight = ds[2]
	if d := depth(t, s); d["due"] != 5 || d["scheduled"] != 1 || d["in_flight"] != 1 || d["dead"] != 0 {
		t.Fatalf("depth before = %v, want due 5 (4 crm, 1 gone), scheduled 1, in_flight 1", d)
	}
	return events, inFlight
}
