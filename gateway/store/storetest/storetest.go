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
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
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

func testLeaseDueAndOrder(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	var want []string
	for i := range 5 {
		email := fmt.Sprintf("o%d@b.c", i)
		res := ingest(t, s, request(at.Add(time.Duration(i)*time.Millisecond), lead.Lead{Email: email}, "email:"+email))
		want = append(want, res.Events[0].ID)
	}
	if ds := lease(t, s, "crm", at.Add(-time.Second), 10, time.Minute); len(ds) != 0 {
		t.Fatalf("leased %d before they were due", len(ds))
	}
	var got []string
	for _, n := range []int{2, 2, 1, 0} {
		ds := lease(t, s, "crm", at.Add(time.Second), 2, time.Minute)
		if len(ds) != n {
			t.Fatalf("leased %d, want %d", len(ds), n)
		}
		for _, d := range ds {
			got = append(got, d.EventID)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("lease order = %v, want oldest due first %v", got, want)
	}
}

func testLeaseHidesUntilExpiry(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	ingest(t, s, request(at, lead.Lead{Email: "l@b.c"}, "email:l@b.c"))
	first := lease(t, s, "crm", at, 10, 30*time.Second)
	if len(first) != 1 {
		t.Fatalf("leased %d, want 1", len(first))
	}
	if ds := lease(t, s, "crm", at.Add(29*time.Second), 10, 30*time.Second); len(ds) != 0 {
		t.Fatalf("leased %d while the lease holds, want 0", len(ds))
	}
	again := lease(t, s, "crm", at.Add(31*time.Second), 10, 30*time.Second)
	if len(again) != 1 || again[0].ID != first[0].ID || again[0].Attempts != 0 {
		t.Fatalf("after the lease ran out got %+v, want the same delivery with 0 attempts", again)
	}
	if ds := lease(t, s, "crm", at.Add(32*time.Second), 10, 30*time.Second); len(ds) != 0 {
		t.Fatalf("leased %d under the new lease, want 0", len(ds))
	}
}

func attemptAt(at time.Time, code int, msg string) store.Attempt {
	return store.Attempt{At: at, Code: code, DurationMS: 12, Error: msg}
}

func testSettleDelivered(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	res := ingest(t, s, request(at, lead.Lead{Email: "d@b.c"}, "email:d@b.c"))
	ds := lease(t, s, "crm", at, 10, time.Minute)
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(at, 200, ""), State: store.Delivered})
	if got := lease(t, s, "crm", at.Add(time.Hour), 10, time.Minute); len(got) != 0 {
		t.Fatalf("leased %d after delivery, want 0", len(got))
	}
	rec, err := s.Event(context.Background(), res.Events[0].ID)
	if err != nil {
		t.Fatalf("event: %v", err)
	}
	if len(rec.Deliveries) != 1 || rec.Deliveries[0].Status != "delivered" || len(rec.Deliveries[0].Attempts) != 1 {
		t.Fatalf("deliveries = %+v", rec.Deliveries)
	}
	if d := depth(t, s); d["due"]+d["scheduled"]+d["in_flight"]+d["dead"] != 0 {
		t.Fatalf("depth = %v, want all zero", d)
	}
}

func testSettleRetrying(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	ingest(t, s, request(at, lead.Lead{Email: "r@b.c"}, "email:r@b.c"))
	ds := lease(t, s, "crm", at, 10, 30*time.Second)
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(at, 503, "HTTP 503"), State: store.Retrying, RetryAt: at.Add(5 * time.Minute)})
	if got := lease(t, s, "crm", at.Add(time.Minute), 10, 30*time.Second); len(got) != 0 {
		t.Fatalf("leased %d before retry_at (and after the old lease), want 0", len(got))
	}
	got := lease(t, s, "crm", at.Add(5*time.Minute), 10, 30*time.Second)
	if len(got) != 1 || got[0].ID != ds[0].ID || got[0].Attempts != 1 || got[0].EventID != ds[0].EventID {
		t.Fatalf("at retry_at got %+v, want the delivery with 1 attempt", got)
	}
	settle(t, s, store.Outcome{Delivery: got[0], Attempt: attemptAt(at.Add(5*time.Minute), 500, "HTTP 500"), State: store.Retrying, RetryAt: at.Add(10 * time.Minute)})
	got = lease(t, s, "crm", at.Add(10*time.Minute), 10, 30*time.Second)
	if len(got) != 1 || got[0].Attempts != 2 {
		t.Fatalf("got %+v, want the delivery with 2 attempts", got)
	}
}

