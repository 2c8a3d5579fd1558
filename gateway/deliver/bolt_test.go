package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"leadgate/gateway/internal/syncbuf"
	"leadgate/gateway/lead"
	"leadgate/gateway/policy"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/store"
	"leadgate/gateway/store/bolt"
)

// TestEndToEndWithBolt runs the dispatcher on the real embedded store:
// Ingest routes through Dispatcher.Route, a 500 is retried on the injected
// clock, and the event's record shows both attempts under one webhook-id.
func TestEndToEndWithBolt(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := newSink(t, 500, 200)
	clock := newTestClock()
	dp := New(Options{Store: st, Now: clock.Now, Jitter: func(d time.Duration) time.Duration { return d }})
	dp.SetDestinations([]Destination{
		{Name: "crm", URL: s.URL, Enabled: true, AllowPrivate: true, Delivery: policy.Delivery{Retry: policy.Retry{MaxAttempts: 3, Schedule: []time.Duration{time.Minute}}}},
		{Name: "forms-only", URL: s.URL, Enabled: true, AllowPrivate: true, Events: []string{lead.FormSubmitted}},
	})
	done := make(chan struct{})
	go func() { _ = dp.Run(context.Background()); close(done) }()
	defer func() { dp.Shutdown(5 * time.Second); <-done }()

	res, err := st.Ingest(context.Background(), store.IngestRequest{
		Source: "website", Identity: []string{"email:john@example.com"},
		Lead: lead.Lead{Email: "john@example.com", FirstName: "John"}, Emits: []string{lead.LeadCreated},
		ReceivedAt: clock.Now(), Route: dp.Route,
	})
	if err != nil || len(res.Events) != 1 {
		t.Fatalf("Ingest = %+v, %v", res, err)
	}
	id := res.Events[0].ID
	dp.Kick()
	if r := <-s.got; r.header.Get("webhook-id") != id {
		t.Fatalf("first webhook-id %q, want %q", r.header.Get("webhook-id"), id)
	}
	waitStatus(t, st, id, "retrying")
	clock.Advance(time.Minute)
	dp.Kick()
	if r := <-s.got; r.header.Get("webhook-id") != id {
		t.Fatalf("second webhook-id %q, want %q", r.header.Get("webhook-id"), id)
	}
	rec := waitStatus(t, st, id, "delivered")
	if len(rec.Deliveries) != 1 {
		t.Fatalf("deliveries = %+v, want only crm's", rec.Deliveries)
	}
	at := rec.Deliveries[0].Attempts
	if len(at) != 2 || at[0].Code != 500 || at[1].Code != 200 {
		t.Fatalf("attempts = %+v, want 500 then 200", at)
	}
}

