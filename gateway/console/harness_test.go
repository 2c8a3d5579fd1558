package console_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"leadgate/gateway/console"
	"leadgate/gateway/deliver"
	"leadgate/gateway/internal/syncbuf"
	"leadgate/gateway/leadsquared"
	"leadgate/gateway/mapping"
	"leadgate/gateway/metrics"
	"leadgate/gateway/policy"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/server"
	"leadgate/gateway/store"
	"leadgate/gateway/store/bolt"
)

// Admin keys of every test gateway.
const (
	testAccess = "ak_console_test"
	testSecret = "sk_console_test_secret"
)

// sink is a destination whose answer the test sets.
type sink struct {
	srv  *httptest.Server
	code atomic.Int32
	hits atomic.Int32
}

func newSink(t *testing.T, code int) *sink {
	t.Helper()
	s := &sink{}
	s.code.Store(int32(code))
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		w.WriteHeader(int(s.code.Load()))
		_, _ = w.Write([]byte(`{"answer":"from the test sink"}`))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// testClock is the console's clock: the real time, shifted by what a test
// sets, so a test can book traffic to a minute of its choosing and time
// then goes on from there.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Set makes it t now.
func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = time.Until(t)
}

// gateway is a real gateway wired as main wires it (bbolt store, delivery
// workers, LeadSquared API, server, console), listening on a free port.
type gateway struct {
	base  string
	store store.Store
	srv   *server.Server
	con   *console.Console
	clock *testClock      // the console's
	logs  *syncbuf.Buffer // every log line of the gateway, debug level and up
}

// startGateway runs a gateway with the shipped mappings and one destination
// "crm" posting canonical JSON to sinkURL.
func startGateway(t *testing.T, sinkURL string, mutate ...func(*server.Options)) *gateway {
	t.Helper()
	return startGatewayWith(t, sinkURL, nil, mutate...)
}

// startGatewayWith is startGateway with the console's options edited by
// conOpts (nil: as main wires them).
func startGatewayWith(t *testing.T, sinkURL string, conOpts func(*console.Options), mutate ...func(*server.Options)) *gateway {
	t.Helper()
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	set, err := mapping.LoadDir("../../mappings")
	if err != nil {
		t.Fatalf("load mappings: %v", err)
	}
	st, err := bolt.Open(t.TempDir(), bolt.Options{Log: log})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	limiter := ratelimit.NewLocal(ratelimit.LocalOptions{})
	disp := deliver.New(deliver.Options{Store: st, Limiter: limiter, Metrics: m, Log: log, Version: "test",
		AllowPrivate: true, Grace: time.Second, Jitter: func(d time.Duration) time.Duration { return d }})
	lsq := leadsquared.New(leadsquared.Options{Store: st, Limiter: limiter, Metrics: m, Log: log,
		AccessKey: testAccess, SecretKey: testSecret, AllowPrivate: true})
	dests := []deliver.Destination{{
		Name: "crm", URL: sinkURL, Method: http.MethodPost, ContentType: "application/json", Format: "canonical",
		Headers: []deliver.Header{{Key: "X-Api-Key", Value: "crm-secret-header-value"}},
		Enabled: true,
		Delivery: policy.Delivery{Timeout: 5 * time.Second, Retry: policy.Retry{MaxAttempts: 3, Schedule: []time.Duration{time.Second}},
			Concurrency: 4},
		Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, AllowPrivate: true,
	}}
	rt := &server.Runtime{Mappings: set, Destinations: dests, Inbound: ratelimit.Limit{Requests: 10000, Per: time.Second},
		BodyLimit: 1 << 20, AccessKey: testAccess, SecretKey: testSecret}

	g := &gateway{store: st, logs: logs, clock: &testClock{}}
	co := console.Options{Log: log, Store: st, Runtime: func() console.Runtime { return consoleRuntime(g.srv.Runtime()) },
		Gatherer: reg, Subscriptions: lsqSubscriptions{lsq}, Kick: disp.Kick, SampleEvery: time.Second, Now: g.clock.Now,
		ClientIP: func(c *fiber.Ctx) string { return g.srv.ClientIP(c) }}
	if conOpts != nil {
		conOpts(&co)
	}
	g.con = console.New(co)
	opts := server.Options{Log: log, Metrics: m, Store: st, Limiter: limiter, Kick: disp.Kick, Route: disp.Route,
		MetricsHandler: metrics.Handler(reg), BodyLimit: 1 << 20,
		Mount: func(r fiber.Router) { lsq.Mount(r); g.con.Mount(r) }}
	for _, f := range mutate {
		f(&opts)
	}
	g.srv = server.New(opts, rt)
	disp.SetDestinations(dests)
	m.Precreate(set.Names(), []string{"crm"})
	m.SetDestinations(map[string]bool{"crm": true})

	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = disp.Run(ctx) }()
	go g.con.Run(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.srv.App().Listener(ln) }()
	g.base = "http://" + ln.Addr().String()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = g.srv.Shutdown(sctx)
		cancel()
		disp.Shutdown(time.Second)
		_ = st.Close()
	})
	return g
}

// consoleRuntime and lsqSubscriptions hand the console the server's
// runtime and the LeadSquared API's subscriptions, as main's (package
// main's consoleview.go, which has its own test) do.
func consoleRuntime(rt *server.Runtime) console.Runtime {
	return console.Runtime{Mappings: rt.Mappings, Destinations: rt.Destinations,
		AccessKey: rt.AccessKey, SecretKey: rt.SecretKey}
}

type lsqSubscriptions struct{ api *leadsquared.API }

func (s lsqSubscriptions) List(ctx context.Context) ([]console.Subscription, error) {
	subs, err := s.api.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]console.Subscription, 0, len(subs))
	for _, sub := range subs {
		v := console.Subscription{ID: sub.ID, Destination: leadsquared.DestinationName(sub.ID), Description: sub.Description,
			URL: sub.URL, Method: sub.Method, ContentType: sub.ContentType, Event: sub.Event,
			NotifyOnFailure: sub.NotifyOnFailure, CreatedAt: sub.CreatedAt}
		if sub.IsSpecificLandingPage {
			v.LandingPages = append(v.LandingPages, sub.LandingPageUrls...)
		}
		for _, h := range sub.CustomHeaders {
			v.Headers = append(v.Headers, h.Key)
		}
		out = append(out, v)
	}
	return out, nil
}

func (s lsqSubscriptions) Delete(ctx context.Context, id string) error { return s.api.Delete(ctx, id) }