func testSettleDead(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	res := ingest(t, s, request(at, lead.Lead{Email: "x@b.c"}, "email:x@b.c"))
	ds := lease(t, s, "crm", at, 10, time.Minute)
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(at, 503, "HTTP 503"), State: store.Retrying, RetryAt: at.Add(time.Second)})
	ds = lease(t, s, "crm", at.Add(time.Second), 10, time.Minute)
	deadAt := at.Add(2 * time.Second)
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(deadAt, 404, "HTTP 404"), State: store.Dead})
	if got := lease(t, s, "crm", at.Add(time.Hour), 10, time.Minute); len(got) != 0 {
		t.Fatalf("leased %d dead deliveries, want 0", len(got))
	}
	dls := deadLetters(t, s, "crm")
	if len(dls) != 1 {
		t.Fatalf("dead letters = %+v, want 1", dls)
	}
	dl := dls[0]
	if dl.ID != ds[0].ID || dl.EventID != res.Events[0].ID || dl.Destination != "crm" || dl.Attempts != 2 ||
		dl.LastError != "HTTP 404" || !dl.DeadAt.Equal(deadAt) {
		t.Fatalf("dead letter = %+v", dl)
	}
	if d := depth(t, s); d["dead"] != 1 {
		t.Fatalf("depth = %v, want dead 1", d)
	}
}

func testEventRecord(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	if _, err := s.Event(context.Background(), "evt_unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown event: %v, want ErrNotFound", err)
	}
	req := request(at, lead.Lead{Email: "e@b.c"}, "email:e@b.c")
	req.Route = routeTo("c", "a", "b")
	res := ingest(t, s, req)
	a := lease(t, s, "a", at, 1, time.Minute)
	b := lease(t, s, "b", at, 1, time.Minute)
	first := attemptAt(at, 503, "HTTP 503")
	settle(t, s,
		store.Outcome{Delivery: a[0], Attempt: first, State: store.Retrying, RetryAt: at.Add(time.Second)},
		store.Outcome{Delivery: b[0], Attempt: attemptAt(at, 400, "HTTP 400"), State: store.Dead},
	)
	a = lease(t, s, "a", at.Add(time.Second), 1, time.Minute)
	second := attemptAt(at.Add(time.Second), 204, "")
	settle(t, s, store.Outcome{Delivery: a[0], Attempt: second, State: store.Delivered})

	rec, err := s.Event(context.Background(), res.Events[0].ID)
	if err != nil {
		t.Fatalf("event: %v", err)
	}
	sameEvent(t, rec.Event, res.Events[0])
	want := []struct {
		dest     string
		status   string
		attempts []store.Attempt
	}{
		{"a", "delivered", []store.Attempt{first, second}},
		{"b", "dead", []store.Attempt{attemptAt(at, 400, "HTTP 400")}},
		{"c", "pending", nil},
	}
	if len(rec.Deliveries) != len(want) {
		t.Fatalf("deliveries = %+v, want %d", rec.Deliveries, len(want))
	}
	for i, w := range want {
		got := rec.Deliveries[i]
		if got.Destination != w.dest || got.Status != w.status || len(got.Attempts) != len(w.attempts) {
			t.Fatalf("delivery %d = %+v, want %s %s with %d attempts", i, got, w.dest, w.status, len(w.attempts))
		}
		for j, wa := range w.attempts {
			g := got.Attempts[j]
			if !g.At.Equal(wa.At) || g.Code != wa.Code || g.DurationMS != wa.DurationMS || g.Error != wa.Error {
				t.Fatalf("%s attempt %d = %+v, want %+v", w.dest, j, g, wa)
			}
		}
	}
	retrying := ingest(t, s, request(at, lead.Lead{Email: "e2@b.c"}, "email:e2@b.c"))
	ds := lease(t, s, "crm", at, 1, time.Minute)
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: first, State: store.Retrying, RetryAt: at.Add(time.Hour)})
	rec, err = s.Event(context.Background(), retrying.Events[0].ID)
	if err != nil {
		t.Fatalf("event: %v", err)
	}
	if len(rec.Deliveries) != 1 || rec.Deliveries[0].Status != "retrying" {
		t.Fatalf("deliveries = %+v, want one retrying", rec.Deliveries)
	}
}

