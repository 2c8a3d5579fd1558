package bolt

import (
	"context"
	"testing"
	"time"

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
