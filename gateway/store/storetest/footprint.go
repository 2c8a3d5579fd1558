package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// Footprint is what a store keeps per lead and per event, for sizing
// storage.retention (README, "Retention and sizing").
type Footprint struct {
	// PerLead is a lead's snapshot and identity keys: kept until the lead
	// index lets it go.
	PerLead float64
	// PerEvent is one event with one delivered attempt to one
	// destination: kept storage.retention after its last change.
	PerEvent float64
}

// footprintLead is a typical website form lead: email, phone, names, a
// company, a landing page and a few unmapped fields.
func footprintLead(run string, i int) (lead.Lead, []string) {
	email := fmt.Sprintf("visitor.%s.%06d@example.com", run, i)
	phone := fmt.Sprintf("+1415%07d", i)
	l := lead.Lead{
		Email: email, Phone: phone, FirstName: "Jordan", LastName: "Example", FullName: "Jordan Example",
		Company: "Example Roofing LLC", Client: "example_client", Branch: "Main Branch",
		LandingPage: "https://example.com/landing/spring-offer", Score: 42,
		Fields: map[string]any{"budget": "5000", "utm_source": "google", "utm_campaign": "spring", "message": "Please call me back about a quote."},
	}
	return l, []string{"email:" + email, "phone:" + phone}
}

// MeasureFootprint ingests 3n new website leads into s (form.submitted
// and lead.created each, both routed to one destination and delivered),
// in three rounds, and reads used (bytes the store takes) after the
// second and third rounds and after SweepEvents has removed every event.
// The differences cancel what does not grow with the data (the first
// round fills caches and pages): per lead and event = (third − second)/n,
// per event = (third − swept)/(events of 3n leads).
func MeasureFootprint(tb testing.TB, s store.Store, used func() int64, n int) Footprint {
	tb.Helper()
	ctx := context.Background()
	run := fmt.Sprint(time.Now().UnixNano())
	at := time.Now()
	emits := append([]string{lead.FormSubmitted}, lifecycle...)
	route := routeTo("crm")
	var events atomic.Int64
	round := func(r int) {
		// Concurrent, as the server's requests are, so the stores' group
		// commits batch them.
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for range 32 {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
					l, identity := footprintLead(run, r*n+i)
					res, err := s.Ingest(ctx, store.IngestRequest{Source: "website", Identity: identity, Lead: l,
						Emits: emits, ReceivedAt: at, Route: route, RequestID: "req-0123456789abcdef"})
					if err != nil {
						tb.Errorf("ingest: %v", err)
						return
					}
					events.Add(int64(len(res.Events)))
				}
			})
		}
		wg.Wait()
		if tb.Failed() {
			tb.FailNow()
		}
		for {
			ds, err := s.Lease(ctx, "crm", at.Add(time.Second), 500, time.Minute)
			if err != nil {
				tb.Fatalf("lease: %v", err)
			}
			if len(ds) == 0 {
				return
			}
			outs := make([]store.Outcome, len(ds))
			for i, d := range ds {
				outs[i] = store.Outcome{Delivery: d, State: store.Delivered,
					Attempt: store.Attempt{At: at.Add(time.Second), Code: 200, DurationMS: 35}}
			}
			if err := s.Settle(ctx, outs); err != nil {
				tb.Fatalf("settle: %v", err)
			}
		}
	}
	round(0)
	round(1)
	second := used()
	round(2)
	third := used()
	for {
		k, err := s.SweepEvents(ctx, at.Add(time.Hour), 1000)
		if err != nil {
			tb.Fatalf("sweep: %v", err)
		}
		if k < 1000 {
			break
		}
	}
	swept := used()
	perEvent := float64(third-swept) / float64(events.Load())
	perLeadWithEvents := float64(third-second) / float64(n)
	eventsPerLead := float64(events.Load()) / float64(3*n)
	return Footprint{PerLead: perLeadWithEvents - eventsPerLead*perEvent, PerEvent: perEvent}
}
