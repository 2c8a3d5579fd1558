package deliver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"leadgate/gateway/internal/syncbuf"
	"leadgate/gateway/metrics"
	"leadgate/gateway/policy"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/store"
)

// hangingSettle is a store whose Settle blocks until its context ends, as
// one behind a network partition does.
type hangingSettle struct{ *memStore }

func (h hangingSettle) Settle(ctx context.Context, _ []store.Outcome) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestShutdownKeepsItsGraceWhenSettleHangs: a store that never answers
// Settle does not hold Shutdown past its grace; the deliveries it could
// not record are left to their leases. (Before, each settle try waited
// its own 10 s timeout: about 50 s a batch.)
func TestShutdownKeepsItsGraceWhenSettleHangs(t *testing.T) {
	s := newSink(t, 200)
	st := hangingSettle{newMemStore()}
	clock := newTestClock()
	dp := New(Options{Store: st, Now: clock.Now})
	dp.SetDestinations([]Destination{{Name: "crm", URL: s.URL, Enabled: true, AllowPrivate: true}})
	st.add("crm", *sampleEvent(), clock.Now())
	go dp.Run(context.Background())
	<-s.got // delivered; its outcome now waits on Settle
	const grace = time.Second
	done := make(chan struct{})
	go func() { dp.Shutdown(grace); close(done) }()
	select {
	case <-done:
	case <-time.After(grace + 5*time.Second):
		t.Fatalf("Shutdown(%s) still running %s later with Settle hanging", grace, 5*time.Second)
	}
}

// TestDeadLetterNoticesAreBounded: a 410 dead-letters a destination's whole
// backlog; its notices go out at most NoticeWorkers at a time, every one of
// them, instead of a connection per dead letter at once.
func TestDeadLetterNoticesAreBounded(t *testing.T) {
	s := newSink(t, 410)
	var cur, peak, total atomic.Int64
	notice := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := cur.Add(1)
		for p := peak.Load(); c > p && !peak.CompareAndSwap(p, c); p = peak.Load() {
		}
		time.Sleep(50 * time.Millisecond)
		cur.Add(-1)
		total.Add(1)
	}))
	t.Cleanup(notice.Close)
	d := Destination{Name: "crm", URL: s.URL, Enabled: true, AllowPrivate: true, NotifyOnFailure: notice.URL}
	h := start(t, []Destination{d}, nil)
	h.enqueue("crm", "evt_first")
	h.st.next(t) // the 410
	const n = 120
	for i := range n {
		h.enqueue("crm", fmt.Sprint("evt_", i))
	}
	for range n {
		h.st.next(t)
	}
	deadline := time.Now().Add(20 * time.Second)
	for total.Load() < n+1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := total.Load(); got != n+1 {
		t.Fatalf("%d notices sent, want %d (one per dead letter)", got, n+1)
	}
	if p := peak.Load(); p > NoticeWorkers {
		t.Fatalf("%d notices in flight at once, want at most %d", p, NoticeWorkers)
	}
}

// TestRaisedRateLimitTakesEffect: a paced destination refused under its old
// limit (the window is full for an hour) delivers at once after a reload
// raises the limit, instead of waiting out the old refusal.
func TestRaisedRateLimitTakesEffect(t *testing.T) {
	s := newSink(t, 200)
	lim := ratelimit.NewLocal(ratelimit.LocalOptions{})
	d := Destination{Name: "paced", URL: s.URL, Enabled: true, AllowPrivate: true,
		Delivery: policy.Delivery{Timeout: MaxAttemptTime, RateLimit: rateLimit(1, time.Hour)}}
	// Another replica used the only slot of the hour.
	if dec, err := lim.Allow(context.Background(), "out:paced", paceLimit(&d)); err != nil || !dec.Allowed {
		t.Fatal(dec, err)
	}
	h := start(t, []Destination{d}, func(o *Options) { o.Limiter = lim })
	h.enqueue("paced", "evt_1")
	time.Sleep(4 * time.Second) // evt_1 is refused, then given back unsent
	d.RateLimit = rateLimit(100, time.Second)
	h.dp.SetDestinations([]Destination{d})
	h.enqueue("paced", "evt_2")
	if o := h.st.next(t); o.State != store.Delivered {
		t.Fatalf("after raising the limit: %s %s, want delivered", o.Delivery.EventID, o.State)
	}
}

