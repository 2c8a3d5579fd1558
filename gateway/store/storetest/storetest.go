// Package storetest is the conformance suite every store backend passes, so
// that the embedded and the Redis store behave alike to the rest of the
// gateway. A backend's test calls Run with a way to make an empty backing
// store and to open (and, after Close, reopen) a Store on it.
//
// Times: the suite injects ReceivedAt and the now of Lease and Replay, based
// on the wall clock at the start of each test, so no test sleeps. Two rules
// follow for backends:
//   - The dedupe window is measured between ReceivedAt values: a payload is
//     a duplicate when an earlier one with the same DedupeKey has
//     ReceivedAt+DedupeTTL after the later one's ReceivedAt. A backend that
//     also expires keys by the wall clock must still compare those times.
//   - Ingest queues deliveries due at ReceivedAt; Lease hides a delivery
//     until now+lease of the Lease call, on the clock of its now argument.
//
// Behaviour the interface leaves open and this suite fixes:
//   - Delivery.Attempts counts attempts since the delivery was last queued
//     by Ingest or Replay, so a replay gets the full retry schedule again;
//     the Event record and DeadLetter.Attempts keep the whole history.
//   - DeadLetter.ID is the delivery's id; DeadAt is the final Attempt.At
//     and LastError its Error.
//   - EventRecord.Deliveries are sorted by destination; Status is "pending"
//     until an attempt is made, then "retrying", "delivered" or "dead";
//     a replayed delivery is "pending" again.
//   - SweepEvents' cut is exclusive (an event last changed exactly at
//     before stays), an event's last change is its latest of ReceivedAt and
//     Attempt.At, and its dead letters leave Depth's "dead" with it.
//   - Lease returns due deliveries oldest due first; Depth always has the
//     four keys "due", "scheduled", "in_flight" and "dead", and judges due
//     against the wall clock. A delivery waiting behind an earlier one of
//     its lead (IngestRequest.Ordered) counts as scheduled.
package storetest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// Open opens a Store on one backing store. The suite calls it again after
// closing the previous Store to check that data survives a restart, so every
// call must reach the same data.
type Open func(t *testing.T) store.Store

// Run runs the conformance suite. fresh is called once per subtest and must
// return an Open on a new, empty backing store (a new directory, or a Redis
// database or key prefix of its own). The suite closes every Store it opens.
func Run(t *testing.T, fresh func(t *testing.T) Open) {
	tests := []struct {
		name string
		run  func(t *testing.T, open Open)
	}{
		{"IngestNewLead", testIngestNewLead},
		{"IngestNeedsIdentity", testIngestNeedsIdentity},
		{"Dedupe", testDedupe},
		{"LeadIdentity", testLeadIdentity},
		{"EmailWinsOverPhone", testEmailWinsOverPhone},
		{"EventSequence", testEventSequence},
		{"RouteFanOut", testRouteFanOut},
		{"LeaseDueAndOrder", testLeaseDueAndOrder},
		{"LeaseHidesUntilExpiry", testLeaseHidesUntilExpiry},
		{"SettleDelivered", testSettleDelivered},
		{"SettleRetrying", testSettleRetrying},
		{"RetryLeasedOnce", testRetryLeasedOnce},
		{"SettleDead", testSettleDead},
		{"EventRecord", testEventRecord},
		{"DeadLettersPaging", testDeadLettersPaging},
		{"Replay", testReplay},
		{"ReplayAll", testReplayAll},
		{"Depth", testDepth},
		{"Pending", testPending},
		{"Subscriptions", testSubscriptions},
		{"UpdateSubscription", testUpdateSubscription},
		{"SubscriptionCap", testSubscriptionCap},
		{"AbandonQueued", testAbandonQueued},
		{"Disabled", testDisabled},
		{"Persistence", testPersistence},
		{"ConcurrentIngestOneLead", testConcurrentIngest},
		{"Ping", testPing},
		{"EventsSearch", testEventsSearch},
		{"LeadsExport", testLeadsExport},
		{"LeadsPaging", testLeadsPaging},
		{"LeadsSeenWhilePaging", testLeadsSeenWhilePaging},
		{"RequestID", testRequestID},
		{"Ordered", testOrdered},
		{"OrderedAbandonAndReplayAll", testOrderedAbandonAndReplayAll},
		{"OrderedStaleSettle", testOrderedStaleSettle},
		{"OrderedStaleDelivered", testOrderedStaleDelivered},
		{"IdentityConcurrent", testIdentityConcurrent},
		{"LeadFieldsBounded", testLeadFieldsBounded},
		{"Hold", testHold},
		{"HoldOrdered", testHoldOrdered},
		{"KeepAnswer", testKeepAnswer},
		{"Retention", testRetention},
		{"RetentionOrdered", testRetentionOrdered},
		{"SweepKeepsSiblingsLead", testSweepKeepsSiblingsLead},
		{"ProbeWrite", testProbeWrite},
	}
	tests = append(tests, identityCases...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, fresh(t))
		})
	}
}

