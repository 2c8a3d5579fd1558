package deliver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"leadgate/gateway/internal/syncbuf"
	"leadgate/gateway/lead"
	"leadgate/gateway/metrics"
	"leadgate/gateway/policy"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/store"
)

// sink is an httptest server answering a scripted status sequence (the last
// one repeats) and recording what it got.
type sink struct {
	*httptest.Server
	mu       sync.Mutex
	codes    []int
	header   http.Header // extra response headers
	requests []sinkRequest
	got      chan sinkRequest
}

type sinkRequest struct {
	at     time.Time
	path   string
	header http.Header
	body   string
}

func newSink(t *testing.T, codes ...int) *sink {
	s := &sink{codes: codes, header: http.Header{}, got: make(chan sinkRequest, 1000)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req := sinkRequest{at: time.Now(), path: r.URL.Path, header: r.Header.Clone(), body: string(b)}
		s.mu.Lock()
		s.requests = append(s.requests, req)
		code := 200
		if len(s.codes) > 0 {
			code = s.codes[0]
			if len(s.codes) > 1 {
				s.codes = s.codes[1:]
			}
		}
		for k, v := range s.header {
			w.Header()[k] = v
		}
		s.mu.Unlock()
		s.got <- req
		w.WriteHeader(code)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) all() []sinkRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

type harness struct {
	st    *memStore
	clock *testClock
	dp    *Dispatcher
	m     *metrics.Metrics
}

// start runs a dispatcher over a fresh memStore with an exact clock and no
// jitter; opts may adjust the options first.
func start(t *testing.T, ds []Destination, opts func(*Options)) *harness {
	t.Helper()
	h := &harness{st: newMemStore(), clock: newTestClock(), m: metrics.New(prometheus.NewRegistry())}
	o := Options{
		Store: h.st, Metrics: h.m, Now: h.clock.Now, Version: "test",
		Jitter: func(d time.Duration) time.Duration { return d },
	}
	if opts != nil {
		opts(&o)
	}
	h.dp = New(o)
	h.dp.SetDestinations(ds)
	done := make(chan struct{})
	go func() { _ = h.dp.Run(context.Background()); close(done) }()
	t.Cleanup(func() { h.dp.Shutdown(5 * time.Second); <-done })
	return h
}

func (h *harness) enqueue(dest string, id string) string {
	ev := *sampleEvent()
	ev.ID = id
	did := h.st.add(dest, ev, h.clock.Now())
	h.dp.Kick()
	return did
}

func counter(t *testing.T, m *metrics.Metrics, dest, outcome string) float64 {
	t.Helper()
	return testutil.ToFloat64(m.Deliveries.WithLabelValues(dest, outcome))
}

func TestRetryThenSuccessKeepsWebhookID(t *testing.T) {
	s := newSink(t, 500, 500, 200)
	d := Destination{Name: "crm", URL: s.URL, Enabled: true, AllowPrivate: true, Secrets: []string{testSecret},
		Delivery: policy.Delivery{Retry: policy.Retry{MaxAttempts: 5, Schedule: []time.Duration{5 * time.Minute, time.Hour}}}}
	h := start(t, []Destination{d}, nil)
	h.enqueue("crm", "evt_retry")

	for i, want := range []struct {
		state string
		wait  time.Duration
	}{{store.Retrying, 5 * time.Minute}, {store.Retrying, time.Hour}, {store.Delivered, 0}} {
		o := h.st.next(t)
		if o.State != want.state || o.Delivery.Attempts != i {
			t.Fatalf("attempt %d: state %s after %d attempts, want %s after %d", i+1, o.State, o.Delivery.Attempts, want.state, i)
		}
		if want.state == store.Retrying {
			if got := o.RetryAt.Sub(h.clock.Now()); got != want.wait {
				t.Fatalf("attempt %d: retry in %s, want %s", i+1, got, want.wait)
			}
			if o.Attempt.Code != 500 || o.Attempt.Error == "" {
				t.Fatalf("attempt %d recorded %+v", i+1, o.Attempt)
			}
			h.clock.Advance(want.wait)
			h.dp.Kick()
		}
	}
	reqs := s.all()
	if len(reqs) != 3 {
		t.Fatalf("sink got %d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		if r.header.Get("webhook-id") != "evt_retry" || r.body != reqs[0].body {
			t.Fatalf("attempts differ: id %q body %s", r.header.Get("webhook-id"), r.body)
		}
		if !verifyStandardWebhooks(testSecret, r.header, []byte(r.body)) {
			t.Fatal("signature does not verify")
		}
	}
	if got := counter(t, h.m, "crm", "retry"); got != 2 {
		t.Errorf("retry count = %v, want 2", got)
	}
	if got := counter(t, h.m, "crm", "success"); got != 1 {
		t.Errorf("success count = %v, want 1", got)
	}
	// One lag sample per delivered event; CollectAndCount would count the
	// one series of the unlabelled histogram, delivered or not.
	var lag dto.Metric
	if err := h.m.DeliveryLag.Write(&lag); err != nil || lag.GetHistogram().GetSampleCount() != 1 {
		t.Errorf("lag samples = %d (%v), want 1", lag.GetHistogram().GetSampleCount(), err)
	}
}

func TestNonRetryableDeadLettersAndNotifies(t *testing.T) {
	s := newSink(t, 400)
	notice := newSink(t, 200)
	d := Destination{Name: "crm", URL: s.URL + "/hook?token=tok", Enabled: true, AllowPrivate: true,
		Delivery: policy.Delivery{Retry: policy.Retry{MaxAttempts: 8}},
		Headers:  []Header{{"X-Api-Key", "hdr-secret"}}, Secrets: []string{testSecret},
		NotifyOnFailure: notice.URL + "/dead"}
	h := start(t, []Destination{d}, nil)
	did := h.enqueue("crm", "evt_dead")

	o := h.st.next(t)
	if o.State != store.Dead || o.Attempt.Code != 400 {
		t.Fatalf("outcome = %s code %d, want dead 400", o.State, o.Attempt.Code)
	}
	var n Notice
	select {
	case r := <-notice.got:
		if err := json.Unmarshal([]byte(r.body), &n); err != nil {
			t.Fatalf("notice body %s: %v", r.body, err)
		}
		for _, secret := range []string{"tok", "hdr-secret", testSecret, s.URL} {
			if strings.Contains(r.body, secret) {
				t.Fatalf("notice leaks %q: %s", secret, r.body)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notice posted")
	}
	want := Notice{Type: NoticeType, Destination: "crm", DeliveryID: did, EventID: "evt_dead", Event: lead.LeadUpdated,
		Source: "website", LeadID: "lead_1", Attempts: 1, Code: 400, Error: "unexpected status 400", DeadAt: h.clock.Now()}
	if n != want {
		t.Fatalf("notice = %+v\nwant %+v", n, want)
	}
	if len(s.all()) != 1 {
		t.Fatalf("sink got %d requests, want 1", len(s.all()))
	}
	if got := counter(t, h.m, "crm", "dead"); got != 1 {
		t.Errorf("dead count = %v, want 1", got)
	}
}

func TestAttemptsUsedUpDeadLettersToGatewayNotify(t *testing.T) {
	s := newSink(t, 503)
	notice := newSink(t, 200)
	d := Destination{Name: "crm", URL: s.URL, Enabled: true, AllowPrivate: true, Delivery: policy.Delivery{Retry: policy.Retry{MaxAttempts: 2, Schedule: []time.Duration{time.Second}}}}
	h := start(t, []Destination{d}, func(o *Options) { o.NotifyURL = notice.URL })
	h.enqueue("crm", "evt_used_up")
	if o := h.st.next(t); o.State != store.Retrying {
		t.Fatalf("first outcome %s, want retrying", o.State)
	}
	h.clock.Advance(time.Second)
	h.dp.Kick()
	if o := h.st.next(t); o.State != store.Dead || o.Attempt.Code != 503 {
		t.Fatalf("second outcome %s %d, want dead 503", o.State, o.Attempt.Code)
	}
	select {
	case r := <-notice.got:
		if !strings.Contains(r.body, `"attempts":2`) {
			t.Fatalf("notice = %s", r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notice posted to the gateway notify_url")
	}
}

func TestNoNotifyTellsNobody(t *testing.T) {
	s := newSink(t, 400)
	notice := newSink(t, 200)
	d := Destination{Name: "crm", URL: s.URL, Enabled: true, AllowPrivate: true, NoNotify: true}
	h := start(t, []Destination{d}, func(o *Options) { o.NotifyURL = notice.URL })
	h.enqueue("crm", "evt_no_notice")
	if o := h.st.next(t); o.State != store.Dead {
		t.Fatalf("outcome %s, want dead", o.State)
	}
	// The notice would go out at once in the background; give it time.
	select {
	case r := <-notice.got:
		t.Fatalf("a NoNotify destination's dead letter was reported: %s", r.body)
	case <-time.After(500 * time.Millisecond):
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter string
		schedule   time.Duration
		want       time.Duration
	}{
		{"seconds longer than schedule", "120", time.Second, 2 * time.Minute},
		{"http date", "Sun, 22 Nov 2026 10:05:00 GMT", time.Second, 5 * time.Minute},
		{"schedule longer", "60", 10 * time.Hour, 10 * time.Hour},
		{"capped at an hour", "86400", time.Second, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSink(t, 429)
			s.header.Set("Retry-After", tc.retryAfter)
			d := Destination{Name: "crm", URL: s.URL, Enabled: true, AllowPrivate: true, Delivery: policy.Delivery{Retry: policy.Retry{MaxAttempts: 3, Schedule: []time.Duration{tc.schedule}}}}
			h := start(t, []Destination{d}, nil)
			h.enqueue("crm", "evt_ra")
			o := h.st.next(t)
			if o.State != store.Retrying {
				t.Fatalf("state = %s, want retrying", o.State)
			}
			if got := o.RetryAt.Sub(h.clock.Now()); got != tc.want {
				t.Fatalf("retry in %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRetryDelayJitterAndLastEntryRepeats(t *testing.T) {
	dp := New(Options{Store: newMemStore()})
	d := &Destination{Delivery: policy.Delivery{Retry: policy.Retry{Schedule: []time.Duration{10 * time.Second, 100 * time.Second}}}}
	for _, tc := range []struct {
		attempt int
		base    time.Duration
	}{{1, 10 * time.Second}, {2, 100 * time.Second}, {7, 100 * time.Second}} {
		seen := map[time.Duration]bool{}
		for range 20 {
			got := policyOf(d, dp.opts.Jitter).retryDelay(tc.attempt, 0)
			if got < tc.base*8/10 || got > tc.base*12/10 {
				t.Fatalf("attempt %d: delay %s outside %s ±20%%", tc.attempt, got, tc.base)
			}
			seen[got] = true
		}
		// Without jitter every retry of a burst would come back at once.
		if len(seen) < 10 {
			t.Fatalf("attempt %d: 20 delays took only %d values; they are not jittered", tc.attempt, len(seen))
		}
	}
}

// A 410 disables the destination until its config changes. Events routed
// to it meanwhile are not lost: they go to its dead letters, without a
// request, with a last_error that says why and a notice marked disabled,
// and a replay after the config change delivers them.
func TestGoneDisablesUntilConfigChanges(t *testing.T) {
	s := newSink(t, 410)
	notice := newSink(t, 200)
	// The same sink answers 200 on another path, which the new config uses.
	s.Config.Handler = func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2" {
				s.got <- sinkRequest{path: r.URL.Path, header: r.Header.Clone()}
				return
			}
			next.ServeHTTP(w, r)
		})
	}(s.Config.Handler)
	d := Destination{Name: "crm", URL: s.URL + "/v1", Enabled: true, AllowPrivate: true, NotifyOnFailure: notice.URL}
	h := start(t, []Destination{d}, nil)
	ev := sampleEvent()
	h.enqueue("crm", "evt_gone")
	if o := h.st.next(t); o.State != store.Dead || o.Attempt.Code != 410 {
		t.Fatalf("outcome %s %d, want dead 410", o.State, o.Attempt.Code)
	}
	<-s.got
	if n := readNotice(t, notice); n.EventID != "evt_gone" || !n.Disabled || n.Code != 410 {
		t.Fatalf("notice %+v, want evt_gone, code 410, disabled", n)
	}
	if got := testutil.ToFloat64(h.m.DestinationEnabled.WithLabelValues("crm")); got != 0 {
		t.Fatalf("enabled gauge = %v, want 0", got)
	}
	// Still routed: an event accepted now must reach the destination or
	// its dead letters, never vanish.
	if got := h.dp.Route(ev); !slices.Equal(got, []string{"crm"}) {
		t.Fatalf("Route = %v while disabled, want [crm]", got)
	}
	after := h.enqueue("crm", "evt_after")
	o := h.st.next(t)
	if o.State != store.Dead || o.Delivery.ID != after || o.Attempt.Error != disabledError || o.Attempt.Code != 0 {
		t.Fatalf("outcome %s for %s, code %d, error %q; want dead %s with %q", o.State, o.Delivery.ID, o.Attempt.Code, o.Attempt.Error, after, disabledError)
	}
	if n := readNotice(t, notice); n.EventID != "evt_after" || !n.Disabled || n.Error != disabledError {
		t.Fatalf("notice %+v, want evt_after, disabled, with the disabled error", n)
	}
	if got := len(s.all()); got != 1 {
		t.Fatalf("the 410 path got %d requests, want only the first", got)
	}
	h.dp.SetDestinations([]Destination{d}) // unchanged config: still disabled
	if got := testutil.ToFloat64(h.m.DestinationEnabled.WithLabelValues("crm")); got != 0 {
		t.Fatalf("enabled gauge = %v after an unchanged reload, want 0", got)
	}

	d.URL = s.URL + "/v2"
	h.dp.SetDestinations([]Destination{d})
	if got := testutil.ToFloat64(h.m.DestinationEnabled.WithLabelValues("crm")); got != 1 {
		t.Fatalf("enabled gauge = %v after the config change, want 1", got)
	}
	if err := h.st.Replay(context.Background(), after, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	h.dp.Kick()
	if o := h.st.next(t); o.State != store.Delivered || o.Delivery.EventID != "evt_after" {
		t.Fatalf("replayed outcome %s for %s, want delivered evt_after", o.State, o.Delivery.EventID)
	}
	if r := <-s.got; r.path != "/v2" || r.header.Get("webhook-id") != "evt_after" {
		t.Fatalf("replay went to %s with webhook-id %q, want /v2 and evt_after", r.path, r.header.Get("webhook-id"))
	}
}

func readNotice(t *testing.T, notice *sink) Notice {
	t.Helper()
	select {
	case r := <-notice.got:
		var n Notice
		if err := json.Unmarshal([]byte(r.body), &n); err != nil {
			t.Fatalf("notice body %s: %v", r.body, err)
		}
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no notice posted")
		return Notice{}
	}
}

// recordingLimiter is the real in-process limiter with its admissions
// written down on the limiter's own clock, so the window can be checked
// exactly rather than through network jitter.
type recordingLimiter struct {
	mu       sync.Mutex
	last     time.Time
	inner    *ratelimit.Local
	admitted []time.Time
}

func newRecordingLimiter() *recordingLimiter {
	r := &recordingLimiter{}
	r.inner = ratelimit.NewLocal(ratelimit.LocalOptions{Now: func() time.Time { r.last = time.Now(); return r.last }})
	return r
}

func (r *recordingLimiter) Allow(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Decision, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, err := r.inner.Allow(ctx, key, l)
	if err == nil && d.Allowed {
		r.admitted = append(r.admitted, r.last)
	}
	return d, err
}

// TestPacingNeverExceedsWindow: no rolling window admits more than the
// limit, even stretched by the safety margin; no request reaches the sink
// before its admission; no rolling window of the sink's arrival times holds
// more than the limit; and nothing is dropped.
func TestPacingNeverExceedsWindow(t *testing.T) {
	const n, limit, per = 15, 5, time.Second
	s := newSink(t, 200)
	d := Destination{Name: "paced", URL: s.URL, Enabled: true, AllowPrivate: true,
		Delivery: policy.Delivery{Concurrency: 8, RateLimit: rateLimit(limit, per)}}
	lim := newRecordingLimiter()
	h := start(t, []Destination{d}, func(o *Options) { o.Limiter = lim })
	for i := range n {
		h.enqueue("paced", "evt_p"+string(rune('a'+i)))
	}
	for range n {
		if o := h.st.next(t); o.State != store.Delivered {
			t.Fatalf("outcome %s, want delivered", o.State)
		}
	}
	lim.mu.Lock()
	admitted := slices.Clone(lim.admitted)
	lim.mu.Unlock()
	if len(admitted) != n {
		t.Fatalf("%d admissions, want %d", len(admitted), n)
	}
	stretched := per + paceMargin(per)
	for i := limit; i < n; i++ {
		if gap := admitted[i].Sub(admitted[i-limit]); gap < stretched {
			t.Fatalf("admissions %d and %d %s apart: %d in one %s window (the limit's %s and the margin)", i-limit, i, gap, limit+1, stretched, per)
		}
	}
	reqs := s.all()
	if len(reqs) != n {
		t.Fatalf("sink got %d requests, want %d", len(reqs), n)
	}
	slices.SortFunc(reqs, func(a, b sinkRequest) int { return a.at.Compare(b.at) })
	for i := range reqs {
		if reqs[i].at.Before(admitted[i]) {
			t.Fatalf("request %d arrived at %s, before admission %d at %s", i, reqs[i].at, i, admitted[i])
		}
	}
	for i := limit; i < n; i++ {
		if gap := reqs[i].at.Sub(reqs[i-limit].at); gap < per {
			t.Fatalf("requests %d and %d arrived %s apart: the sink saw %d in one %s window", i-limit, i, gap, limit+1, per)
		}
	}
	if got := testutil.ToFloat64(h.m.RateLimited.WithLabelValues("outbound")); got == 0 {
		t.Fatal("no outbound rate limiting counted")
	}
}

// Two destinations that hang, each with more concurrency than the cap and
// more deliveries queued than that, and one whose deliveries wait for
// pacing, hold only their own slots: a healthy destination still delivers
// everything while they hang.
func TestSlowDestinationsDoNotStarveAnother(t *testing.T) {
	release := make(chan struct{})
	var hung atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	fast := newSink(t, 200)
	paced := newSink(t, 200)
	const limit = 4
	ds := []Destination{
		{Name: "slow1", URL: slow.URL + "/1", Enabled: true, AllowPrivate: true, Delivery: policy.Delivery{Concurrency: 3 * limit, Timeout: MaxAttemptTime}},
		{Name: "slow2", URL: slow.URL + "/2", Enabled: true, AllowPrivate: true, Delivery: policy.Delivery{Concurrency: 3 * limit, Timeout: MaxAttemptTime}},
		{Name: "paced", URL: paced.URL, Enabled: true, AllowPrivate: true, Delivery: policy.Delivery{Concurrency: 3 * limit, RateLimit: rateLimit(1, time.Hour)}},
		{Name: "fast", URL: fast.URL, Enabled: true, AllowPrivate: true, Delivery: policy.Delivery{Concurrency: 2}},
	}
	h := start(t, ds, func(o *Options) { o.MaxConcurrency = limit })
	for i := range 3 * limit {
		h.enqueue("slow1", fmt.Sprint("evt_s1_", i))
		h.enqueue("slow2", fmt.Sprint("evt_s2_", i))
		h.enqueue("paced", fmt.Sprint("evt_p_", i))
	}
	// Both hung destinations hold every slot they may have before the
	// healthy one gets anything.
	deadline := time.Now().Add(10 * time.Second)
	for hung.Load() < 2*limit {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests hanging, want %d", hung.Load(), 2*limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := range 3 * limit {
		h.enqueue("fast", fmt.Sprint("evt_f_", i))
	}
	delivered := map[string]int{}
	for range 3*limit + 1 {
		o := h.st.next(t)
		if o.State != store.Delivered {
			t.Fatalf("outcome %s for %s, want only deliveries while the others hang", o.State, o.Delivery.Destination)
		}
		delivered[o.Delivery.Destination]++
	}
	if delivered["fast"] != 3*limit || delivered["paced"] != 1 {
		t.Fatalf("delivered %v, want all %d of fast and the one pacing admits", delivered, 3*limit)
	}
	if got := hung.Load(); got != 2*limit {
		t.Fatalf("%d requests reached the hung destinations, want %d: the cap per destination did not hold", got, 2*limit)
	}
}

func TestShutdownLeavesInFlightForRestart(t *testing.T) {
	release := make(chan struct{})
	var calls sync.WaitGroup
	calls.Add(1)
	var once sync.Once
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(calls.Done)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	st := newMemStore()
	clock := newTestClock()
	d := Destination{Name: "crm", URL: hang.URL, Enabled: true, AllowPrivate: true, Delivery: policy.Delivery{Timeout: time.Minute}}
	dp := New(Options{Store: st, Now: clock.Now})
	dp.SetDestinations([]Destination{d})
	ev := *sampleEvent()
	did := st.add("crm", ev, clock.Now())
	done := make(chan struct{})
	go func() { _ = dp.Run(context.Background()); close(done) }()
	calls.Wait()
	dp.Shutdown(50 * time.Millisecond)
	<-done
	it := st.item(did)
	if it.state != "pending" || len(it.attempts) != 0 || it.leasedUntil.IsZero() {
		t.Fatalf("after shutdown: state %s, %d attempts, leased until %v; want pending, none, leased", it.state, len(it.attempts), it.leasedUntil)
	}

	// A restart after the lease ran out sends it again with the same id.
	s := newSink(t, 200)
	d.URL = s.URL
	clock.Advance(time.Hour)
	dp2 := New(Options{Store: st, Now: clock.Now})
	dp2.SetDestinations([]Destination{d})
	done2 := make(chan struct{})
	go func() { _ = dp2.Run(context.Background()); close(done2) }()
	defer func() { dp2.Shutdown(5 * time.Second); <-done2 }()
	if o := st.next(t); o.State != store.Delivered {
		t.Fatalf("after restart: %s, want delivered", o.State)
	}
	if r := <-s.got; r.header.Get("webhook-id") != ev.ID {
		t.Fatalf("webhook-id = %q, want %q", r.header.Get("webhook-id"), ev.ID)
	}
}

func TestSSRFRefusalDeadLetters(t *testing.T) {
	s := newSink(t, 200)
	d := Destination{Name: "sub", URL: s.URL, Enabled: true, AllowPrivate: false}
	h := start(t, []Destination{d}, nil)
	h.enqueue("sub", "evt_ssrf")
	o := h.st.next(t)
	if o.State != store.Dead || !strings.Contains(o.Attempt.Error, "not a public address") {
		t.Fatalf("outcome %s %q, want dead for a private address", o.State, o.Attempt.Error)
	}
	if len(s.all()) != 0 {
		t.Fatal("the private sink was reached")
	}
}

// logLines decodes the JSON log lines collected in b.
func logLines(t *testing.T, b *syncbuf.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// TestDeliveryLogLinesCarryRequestID: at the default level each delivery
// outcome (delivered, retry, dead letter, failed notice) has one line, and
// every one names the request that produced the event.
func TestDeliveryLogLinesCarryRequestID(t *testing.T) {
	s := newSink(t, 503, 400)
	notice := newSink(t, 500)
	logs := &syncbuf.Buffer{}
	d := Destination{Name: "crm", URL: s.URL, Enabled: true, AllowPrivate: true, NotifyOnFailure: notice.URL,
		Delivery: policy.Delivery{Retry: policy.Retry{MaxAttempts: 8, Schedule: []time.Duration{time.Second}}}}
	h := start(t, []Destination{d}, func(o *Options) {
		// The default level: every outcome has its line there.
		o.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	ok := newSink(t, 200)
	h.dp.SetDestinations([]Destination{d, {Name: "ok", URL: ok.URL, Enabled: true, AllowPrivate: true}})
	h.st.addWithRequestID("crm", "evt_rid", "req-42", h.clock.Now())
	h.st.addWithRequestID("ok", "evt_rid", "req-42", h.clock.Now())
	h.dp.Kick()
	for range 2 {
		h.st.next(t)
	}
	h.clock.Advance(time.Second)
	h.dp.Kick()
	if o := h.st.next(t); o.State != store.Dead {
		t.Fatalf("outcome %s, want dead", o.State)
	}
	<-notice.got
	// The notice's failure is logged after its answer; wait for the line.
	want := []string{"delivered", "delivery failed, will retry", "delivery dead-lettered", "dead-letter notice failed"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		seen := map[string]bool{}
		for _, l := range logLines(t, logs) {
			if l["event_id"] != "evt_rid" {
				continue
			}
			if l["request_id"] != "req-42" {
				t.Fatalf("log line without the request id: %v", l)
			}
			seen[l["msg"].(string)] = true
		}
		missing := ""
		for _, msg := range want {
			if !seen[msg] {
				missing = msg
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q line with the request id in %v", missing, logLines(t, logs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A replica that dies holding a lease has its work taken over once the
// lease runs out, plus at most one idle poll: that must stay within the
// contract's 30 s whatever the destination's timeout and pacing.
func TestLeaseLetsAnotherReplicaTakeOverWithin30s(t *testing.T) {
	tests := []struct {
		name string
		d    Destination
		want time.Duration
	}{
		{"default timeout", Destination{}, 19 * time.Second},
		{"short timeout", Destination{Delivery: policy.Delivery{Timeout: 5 * time.Second}}, 9 * time.Second},
		{"timeout over the cap", Destination{Delivery: policy.Delivery{Timeout: 5 * time.Minute}}, 24 * time.Second},
		{"paced, contract example", Destination{Delivery: policy.Delivery{Timeout: 15 * time.Second, RateLimit: ratelimit.Limit{Requests: 25, Per: 5 * time.Second}}}, 27 * time.Second},
		{"paced, long window", Destination{Delivery: policy.Delivery{Timeout: 20 * time.Second, RateLimit: ratelimit.Limit{Requests: 1, Per: time.Hour}}}, 27 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := leaseFor(&tt.d)
			if got != tt.want {
				t.Fatalf("lease = %v, want %v", got, tt.want)
			}
			if pickup := got + defaultPollMax; pickup >= 30*time.Second {
				t.Fatalf("lease %v + poll %v: a dead replica's work would wait %v, not under 30 s", got, defaultPollMax, pickup)
			}
			if attemptTime(&tt.d)+settleMargin > got {
				t.Fatalf("an attempt of %v does not fit a lease of %v with the settle margin", attemptTime(&tt.d), got)
			}
		})
	}
}

func TestPaceMargin(t *testing.T) {
	for _, tc := range []struct{ per, want time.Duration }{
		{5 * time.Second, 500 * time.Millisecond},
		{100 * time.Millisecond, 50 * time.Millisecond},
		{time.Minute, time.Second},
	} {
		if got := paceMargin(tc.per); got != tc.want {
			t.Errorf("paceMargin(%s) = %s, want %s", tc.per, got, tc.want)
		}
	}
	d := &Destination{Delivery: policy.Delivery{RateLimit: rateLimit(25, 5*time.Second)}}
	if got := paceLimit(d); got != rateLimit(25, 5500*time.Millisecond) {
		t.Errorf("paceLimit = %+v, want 25 per 5.5s", got)
	}
}

// A delivery that pacing cannot admit early enough for its attempt to end
// within its lease is not sent and not settled: the lease runs out and it
// is due again, so another replica cannot send it at the same time.
func TestPacingWaitStaysWithinTheLease(t *testing.T) {
	s := newSink(t, 200)
	refuse := limiterFunc(func(_ context.Context, _ string, l ratelimit.Limit) (ratelimit.Decision, error) {
		return ratelimit.Decision{Limit: l, RetryAfter: time.Hour}, nil
	})
	logs := &syncbuf.Buffer{}
	st := newMemStore()
	dp := New(Options{Store: st, Limiter: refuse, Log: slog.New(slog.NewJSONHandler(logs, nil))})
	d := &Destination{Name: "paced", URL: s.URL, Enabled: true, AllowPrivate: true, Delivery: policy.Delivery{RateLimit: rateLimit(1, time.Hour)}}
	w := &worker{name: d.Name, wake: make(chan struct{}, 1)}
	w.inflight.Add(1)
	dp.work.Add(1)
	// The lease leaves 100 ms for pacing before the attempt's time.
	end := time.Now().Add(attemptTime(d) + 100*time.Millisecond)
	done := make(chan struct{})
	go func() {
		dp.deliver(w, d, store.Delivery{ID: "dlv_1", EventID: "evt_1", Event: *sampleEvent()}, end)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the pacing wait ran past its lease")
	}
	if len(s.all()) != 0 {
		t.Fatal("sent although pacing never admitted it")
	}
	select {
	case o := <-st.settled:
		t.Fatalf("settled %+v; want it left to its lease", o)
	default:
	}
	if !strings.Contains(logs.String(), "pacing did not admit a delivery within its lease") {
		t.Fatalf("no log line for the give-back: %s", logs.String())
	}
}

// A dead-letter notice still going when the shutdown grace ends is cut off
// with the grace, not after its own timeout, and logged with the dead
// letter's id, so it is never lost silently.
func TestShutdownLogsNoticeCutOff(t *testing.T) {
	s := newSink(t, 400)
	var noticed sync.Once
	asked := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read to the end, so the server notices when the client goes away.
		_, _ = io.Copy(io.Discard, r.Body)
		noticed.Do(func() { close(asked) })
		<-r.Context().Done()
	}))
	defer hang.Close()
	logs := &syncbuf.Buffer{}
	st := newMemStore()
	clock := newTestClock()
	dp := New(Options{Store: st, Now: clock.Now, Log: slog.New(slog.NewJSONHandler(logs, nil))})
	dp.SetDestinations([]Destination{{Name: "crm", URL: s.URL, Enabled: true, AllowPrivate: true, NotifyOnFailure: hang.URL}})
	did := st.add("crm", *sampleEvent(), clock.Now())
	done := make(chan struct{})
	go func() { _ = dp.Run(context.Background()); close(done) }()
	if o := st.next(t); o.State != store.Dead {
		t.Fatalf("outcome %s, want dead", o.State)
	}
	<-asked
	stopped := make(chan struct{})
	go func() { dp.Shutdown(200 * time.Millisecond); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown waited for the notice past its grace")
	}
	<-done
	for _, l := range logLines(t, logs) {
		if l["msg"] == "dead-letter notice not sent: shutdown grace over" && l["dead_letter_id"] == did {
			return
		}
	}
	t.Fatalf("no log line naming dead letter %s: %v", did, logLines(t, logs))
}