// killAll dead-letters n deliveries of dest, one event each, with DeadAt
// increasing from at, and returns their ids in that order.
func killAll(t *testing.T, s store.Store, dest string, n int, at time.Time) []string {
	t.Helper()
	for i := range n {
		email := fmt.Sprintf("%s%d@dead.c", dest, i)
		req := request(at, lead.Lead{Email: email}, "email:"+email)
		req.Route = routeTo(dest)
		ingest(t, s, req)
	}
	ds := lease(t, s, dest, at, n, time.Minute)
	if len(ds) != n {
		t.Fatalf("leased %d, want %d", len(ds), n)
	}
	ids := make([]string, n)
	for i, d := range ds {
		ids[i] = d.ID
		settle(t, s, store.Outcome{Delivery: d, Attempt: attemptAt(at.Add(time.Duration(i)*time.Second), 410, "HTTP 410"), State: store.Dead})
	}
	return ids
}

func testDeadLettersPaging(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	aIDs := killAll(t, s, "a", 5, at)
	bIDs := killAll(t, s, "b", 2, at.Add(time.Minute))
	tests := []struct {
		dest  string
		limit int
		want  []string
	}{
		{"", 2, append(slices.Clone(aIDs), bIDs...)},
		{"", 100, append(slices.Clone(aIDs), bIDs...)},
		{"a", 2, aIDs},
		{"a", 5, aIDs},
		{"b", 1, bIDs},
		{"none", 3, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.dest, tt.limit), func(t *testing.T) {
			var got []string
			cursor := ""
			for page := 0; ; page++ {
				items, next, err := s.DeadLetters(context.Background(), tt.dest, cursor, tt.limit)
				if err != nil {
					t.Fatalf("dead letters: %v", err)
				}
				if len(items) > tt.limit {
					t.Fatalf("page of %d, limit %d", len(items), tt.limit)
				}
				for _, it := range items {
					got = append(got, it.ID)
					if tt.dest != "" && it.Destination != tt.dest {
						t.Fatalf("item of %q in %q", it.Destination, tt.dest)
					}
				}
				if next == "" {
					break
				}
				if page > 20 {
					t.Fatalf("cursor never ended")
				}
				cursor = next
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ids = %v, want %v", got, tt.want)
			}
		})
	}
	// A cursor no page handed out is the caller's mistake, not an outage.
	for _, bad := range []string{"x", "not a cursor", "-", "12-", "!!!!!!!!!!!!"} {
		if _, _, err := s.DeadLetters(context.Background(), "a", bad, 2); !errors.Is(err, store.ErrBadCursor) || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("dead letters with cursor %q: %v, want ErrBadCursor", bad, err)
		}
	}
}