// lifecycle is what a save_lead-like source emits; form adds form.submitted.
var (
	lifecycle = []string{lead.LeadCreated, lead.LeadUpdated, lead.LeadScoreChanged, lead.LeadFieldUpdated}
	form      = append([]string{lead.FormSubmitted}, lifecycle...)
)

// closer makes Close idempotent so a test may close a Store early for a
// restart while the cleanup still closes whatever is open.
type closer struct {
	store.Store
	once sync.Once
	err  error
}

func (c *closer) Close() error {
	c.once.Do(func() { c.err = c.Store.Close() })
	return c.err
}

// openStore opens a Store and closes it when the test ends.
func openStore(t *testing.T, open Open) store.Store {
	t.Helper()
	s := &closer{Store: open(t)}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// base is a test's time zero: the wall clock, to the millisecond, so a
// backend that keeps milliseconds returns equal times.
func base() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func routeTo(dests ...string) func(*lead.Event) []string {
	return func(*lead.Event) []string { return dests }
}

func request(at time.Time, l lead.Lead, identity ...string) store.IngestRequest {
	return store.IngestRequest{
		Source:     "website",
		Identity:   identity,
		Lead:       l,
		Emits:      lifecycle,
		ReceivedAt: at,
		Route:      routeTo("crm"),
	}
}

func ingest(t *testing.T, s store.Store, req store.IngestRequest) store.IngestResult {
	t.Helper()
	res, err := s.Ingest(context.Background(), req)
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return res
}

func lease(t *testing.T, s store.Store, dest string, now time.Time, max int, d time.Duration) []store.Delivery {
	t.Helper()
	ds, err := s.Lease(context.Background(), dest, now, max, d)
	if err != nil {
		t.Fatalf("lease %s: %v", dest, err)
	}
	return ds
}

func settle(t *testing.T, s store.Store, outs ...store.Outcome) {
	t.Helper()
	if err := s.Settle(context.Background(), outs); err != nil {
		t.Fatalf("settle: %v", err)
	}
}

func eventNames(evs []lead.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Event
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

// sameEvent compares events by their canonical JSON, as a destination sees
// them, so number types read back from storage do not matter.
func sameEvent(t *testing.T, got, want lead.Event) {
	t.Helper()
	if !got.ReceivedAt.Equal(want.ReceivedAt) {
		t.Fatalf("received_at = %v, want %v", got.ReceivedAt, want.ReceivedAt)
	}
	got.ReceivedAt = want.ReceivedAt
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Fatalf("event = %s\nwant %s", g, w)
	}
}

func depth(t *testing.T, s store.Store) map[string]int64 {
	t.Helper()
	d, err := s.Depth(context.Background())
	if err != nil {
		t.Fatalf("depth: %v", err)
	}
	return d
}

func deadLetters(t *testing.T, s store.Store, dest string) []store.DeadLetter {
	t.Helper()
	var all []store.DeadLetter
	cursor := ""
	for range 1000 {
		items, next, err := s.DeadLetters(context.Background(), dest, cursor, 100)
		if err != nil {
			t.Fatalf("dead letters: %v", err)
		}
		all = append(all, items...)
		if next == "" {
			return all
		}
		cursor = next
	}
	t.Fatalf("dead letters: cursor never ended")
	return nil
}