// TestPacingLeasesNoMoreThanAdmitted: a paced destination with more slots
// than its limit leases only what the limiter will admit, counting leased
// deliveries that have not asked it yet; none is leased early and given
// back unsent to wait out its lease.
func TestPacingLeasesNoMoreThanAdmitted(t *testing.T) {
	s := newSink(t, 200)
	logs := &syncbuf.Buffer{}
	d := Destination{Name: "paced", URL: s.URL, Enabled: true, AllowPrivate: true,
		Delivery: policy.Delivery{Timeout: MaxAttemptTime, Concurrency: 16, RateLimit: rateLimit(5, time.Second)}}
	h := start(t, []Destination{d}, func(o *Options) { o.Log = slog.New(slog.NewJSONHandler(logs, nil)) })
	const n = 40
	for i := range n {
		h.enqueue("paced", fmt.Sprint("evt_", i))
	}
	for range n {
		if o := h.st.next(t); o.State != store.Delivered {
			t.Fatalf("%s %s, want delivered", o.Delivery.EventID, o.State)
		}
	}
	if got := strings.Count(logs.String(), "pacing did not admit"); got != 0 {
		t.Fatalf("%d deliveries leased beyond what pacing admits and given back", got)
	}
}

// TestRetryAfterHoldsTheDestination: a 429 with Retry-After holds the whole
// destination for that long, not only the refused delivery: the rest of its
// queue waits instead of spending attempts on refusals, then goes out.
func TestRetryAfterHoldsTheDestination(t *testing.T) {
	s := newSink(t, 429, 200)
	s.header.Set("Retry-After", "2")
	d := Destination{Name: "crm", URL: s.URL, Enabled: true, AllowPrivate: true, Delivery: policy.Delivery{Concurrency: 1}}
	h := start(t, []Destination{d}, nil)
	for i := range 3 {
		h.enqueue("crm", fmt.Sprint("evt_", i))
	}
	if o := h.st.next(t); o.State != store.Retrying || o.Delivery.Attempts != 0 {
		t.Fatalf("first outcome %s, want the 429 retrying", o.State)
	}
	for range 2 {
		if o := h.st.next(t); o.State != store.Delivered {
			t.Fatalf("%s %s, want delivered once the hold is over", o.Delivery.EventID, o.State)
		}
	}
	reqs := s.all()
	if len(reqs) != 3 {
		t.Fatalf("sink got %d requests, want 3 (one 429, two after the hold)", len(reqs))
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 1900*time.Millisecond {
		t.Fatalf("next request %s after the 429 with Retry-After: 2, want the destination held 2 s", gap)
	}
}

// TestGoneIsKeptAcrossReplicasAndRestarts: the 410 mark lives in the store
// with the config's fingerprint, so another replica on the same store stops
// sending too, a restart with the same config starts disabled, and a
// changed config re-enables the destination and clears the mark.
func TestGoneIsKeptAcrossReplicasAndRestarts(t *testing.T) {
	s := newSink(t, 410)
	d := Destination{Name: "crm", URL: s.URL, Enabled: true, AllowPrivate: true}
	a := start(t, []Destination{d}, nil)
	a.enqueue("crm", "evt_gone")
	if o := a.st.next(t); o.State != store.Dead || o.Attempt.Code != 410 {
		t.Fatalf("outcome %s %d, want dead 410", o.State, o.Attempt.Code)
	}
	enabled := func(dp *Dispatcher) float64 {
		t.Helper()
		dp.mu.Lock()
		defer dp.mu.Unlock()
		return testutil.ToFloat64(dp.m.DestinationEnabled.WithLabelValues("crm"))
	}
	waitMark := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			marks, _ := a.st.Disabled(context.Background())
			if _, ok := marks["crm"]; ok == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("410 mark in the store = %v, want present %v", marks, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitMark(true)

	// Another replica, or the next start, on the same store and config.
	for _, name := range []string{"replica", "restart"} {
		b := New(Options{Store: a.st, Metrics: metrics.New(prometheus.NewRegistry()), Now: a.clock.Now})
		b.SetDestinations([]Destination{d})
		b.applyDisabled(context.Background()) // what its sync loop does every few seconds
		if got := enabled(b); got != 0 {
			t.Fatalf("%s: gateway_destination_enabled = %v, want 0 (disabled by the stored 410)", name, got)
		}
	}

	// A changed config re-enables it and clears the mark.
	changed := d
	changed.Timeout = 7 * time.Second
	c := New(Options{Store: a.st, Metrics: metrics.New(prometheus.NewRegistry()), Now: a.clock.Now})
	c.SetDestinations([]Destination{changed})
	c.applyDisabled(context.Background())
	if got := enabled(c); got != 1 {
		t.Fatalf("changed config: gateway_destination_enabled = %v, want 1", got)
	}
	waitMark(false)
}