func testReplay(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	ctx := context.Background()
	if err := s.Replay(ctx, "unknown", at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("replay unknown: %v, want ErrNotFound", err)
	}
	ids := killAll(t, s, "crm", 2, at)
	dead := deadLetters(t, s, "crm")
	now := at.Add(time.Hour)
	if err := s.Replay(ctx, ids[0], now); err != nil {
		t.Fatalf("replay: %v", err)
	}
	if err := s.Replay(ctx, ids[0], now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second replay: %v, want ErrNotFound", err)
	}
	if left := deadLetters(t, s, "crm"); len(left) != 1 || left[0].ID != ids[1] {
		t.Fatalf("dead letters after replay = %+v, want only %s", left, ids[1])
	}
	if ds := lease(t, s, "crm", now.Add(-time.Second), 10, time.Minute); len(ds) != 0 {
		t.Fatalf("replayed delivery due before now")
	}
	ds := lease(t, s, "crm", now, 10, time.Minute)
	if len(ds) != 1 || ds[0].ID != ids[0] || ds[0].EventID != dead[0].EventID || ds[0].Event.ID != dead[0].EventID || ds[0].Attempts != 0 {
		t.Fatalf("after replay leased %+v, want %s with its event id and 0 attempts", ds, ids[0])
	}
	rec, err := s.Event(ctx, dead[0].EventID)
	if err != nil {
		t.Fatalf("event: %v", err)
	}
	if len(rec.Deliveries) != 1 || rec.Deliveries[0].Status != "pending" || len(rec.Deliveries[0].Attempts) != 1 {
		t.Fatalf("deliveries after replay = %+v, want pending with its history", rec.Deliveries)
	}
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(now, 410, "HTTP 410"), State: store.Dead})
	if dls := deadLetters(t, s, "crm"); len(dls) != 2 || dls[1].ID != ids[0] || dls[1].Attempts != 2 {
		t.Fatalf("dead letters = %+v, want %s dead again last with 2 attempts", dls, ids[0])
	}
}

func testReplayAll(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	ctx := context.Background()
	killAll(t, s, "a", 3, at)
	killAll(t, s, "b", 2, at)
	now := at.Add(time.Hour)
	n, err := s.ReplayAll(ctx, "a", now)
	if err != nil || n != 3 {
		t.Fatalf("replay all = %d, %v; want 3", n, err)
	}
	if n, err := s.ReplayAll(ctx, "a", now); err != nil || n != 0 {
		t.Fatalf("second replay all = %d, %v; want 0", n, err)
	}
	if left := deadLetters(t, s, ""); len(left) != 2 || left[0].Destination != "b" {
		t.Fatalf("dead letters = %+v, want b's two", left)
	}
	if ds := lease(t, s, "a", now, 10, time.Minute); len(ds) != 3 {
		t.Fatalf("leased %d of a, want 3", len(ds))
	}
	if ds := lease(t, s, "b", now, 10, time.Minute); len(ds) != 0 {
		t.Fatalf("leased %d of b, want 0", len(ds))
	}
}

func testDepth(t *testing.T, open Open) {
	s := openStore(t, open)
	now := base()
	want := map[string]int64{"due": 0, "scheduled": 0, "in_flight": 0, "dead": 0}
	check := func(step string) {
		t.Helper()
		got := depth(t, s)
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				t.Fatalf("%s: depth = %v, want %v", step, got, want)
			}
		}
	}
	check("empty")
	for i := range 4 {
		email := fmt.Sprintf("dp%d@b.c", i)
		ingest(t, s, request(now.Add(-time.Minute), lead.Lead{Email: email}, "email:"+email))
	}
	want["due"] = 4
	check("ingested")
	ds := lease(t, s, "crm", now, 3, time.Hour)
	want["due"], want["in_flight"] = 1, 3
	check("leased")
	settle(t, s,
		store.Outcome{Delivery: ds[0], Attempt: attemptAt(now, 500, "e"), State: store.Retrying, RetryAt: now.Add(time.Hour)},
		store.Outcome{Delivery: ds[1], Attempt: attemptAt(now, 410, "e"), State: store.Dead},
		store.Outcome{Delivery: ds[2], Attempt: attemptAt(now, 200, ""), State: store.Delivered},
	)
	want["scheduled"], want["in_flight"], want["dead"] = 1, 0, 1
	check("settled")
}

