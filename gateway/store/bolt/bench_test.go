package bolt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// BenchmarkIngestParallel measures the accept path: a new website lead, of
// a random email, per request (form.submitted and lead.created, each routed to two
// destinations), from many concurrent requests sharing commits. It reports
// the p99 latency of one Ingest as p99-ms.
func BenchmarkIngestParallel(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	emits := []string{lead.FormSubmitted, lead.LeadCreated, lead.LeadUpdated, lead.LeadScoreChanged, lead.LeadFieldUpdated}
	route := func(*lead.Event) []string { return []string{"crm", "slack"} }
	var (
		n   atomic.Int64
		mu  sync.Mutex
		all []time.Duration
	)
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var lat []time.Duration
		for pb.Next() {
			i := n.Add(1)
			// Real emails land at random places in the lead index.
			email := dedupeKey(-i)[:16] + "@example.com"
			req := store.IngestRequest{
				Source:     "website",
				DedupeKey:  dedupeKey(i),
				DedupeTTL:  10 * time.Minute,
				Identity:   []string{"email:" + email},
				Lead:       lead.Lead{Email: email, FirstName: "John", LastName: "Doe", Client: "acme", Fields: map[string]any{"budget": "5000"}},
				Emits:      emits,
				ReceivedAt: time.Now(),
				Route:      route,
			}
			start := time.Now()
			if _, err := s.Ingest(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(start))
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	b.StopTimer()
	st := s.db.Stats().TxStats
	b.ReportMetric(float64(st.GetWrite())/float64(b.N), "pages/op")
	if len(all) > 0 {
		slices.Sort(all)
		b.ReportMetric(float64(all[len(all)*99/100])/1e6, "p99-ms")
	}
}

// dedupeKey is shaped as the server's: the hex SHA-256 of the payload, so
// its keys land at random places in the dedupe index, as in production.
func dedupeKey(i int64) string {
	sum := sha256.Sum256([]byte(strconv.FormatInt(i, 10)))
	return hex.EncodeToString(sum[:])
}

// BenchmarkLeaseSettle measures the delivery side: lease a page of due
// deliveries and settle them delivered; one op is one delivery.
func BenchmarkLeaseSettle(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	at := time.Now()
	for i := range b.N {
		email := fmt.Sprintf("ls%d@example.com", i)
		_, err := s.Ingest(ctx, store.IngestRequest{
			Source: "website", Identity: []string{"email:" + email}, Lead: lead.Lead{Email: email},
			Emits: []string{lead.LeadCreated}, ReceivedAt: at,
			Route: func(*lead.Event) []string { return []string{"crm"} },
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	done := 0
	for done < b.N {
		ds, err := s.Lease(ctx, "crm", at.Add(time.Second), 100, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if len(ds) == 0 {
			b.Fatalf("queue ran dry after %d of %d", done, b.N)
		}
		outs := make([]store.Outcome, len(ds))
		for i, d := range ds {
			outs[i] = store.Outcome{Delivery: d, State: store.Delivered, Attempt: store.Attempt{At: at, Code: 200, DurationMS: 5}}
		}
		if err := s.Settle(ctx, outs); err != nil {
			b.Fatal(err)
		}
		done += len(ds)
	}
}

// BenchmarkLeaseBehindHeld measures one Lease of one delivery behind
// deliveries already leased, as the dispatcher leases under load: a
// destination with 64 sends in flight and about as many outcomes waiting
// for their Settle, settled in batches of 64 (outside the timer). One op
// is one Lease.
func BenchmarkLeaseBehindHeld(b *testing.B) {
	for _, held := range []int{0, 128} {
		b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			at := time.Now()
			ingestMany(b, s, at, b.N+held)
			var leased []store.Delivery
			if held > 0 {
				if leased, err = s.Lease(ctx, "crm", at.Add(time.Second), held, time.Hour); err != nil || len(leased) != held {
					b.Fatal(len(leased), err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				ds, err := s.Lease(ctx, "crm", at.Add(time.Second), 1, time.Hour)
				if err != nil || len(ds) != 1 {
					b.Fatal(len(ds), err)
				}
				leased = append(leased, ds...)
				if len(leased) >= held+64 {
					b.StopTimer()
					settleDelivered(b, s, leased[:64], at)
					leased = append(leased[:0], leased[64:]...)
					b.StartTimer()
				}
			}
		})
	}
}

// ingestMany ingests n leads, each with one delivery to crm, received in
// order from at on, from 64 goroutines so they share commits.
func ingestMany(b *testing.B, s *Store, at time.Time, n int) {
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				email := fmt.Sprintf("lh%d@example.com", i)
				_, err := s.Ingest(context.Background(), store.IngestRequest{
					Source: "website", Identity: []string{"email:" + email}, Lead: lead.Lead{Email: email},
					Emits: []string{lead.LeadCreated}, ReceivedAt: at.Add(time.Duration(i)),
					Route: func(*lead.Event) []string { return []string{"crm"} },
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// settleDelivered settles ds as delivered.
func settleDelivered(b *testing.B, s *Store, ds []store.Delivery, at time.Time) {
	outs := make([]store.Outcome, len(ds))
	for i, d := range ds {
		outs[i] = store.Outcome{Delivery: d, State: store.Delivered, Attempt: store.Attempt{At: at, Code: 200}}
	}
	if err := s.Settle(context.Background(), outs); err != nil {
		b.Fatal(err)
	}
}
