package bolt

import (
	"context"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// TestLeaseMarkForgets checks that what a lease mark would skip is leased
// again: each case leases the whole queue (so the next Lease starts past a
// held head), then makes a delivery due inside that head.
func TestLeaseMarkForgets(t *testing.T) {
	ctx := context.Background()
	at := time.Now().Add(-time.Hour)
	ingest := func(t *testing.T, s *Store, email string, received time.Time) {
		t.Helper()
		_, err := s.Ingest(ctx, store.IngestRequest{
			Source: "website", Identity: []string{"email:" + email}, Lead: lead.Lead{Email: email},
			Emits: []string{lead.LeadCreated}, ReceivedAt: received,
			Route: func(*lead.Event) []string { return []string{"crm"} },
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	lease := func(t *testing.T, s *Store, now time.Time, d time.Duration) []store.Delivery {
		t.Helper()
		ds, err := s.Lease(ctx, "crm", now, 10, d)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	settle := func(t *testing.T, s *Store, d store.Delivery, state string, retryAt time.Time) {
		t.Helper()
		o := store.Outcome{Delivery: d, State: state, RetryAt: retryAt, Attempt: store.Attempt{At: at, Code: 500}}
		if err := s.Settle(ctx, []store.Outcome{o}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		// then makes one delivery due again, or a new one due, inside the
		// held head, given the two leased ones; the next Lease, at now,
		// must return want of them.
		then func(t *testing.T, s *Store, leased []store.Delivery) (now time.Time, want int)
	}{
		{"an ingest received before the held head", func(t *testing.T, s *Store, _ []store.Delivery) (time.Time, int) {
			ingest(t, s, "c@example.com", at)
			return at.Add(time.Second), 1
		}},
		{"a lease that runs out", func(t *testing.T, s *Store, _ []store.Delivery) (time.Time, int) {
			return at.Add(2 * time.Minute), 2
		}},
		{"a retry due before the held head", func(t *testing.T, s *Store, leased []store.Delivery) (time.Time, int) {
			settle(t, s, leased[1], store.Retrying, at)
			return at.Add(time.Second), 1
		}},
		{"a replayed dead letter", func(t *testing.T, s *Store, leased []store.Delivery) (time.Time, int) {
			settle(t, s, leased[1], store.Dead, time.Time{})
			if got := lease(t, s, at.Add(time.Second), time.Minute); len(got) != 0 {
				t.Fatalf("leased %d after the dead letter, want 0", len(got))
			}
			if err := s.Replay(ctx, leased[1].ID, at); err != nil {
				t.Fatal(err)
			}
			return at.Add(time.Second), 1
		}},
		{"a lease Depth forgot as run out", func(t *testing.T, s *Store, _ []store.Delivery) (time.Time, int) {
			// The leases ran out by the wall clock, which Depth reads,
			// though not yet at the now Lease is given.
			if _, err := s.Depth(ctx); err != nil {
				t.Fatal(err)
			}
			return at.Add(time.Second), 2
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.TempDir(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ingest(t, s, "a@example.com", at.Add(time.Millisecond))
			ingest(t, s, "b@example.com", at.Add(2*time.Millisecond))
			leased := lease(t, s, at.Add(time.Second), time.Minute)
			if len(leased) != 2 {
				t.Fatalf("leased %d, want 2", len(leased))
			}
			if got := lease(t, s, at.Add(time.Second), time.Minute); len(got) != 0 {
				t.Fatalf("leased %d while all are held, want 0", len(got))
			}
			now, want := tt.then(t, s, leased)
			if got := lease(t, s, now, time.Minute); len(got) != want {
				t.Fatalf("leased %d, want %d", len(got), want)
			}
		})
	}
}

// TestRetryLeasedBeforeSettleBookkeeping checks that a retry due at once,
// leased again by a Lease that reads the Settle's commit but runs before
// the Settle's after func, stays leased: the tombstone that after func
// writes must not replace that lease, or the next Lease drops it and hands
// the delivery, still in flight, out a second time. The window is made
// deterministic by holding the commit goroutine in the after func of a
// write committed in the same batch as, and just before, the Settle.
func TestRetryLeasedBeforeSettleBookkeeping(t *testing.T) {
	ctx := context.Background()
	at := time.Now().Add(-time.Hour)
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Ingest(ctx, store.IngestRequest{
		Source: "website", Identity: []string{"email:a@example.com"}, Lead: lead.Lead{Email: "a@example.com"},
		Emits: []string{lead.LeadCreated}, ReceivedAt: at,
		Route: func(*lead.Event) []string { return []string{"crm"} },
	})
	if err != nil {
		t.Fatal(err)
	}
	lease := func(now time.Time) []store.Delivery {
		t.Helper()
		ds, err := s.Lease(ctx, "crm", now, 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	leased := lease(at)
	if len(leased) != 1 {
		t.Fatalf("leased %d, want 1", len(leased))
	}

	// Hold the commit goroutine inside a write, queue a write whose after
	// func blocks and then the Settle behind it, so both share the next
	// commit and the Settle's after func waits.
	inFn, releaseFn := make(chan struct{}), make(chan struct{})
	inAfter, releaseAfter := make(chan struct{}), make(chan struct{})
	errs := make(chan error, 3)
	go func() {
		errs <- s.submit(ctx, "hold", func(*bbolt.Tx) error { close(inFn); <-releaseFn; return nil }, nil)
	}()
	<-inFn
	queued := func(n int) {
		for len(s.writes) < n {
			time.Sleep(time.Millisecond)
		}
	}
	go func() {
		errs <- s.submit(ctx, "block", func(*bbolt.Tx) error { return nil }, func() { close(inAfter); <-releaseAfter })
	}()
	queued(1)
	go func() {
		errs <- s.Settle(ctx, []store.Outcome{{Delivery: leased[0], State: store.Retrying, RetryAt: at,
			Attempt: store.Attempt{At: at, Code: 503}}})
	}()
	queued(2)
	close(releaseFn)
	<-inAfter

	// The Settle is committed, its after func not run; the first lease
	// ran out at the now given here, so the retry is leased again.
	now := at.Add(2 * time.Minute)
	if got := lease(now); len(got) != 1 {
		t.Fatalf("leased %d between the Settle's commit and its after func, want 1", len(got))
	}
	close(releaseAfter)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := lease(now); len(got) != 0 {
		t.Fatalf("leased %d while the retry is held by a live lease, want 0", len(got))
	}
}