func testPending(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	pending := func() []string {
		t.Helper()
		got, err := s.Pending(context.Background())
		if err != nil {
			t.Fatalf("pending: %v", err)
		}
		slices.Sort(got)
		return got
	}
	if got := pending(); len(got) != 0 {
		t.Fatalf("pending = %v, want none", got)
	}
	req := request(at, lead.Lead{Email: "p@b.c"}, "email:p@b.c")
	req.Route = routeTo("old", "new")
	ingest(t, s, req)
	if got := pending(); !slices.Equal(got, []string{"new", "old"}) {
		t.Fatalf("pending = %v, want [new old]", got)
	}
	ds := lease(t, s, "old", at, 1, time.Minute)
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(at, 500, "e"), State: store.Retrying, RetryAt: at.Add(time.Hour)})
	if got := pending(); !slices.Equal(got, []string{"new", "old"}) {
		t.Fatalf("pending = %v, want a scheduled retry to count", got)
	}
	ds = lease(t, s, "old", at.Add(time.Hour), 1, time.Minute)
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(at, 200, ""), State: store.Delivered})
	if got := pending(); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("pending = %v, want [new]", got)
	}
}

func testSubscriptions(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := context.Background()
	version := func() int64 {
		t.Helper()
		v, err := s.SubscriptionsVersion(ctx)
		if err != nil {
			t.Fatalf("version: %v", err)
		}
		return v
	}
	list := func() string {
		t.Helper()
		subs, err := s.Subscriptions(ctx)
		if err != nil {
			t.Fatalf("subscriptions: %v", err)
		}
		out := ""
		for _, sub := range subs {
			out += sub.ID + "=" + string(sub.Body) + ";"
		}
		return out
	}
	seen := map[int64]bool{version(): true}
	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"put b", func() error { return s.PutSubscription(ctx, store.Subscription{ID: "b", Body: []byte(`{"n":1}`)}, 2) }, `b={"n":1};`},
		{"put a", func() error { return s.PutSubscription(ctx, store.Subscription{ID: "a", Body: []byte(`{"n":2}`)}, 2) }, `a={"n":2};b={"n":1};`},
		{"replace b at the cap", func() error { return s.PutSubscription(ctx, store.Subscription{ID: "b", Body: []byte(`{"n":3}`)}, 2) }, `a={"n":2};b={"n":3};`},
		{"delete a", func() error { return s.DeleteSubscription(ctx, "a") }, `b={"n":3};`},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := list(); got != st.want {
			t.Fatalf("%s: list = %s, want %s", st.name, got, st.want)
		}
		v := version()
		if seen[v] {
			t.Fatalf("%s: version %d did not change", st.name, v)
		}
		seen[v] = true
	}
	v := version()
	if err := s.DeleteSubscription(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete missing: %v, want ErrNotFound", err)
	}
	if version() != v {
		t.Fatalf("a failed delete changed the version")
	}
}

