package deliver

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"leadgate/gateway/lead"
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
		{Name: "crm", URL: s.URL, Enabled: true, AllowPrivate: true, MaxAttempts: 3, Schedule: []time.Duration{time.Minute}},
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
	d := Destination{Name: "paced", URL: s.URL, Enabled: true, AllowPrivate: true, RateLimit: rateLimit(1, time.Second)}
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