// waitStatus polls the store until crm's delivery of id reaches status.
func waitStatus(t *testing.T, st store.Store, id, status string) store.EventRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec, err := st.Event(context.Background(), id)
		if err == nil && len(rec.Deliveries) > 0 && rec.Deliveries[0].Status == status {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %s: %+v, %v; never reached %s", id, rec.Deliveries, err, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// limiterFunc fakes ratelimit.Limiter with a function.
type limiterFunc func(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Decision, error)

func (f limiterFunc) Allow(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Decision, error) {
	return f(ctx, key, l)
}

// A limiter that cannot decide holds deliveries back rather than letting
// them out unpaced, and they go once it answers again.
func TestPacingFailsClosed(t *testing.T) {
	var calls atomic.Int64
	var keys atomic.Value
	lim := limiterFunc(func(_ context.Context, key string, l ratelimit.Limit) (ratelimit.Decision, error) {
		keys.Store(key)
		if calls.Add(1) == 1 {
			return ratelimit.Decision{}, errors.New("redis down")
		}
		return ratelimit.Decision{Allowed: true, Limit: l}, nil
	})
	s := newSink(t, 200)
	d := Destination{Name: "paced", URL: s.URL, Enabled: true, AllowPrivate: true, Delivery: policy.Delivery{RateLimit: rateLimit(1, time.Second)}}
	h := start(t, []Destination{d}, func(o *Options) { o.Limiter = lim })
	h.enqueue("paced", "evt_fc")
	if o := h.st.next(t); o.State != store.Delivered {
		t.Fatalf("outcome %s, want delivered", o.State)
	}
	if calls.Load() < 2 {
		t.Fatalf("limiter asked %d times, want a refusal then an admission", calls.Load())
	}
	if got := keys.Load(); got != "out:paced" {
		t.Fatalf("limiter key %v, want out:paced", got)
	}
}

// boltHarness runs a dispatcher over the real embedded store.
func boltHarness(t *testing.T, ds []Destination, log *slog.Logger) (*bolt.Store, *testClock, *Dispatcher) {
	t.Helper()
	st, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := newTestClock()
	dp := New(Options{Store: st, Now: clock.Now, Log: log, Jitter: func(d time.Duration) time.Duration { return d }})
	dp.SetDestinations(ds)
	done := make(chan struct{})
	go func() { _ = dp.Run(context.Background()); close(done) }()
	t.Cleanup(func() { dp.Shutdown(5 * time.Second); <-done; st.Close() })
	return st, clock, dp
}

func ingest(t *testing.T, st store.Store, dp *Dispatcher, now time.Time, email string) string {
	t.Helper()
	res, err := st.Ingest(context.Background(), store.IngestRequest{
		Source: "website", Identity: []string{"email:" + email},
		Lead: lead.Lead{Email: email}, Emits: []string{lead.LeadCreated},
		ReceivedAt: now, Route: dp.Route,
	})
	if err != nil || len(res.Events) != 1 {
		t.Fatalf("Ingest = %+v, %v", res, err)
	}
	dp.Kick()
	return res.Events[0].ID
}

// A 400 dead-letters at once; the dead letter is listed, and replaying it
// through the store delivers it with the webhook-id it had.
func TestDeadLetterReplayKeepsWebhookID(t *testing.T) {
	s := newSink(t, 400, 200)
	st, clock, dp := boltHarness(t, []Destination{{Name: "crm", URL: s.URL, Enabled: true, AllowPrivate: true}}, nil)
	id := ingest(t, st, dp, clock.Now(), "dead@example.com")
	if r := <-s.got; r.header.Get("webhook-id") != id {
		t.Fatalf("webhook-id %q, want %q", r.header.Get("webhook-id"), id)
	}
	waitStatus(t, st, id, "dead")
	items, _, err := st.DeadLetters(context.Background(), "crm", "", 10)
	if err != nil || len(items) != 1 || items[0].EventID != id || items[0].LastError != "unexpected status 400" {
		t.Fatalf("dead letters = %+v, %v; want %s with its 400", items, err, id)
	}
	if err := st.Replay(context.Background(), items[0].ID, clock.Now()); err != nil {
		t.Fatal(err)
	}
	dp.Kick()
	if r := <-s.got; r.header.Get("webhook-id") != id {
		t.Fatalf("replayed webhook-id %q, want %q", r.header.Get("webhook-id"), id)
	}
	rec := waitStatus(t, st, id, "delivered")
	if at := rec.Deliveries[0].Attempts; len(at) != 2 || at[0].Code != 400 || at[1].Code != 200 {
		t.Fatalf("attempts = %+v, want 400 then 200", at)
	}
}

// Replaying all of a destination's dead letters says how many and
// delivers every one.
func TestReplayAllDelivers(t *testing.T) {
	const n = 3
	s := newSink(t, 400, 400, 400, 200)
	st, clock, dp := boltHarness(t, []Destination{{Name: "crm", URL: s.URL, Enabled: true, AllowPrivate: true, Delivery: policy.Delivery{Concurrency: 1}}}, nil)
	var ids []string
	for i := range n {
		ids = append(ids, ingest(t, st, dp, clock.Now(), fmt.Sprintf("all%d@example.com", i)))
	}
	for _, id := range ids {
		waitStatus(t, st, id, "dead")
	}
	got, err := st.ReplayAll(context.Background(), "crm", clock.Now())
	if err != nil || got != n {
		t.Fatalf("ReplayAll = %d, %v; want %d", got, err, n)
	}
	dp.Kick()
	for _, id := range ids {
		waitStatus(t, st, id, "delivered")
	}
	if items, _, _ := st.DeadLetters(context.Background(), "crm", "", 10); len(items) != 0 {
		t.Fatalf("dead letters left after replay: %+v", items)
	}
}

// No log line, at any level, carries a header value, a URL's query token,
// the URL itself or a signing secret, whatever happens to the delivery.
func TestLogsCarryNoSecrets(t *testing.T) {
	s := newSink(t, 503, 400)
	notice := newSink(t, 500)
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d := Destination{Name: "crm", URL: s.URL + "/hook?token=tok-in-query", Enabled: true, AllowPrivate: true,
		Headers: []Header{{"X-Api-Key", "hdr-value-secret"}}, Secrets: []string{testSecret}, NotifyOnFailure: notice.URL + "/n?key=notice-token",
		Delivery: policy.Delivery{Retry: policy.Retry{Schedule: []time.Duration{time.Second}}}}
	okSink := newSink(t, 200)
	ok := Destination{Name: "ok", URL: okSink.URL + "/ok?token=ok-token", Enabled: true, AllowPrivate: true,
		Headers: []Header{{"Authorization", "Bearer ok-bearer"}}}
	st, clock, dp := boltHarness(t, []Destination{d, ok}, log)
	id := ingest(t, st, dp, clock.Now(), "logs@example.com")
	waitStatus(t, st, id, "retrying")
	clock.Advance(time.Second)
	dp.Kick()
	waitStatus(t, st, id, "dead")
	<-notice.got
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "dead-letter notice failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no notice failure logged: %s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	text := logs.String()
	for _, secret := range []string{"tok-in-query", "hdr-value-secret", "ok-token", "ok-bearer", "notice-token",
		strings.TrimPrefix(testSecret, "whsec_"), s.URL, okSink.URL, notice.URL} {
		if strings.Contains(text, secret) {
			t.Errorf("logs carry %q:\n%s", secret, text)
		}
	}
}