func testPersistence(t *testing.T, open Open) {
	ctx := context.Background()
	at := base()
	s := &closer{Store: open(t)}
	t.Cleanup(func() { _ = s.Close() })

	req := request(at, lead.Lead{Email: "keep@b.c", Phone: "+1999", FirstName: "Kim", Fields: map[string]any{"budget": int64(5000)}}, "email:keep@b.c", "phone:+1999")
	req.Route = routeTo("deliver", "retry", "dead", "leased")
	req.DedupeKey, req.DedupeTTL = "persist", time.Hour
	res := ingest(t, s, req)
	evID := res.Events[0].ID
	dl := lease(t, s, "dead", at, 1, time.Minute)
	rt := lease(t, s, "retry", at, 1, time.Minute)
	lease(t, s, "leased", at, 1, time.Minute)
	settle(t, s,
		store.Outcome{Delivery: dl[0], Attempt: attemptAt(at, 410, "HTTP 410"), State: store.Dead},
		store.Outcome{Delivery: rt[0], Attempt: attemptAt(at, 503, "HTTP 503"), State: store.Retrying, RetryAt: at.Add(time.Minute)},
	)
	if err := s.PutSubscription(ctx, store.Subscription{ID: "sub", Body: []byte(`{"x":1}`)}, 0); err != nil {
		t.Fatalf("put subscription: %v", err)
	}
	version, err := s.SubscriptionsVersion(ctx)
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	r := openStore(t, open)
	rec, err := r.Event(ctx, evID)
	if err != nil {
		t.Fatalf("event after reopen: %v", err)
	}
	sameEvent(t, rec.Event, res.Events[0])
	if len(rec.Deliveries) != 4 {
		t.Fatalf("deliveries after reopen = %+v", rec.Deliveries)
	}
	if dls := deadLetters(t, r, ""); len(dls) != 1 || dls[0].ID != dl[0].ID {
		t.Fatalf("dead letters after reopen = %+v", dls)
	}
	later := at.Add(2 * time.Minute) // past the retry and the old lease
	for _, dest := range []string{"deliver", "retry", "leased"} {
		ds := lease(t, r, dest, later, 10, time.Minute)
		if len(ds) != 1 || ds[0].EventID != evID {
			t.Fatalf("%s after reopen leased %+v, want the event", dest, ds)
		}
		sameEvent(t, ds[0].Event, res.Events[0])
	}
	if got, err := r.SubscriptionsVersion(ctx); err != nil || got != version {
		t.Fatalf("version after reopen = %d, %v; want %d", got, err, version)
	}
	if subs, err := r.Subscriptions(ctx); err != nil || len(subs) != 1 || string(subs[0].Body) != `{"x":1}` {
		t.Fatalf("subscriptions after reopen = %+v, %v", subs, err)
	}
	dup := ingest(t, r, req)
	if !dup.Duplicate || dup.LeadID != res.LeadID {
		t.Fatalf("dedupe after reopen = %+v, want a duplicate of %s", dup, res.LeadID)
	}
	again := ingest(t, r, request(at.Add(time.Second), lead.Lead{Phone: "+1999", LastName: "Lee", Fields: map[string]any{"budget": int64(5000)}}, "phone:+1999"))
	if again.LeadID != res.LeadID {
		t.Fatalf("lead index lost: %s, want %s", again.LeadID, res.LeadID)
	}
	if len(again.Events) == 0 || !slices.Equal(again.Events[0].Changed, []string{"last_name", "full_name"}) {
		t.Fatalf("events after reopen = %+v, want changes against the stored lead", again.Events)
	}
	if l := again.Events[0].Lead; l.FullName != "Kim Lee" || l.Email != "keep@b.c" {
		t.Fatalf("merged lead after reopen = %+v", l)
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

func testPing(t *testing.T, open Open) {
	s := openStore(t, open)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("ping: %v", err)
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

// testDisabled: a 410's disabled mark is kept per destination with its
// config fingerprint, replaced by a newer one, cleared by "", and survives a
// restart (the next start and every replica keep the destination disabled).
func testDisabled(t *testing.T, open Open) {
	ctx := context.Background()
	s := &closer{Store: open(t)}
	t.Cleanup(func() { _ = s.Close() })
	get := func(st store.Store) map[string]string {
		t.Helper()
		m, err := st.Disabled(ctx)
		if err != nil {
			t.Fatalf("disabled: %v", err)
		}
		return m
	}
	if m := get(s); len(m) != 0 {
		t.Fatalf("a new store has disabled destinations: %v", m)
	}
	for _, set := range [][2]string{{"crm", "fp1"}, {"slack", "fp2"}, {"crm", "fp3"}, {"gone", "fp4"}, {"gone", ""}} {
		if err := s.SetDisabled(ctx, set[0], set[1]); err != nil {
			t.Fatalf("set disabled %v: %v", set, err)
		}
	}
	want := map[string]string{"crm": "fp3", "slack": "fp2"}
	if m := get(s); !maps.Equal(m, want) {
		t.Fatalf("disabled = %v, want %v", m, want)
	}
	if err := s.SetDisabled(ctx, "never", ""); err != nil {
		t.Fatalf("clearing a destination that was not disabled: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	again := &closer{Store: open(t)}
	t.Cleanup(func() { _ = again.Close() })
	if m := get(again); !maps.Equal(m, want) {
		t.Fatalf("after a restart disabled = %v, want %v", m, want)
	}
}
