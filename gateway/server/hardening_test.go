package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"leadgate/gateway/metrics"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/requestid"
	"leadgate/gateway/store"
)

// limiterFunc fakes a ratelimit.Limiter.
type limiterFunc func(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Decision, error)

func (f limiterFunc) Allow(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Decision, error) {
	return f(ctx, key, l)
}

var _ ratelimit.Limiter = limiterFunc(nil)

// ingestStore is the embedded store with Ingest replaced.
type ingestStore struct {
	Store
	ingest func() (store.IngestResult, error)
}

func (s ingestStore) Ingest(context.Context, store.IngestRequest) (store.IngestResult, error) {
	return s.ingest()
}

// TestUnknownSourceLabelsAreBounded: a scan of random paths, past the limit
// of unknown sources, never adds a series: every answer (404, 429, 503) is
// labelled unknown, and those series exist from the start.
func TestUnknownSourceLabelsAreBounded(t *testing.T) {
	var limiterDown bool
	h := newHarness(t, func(o *Options, rt *Runtime) {
		rt.Inbound = ratelimit.Limit{Requests: 3, Per: 5 * time.Second}
		local := o.Limiter
		o.Limiter = limiterFunc(func(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Decision, error) {
			if limiterDown {
				return ratelimit.Decision{}, errors.New("redis: connection refused")
			}
			return local.Allow(ctx, key, l)
		})
	})
	h.metrics.Precreate(h.srv.Runtime().Mappings.Names(), []string{"crm"})
	before := testutil.CollectAndCount(h.metrics.InboundRequests)
	beforeDuration := testutil.CollectAndCount(h.metrics.InboundDuration)
	codes := map[int]int{}
	for i := range 60 {
		if i == 50 {
			limiterDown = true
		}
		a := h.post(t, fmt.Sprintf("/hooks/scan-%d", i), "application/json", `{}`)
		codes[a.code]++
	}
	if codes[404] != 3 || codes[429] != 47 || codes[503] != 10 {
		t.Fatalf("answers = %v, want 3 404s, 47 429s and 10 503s", codes)
	}
	if got := testutil.CollectAndCount(h.metrics.InboundRequests); got != before {
		t.Errorf("gateway_inbound_requests_total has %d series after the scan, %d before", got, before)
	}
	if got := testutil.CollectAndCount(h.metrics.InboundDuration); got != beforeDuration {
		t.Errorf("gateway_inbound_duration_seconds has %d series after the scan, %d before", got, beforeDuration)
	}
	for code, want := range map[string]float64{"404": 3, "429": 47, "503": 10} {
		if got := testutil.ToFloat64(h.metrics.InboundRequests.WithLabelValues(metrics.SourceUnknown, code)); got != want {
			t.Errorf("gateway_inbound_requests_total{source=unknown,code=%s} = %v, want %v", code, got, want)
		}
	}
}

// TestInboundLimiterDown: a 503 because the limiter cannot be asked still
// carries the route's rate-limit headers and Retry-After.
func TestInboundLimiterDown(t *testing.T) {
	h := newHarness(t, func(o *Options, rt *Runtime) {
		o.Limiter = limiterFunc(func(context.Context, string, ratelimit.Limit) (ratelimit.Decision, error) {
			return ratelimit.Decision{}, errors.New("redis: connection refused")
		})
	})
	for _, path := range []string{"/hooks/website", "/hooks/nope"} {
		a := h.post(t, path, "application/json", ledsakSeed)
		if a.code != 503 || a.body["error"] != "rate limiter unavailable, retry later" {
			t.Fatalf("%s = %d %s, want 503", path, a.code, a.raw)
		}
		if got, want := a.header.Get("RateLimit-Policy"), `"inbound";q=25;w=5`; got != want {
			t.Errorf("%s: RateLimit-Policy = %q, want %q", path, got, want)
		}
		if got, want := a.header.Get("RateLimit"), `"inbound";r=0;t=1`; got != want {
			t.Errorf("%s: RateLimit = %q, want %q", path, got, want)
		}
		if got := a.header.Get("Retry-After"); got != "1" {
			t.Errorf("%s: Retry-After = %q, want 1", path, got)
		}
	}
	if got := testutil.ToFloat64(h.metrics.InboundRequests.WithLabelValues("website", "503")); got != 1 {
		t.Errorf("gateway_inbound_requests_total{website,503} = %v, want 1", got)
	}
}

// TestIngestErrorClassification: only an unreachable store is a 503 worth
// retrying; any other ingest failure is a 500 whose cause is logged under
// the request id and never sent.
func TestIngestErrorClassification(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		code       int
		errText    string
		retryAfter string
	}{
		{"unreachable", fmt.Errorf("ingest: %w: dial tcp: refused", store.ErrUnavailable), 503, "store unavailable, retry later", "1"},
		{"other", errors.New("encode lead: identity key too long for the index"), 500, "internal error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := newHarness(t, func(o *Options, rt *Runtime) {
				o.Log = slog.New(slog.NewJSONHandler(&logs, nil))
				o.Store = ingestStore{Store: o.Store, ingest: func() (store.IngestResult, error) { return store.IngestResult{}, tt.err }}
			})
			a := h.post(t, "/hooks/website", "application/json", ledsakSeed)
			if a.code != tt.code || a.body["error"] != tt.errText {
				t.Fatalf("answer = %d %s, want %d %q", a.code, a.raw, tt.code, tt.errText)
			}
			if got := a.header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if strings.Contains(a.raw, "identity key") || strings.Contains(a.raw, "dial tcp") {
				t.Errorf("answer leaks the cause: %s", a.raw)
			}
			id := a.header.Get(requestid.Header)
			if tt.code == 500 && !strings.Contains(a.raw, id) {
				t.Errorf("500 body %s does not give the request id %s to quote", a.raw, id)
			}
			if !strings.Contains(logs.String(), `"request_id":"`+id+`"`) || !strings.Contains(logs.String(), "identity key too long") && tt.code == 500 {
				t.Errorf("log does not hold the cause under request id %s:\n%s", id, logs.String())
			}
			if a.header.Get("RateLimit-Policy") == "" {
				t.Errorf("%d without RateLimit-Policy", a.code)
			}
			if got := testutil.ToFloat64(h.metrics.InboundRequests.WithLabelValues("website", fmt.Sprint(tt.code))); got != 1 {
				t.Errorf("gateway_inbound_requests_total{website,%d} = %v, want 1", tt.code, got)
			}
		})
	}
}

// TestPanicRecovery: a panicking handler answers the contract's 500 (and
// LeadSquared's shape under /v2/), with nothing of the panic in the answer.
func TestPanicRecovery(t *testing.T) {
	const secret = "db password hunter2"
	var logs bytes.Buffer
	h := newHarness(t, func(o *Options, rt *Runtime) {
		o.Log = slog.New(slog.NewJSONHandler(&logs, nil))
		o.Mount = func(r fiber.Router) {
			r.Get("/boom", func(*fiber.Ctx) error { panic(secret) })
			r.Get("/v2/Webhook.svc/Boom", func(*fiber.Ctx) error { panic(errors.New(secret)) })
		}
		o.Store = ingestStore{Store: o.Store, ingest: func() (store.IngestResult, error) { panic(secret) }}
	})
	t.Run("contract shape", func(t *testing.T) {
		a := h.do(t, httptest.NewRequest(http.MethodGet, "/boom", nil))
		if a.code != 500 || a.body["error"] != "internal error" {
			t.Fatalf("answer = %d %s, want 500 internal error", a.code, a.raw)
		}
		if strings.Contains(a.raw, "hunter2") || strings.Contains(a.raw, "goroutine") {
			t.Errorf("answer leaks the panic: %s", a.raw)
		}
		if a.header.Get(requestid.Header) == "" {
			t.Errorf("500 without X-Request-Id")
		}
	})
	t.Run("leadsquared shape", func(t *testing.T) {
		a := h.do(t, httptest.NewRequest(http.MethodGet, "/v2/Webhook.svc/Boom", nil))
		if a.code != 500 || a.body["Status"] != "Error" || a.body["ExceptionType"] != "MXUnknownException" {
			t.Fatalf("answer = %d %s, want 500 MXUnknownException", a.code, a.raw)
		}
		msg, _ := a.body["ExceptionMessage"].(string)
		if !strings.Contains(msg, a.header.Get(requestid.Header)) || strings.Contains(a.raw, "hunter2") || len(a.body) != 3 {
			t.Errorf("answer %s: want only Status, ExceptionType and a message with the reference", a.raw)
		}
	})
	t.Run("inbound", func(t *testing.T) {
		a := h.post(t, "/hooks/website", "application/json", ledsakSeed)
		if a.code != 500 || a.body["error"] != "internal error" || strings.Contains(a.raw, "hunter2") {
			t.Fatalf("answer = %d %s, want 500 internal error", a.code, a.raw)
		}
		if a.header.Get("RateLimit-Policy") == "" || a.header.Get("RateLimit") == "" {
			t.Errorf("500 of the inbound route without rate-limit headers: %v", a.header)
		}
		if got := testutil.ToFloat64(h.metrics.InboundRequests.WithLabelValues("website", "500")); got != 1 {
			t.Errorf("gateway_inbound_requests_total{website,500} = %v, want 1", got)
		}
	})
	if !strings.Contains(logs.String(), "hunter2") {
		t.Errorf("the panic is not logged:\n%s", logs.String())
	}
	// The server still answers after the panics.
	if a := h.do(t, httptest.NewRequest(http.MethodGet, "/healthz", nil)); a.code != 200 {
		t.Fatalf("healthz after panics = %d", a.code)
	}
}

// TestBodyLimitAsServed: with one body_limit for the listener and the
// runtime, as serve.go wires them, a body over it gets the handler's 413
// with the route's headers and metrics, and so does one over even the
// listener's own cap, which fasthttp refuses before any handler.
func TestBodyLimitAsServed(t *testing.T) {
	const limit = 4096
	tests := []struct {
		name, path string
		size       int
		code       int
		errText    string
		label      string
	}{
		{"just over the limit", "/hooks/website", limit + 1, 413, "body too large", "website"},
		{"over the listener's cap", "/hooks/website", listenerLimit(limit) + 1, 413, "body too large", "website"},
		{"over the listener's cap on the Ledsak path", "/api/webhook/website/webhook", 4 * listenerLimit(limit), 413, "body too large", "website"},
		{"over the listener's cap to an unknown source", "/hooks/nope", listenerLimit(limit) + 1, 404, "unknown source", metrics.SourceUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(o *Options, rt *Runtime) {
				rt.BodyLimit = limit
				o.BodyLimit = limit // serve.go: both are server.body_limit
			})
			body := `{"notes": "` + strings.Repeat("x", tt.size) + `"}`
			// A real listener: app.Test gives up on a request fasthttp
			// refuses, before reading the answer.
			a := h.overHTTP(t, tt.path, "application/json", body)
			if a.code != tt.code || a.body["error"] != tt.errText {
				t.Fatalf("answer = %d %.200s, want %d %q", a.code, a.raw, tt.code, tt.errText)
			}
			if tt.code == 413 && !strings.Contains(a.raw, "limit is 4096 bytes") {
				t.Errorf("413 does not name the limit: %s", a.raw)
			}
			if got, want := a.header.Get("RateLimit-Policy"), `"inbound";q=25;w=5`; got != want {
				t.Errorf("RateLimit-Policy = %q, want %q", got, want)
			}
			if !strings.HasPrefix(a.header.Get("RateLimit"), `"inbound";r=24;`) {
				t.Errorf("RateLimit = %q, want one request counted", a.header.Get("RateLimit"))
			}
			if len(a.header.Get(requestid.Header)) != 28 {
				t.Errorf("X-Request-Id = %q, want a made id", a.header.Get(requestid.Header))
			}
			if got := testutil.ToFloat64(h.metrics.InboundRequests.WithLabelValues(tt.label, fmt.Sprint(tt.code))); got != 1 {
				t.Errorf("gateway_inbound_requests_total{%s,%d} = %v, want 1", tt.label, tt.code, got)
			}
			if tt.code == 413 {
				if got := testutil.ToFloat64(h.metrics.NormalizeFailures.WithLabelValues("website", metrics.ReasonTooLarge)); got != 1 {
					t.Errorf("gateway_normalize_failures_total{website,too_large} = %v, want 1", got)
				}
			}
		})
	}
}

// overHTTP posts through a real listener on loopback.
func (h *harness) overHTTP(t *testing.T, path, contentType, body string) answer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go h.srv.App().Listener(ln)
	t.Cleanup(func() { h.srv.App().Shutdown() })
	// The body goes only as far as the server reads it: a server that
	// refuses a body over its cap answers on the headers and closes, and
	// a client still writing the rest would see a reset instead of the
	// answer (an http.Client does, now and then).
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", path, contentType, len(body))
	go func() { _, _ = io.WriteString(conn, body) }() // stops when the server closes
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("POST %s answered %d with non-JSON %q", path, resp.StatusCode, raw)
	}
	return a
}

// TestAdminDeadLetterPaging pages through every dead letter by next, and
// answers a cursor no page handed out with 400, not as an outage.
func TestAdminDeadLetterPaging(t *testing.T) {
	h := newHarness(t)
	for i := range 3 {
		h.post(t, "/hooks/website", "application/json", fmt.Sprintf(`{"email": "p%d@example.com"}`, i))
	}
	ds := h.pending(t, "crm")
	if len(ds) != 6 {
		t.Fatalf("queued %d deliveries, want 6", len(ds))
	}
	var outcomes []store.Outcome
	var want []string
	for _, d := range ds {
		outcomes = append(outcomes, store.Outcome{Delivery: d, State: store.Dead, Attempt: store.Attempt{At: h.now, Code: 400}})
		want = append(want, d.EventID)
	}
	if err := h.store.Settle(context.Background(), outcomes); err != nil {
		t.Fatal(err)
	}
	get := func(path string) answer {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("X-Access-Key", accessKey)
		req.Header.Set("X-Secret-Key", secretKey)
		return h.do(t, req)
	}
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("next never ended")
		}
		a := get("/admin/dead-letters?destination=crm&limit=4&cursor=" + cursor)
		if a.code != 200 {
			t.Fatalf("page %d = %d %s", page, a.code, a.raw)
		}
		items := a.body["items"].([]any)
		if len(items) > 4 {
			t.Fatalf("page of %d items, limit 4", len(items))
		}
		for _, it := range items {
			got = append(got, it.(map[string]any)["event_id"].(string))
		}
		cursor, _ = a.body["next"].(string)
		if cursor == "" {
			break
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("paged event ids = %v, want each dead letter once: %v", got, want)
	}
	for _, bad := range []string{"garbage", "%21%21"} {
		a := get("/admin/dead-letters?destination=crm&cursor=" + bad)
		if a.code != 400 || a.body["error"] != "bad cursor" || a.header.Get("Retry-After") != "" {
			t.Errorf("cursor %q = %d %s, want 400 bad cursor", bad, a.code, a.raw)
		}
	}
}

// TestTrustedProxies: the limiter key of an ip-keyed source is the client's
// address from the proxy header only when the peer (app.Test's 0.0.0.0) is
// a trusted proxy, and then the rightmost address that is not a proxy, so a
// client cannot choose its key by writing the header itself.
func TestTrustedProxies(t *testing.T) {
	tests := []struct {
		name    string
		proxies []string
		header  string
		value   string
		wantKey string
	}{
		{"no proxies: header ignored", nil, "", "203.0.113.7", "in:website:ip:0.0.0.0"},
		{"untrusted peer: header ignored", []string{"10.0.0.0/8"}, "", "203.0.113.7", "in:website:ip:0.0.0.0"},
		{"trusted peer", []string{"0.0.0.0"}, "", "203.0.113.7", "in:website:ip:203.0.113.7"},
		{"trusted peer, forged entry left of the real one", []string{"0.0.0.0/32"}, "", "198.51.100.1, 203.0.113.7", "in:website:ip:203.0.113.7"},
		{"chain of trusted proxies skipped", []string{"0.0.0.0", "10.0.0.0/8"}, "", "198.51.100.1, 203.0.113.7, 10.1.2.3", "in:website:ip:203.0.113.7"},
		{"garbage from a trusted hop", []string{"0.0.0.0"}, "", "not-an-ip", "in:website:ip:0.0.0.0"},
		{"no header", []string{"0.0.0.0"}, "", "", "in:website:ip:0.0.0.0"},
		{"other header", []string{"0.0.0.0"}, "X-Real-Ip", "203.0.113.9", "in:website:ip:203.0.113.9"},
		{"IPv6 client by its /64", []string{"0.0.0.0"}, "", "2001:db8:0:7:a:b:c:d", "in:website:ip:2001:db8:0:7::/64"},
		{"IPv4-mapped IPv6 client as IPv4", []string{"0.0.0.0"}, "", "::ffff:203.0.113.7", "in:website:ip:203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var keys []string
			h := newHarness(t, func(o *Options, rt *Runtime) {
				o.TrustedProxies = tt.proxies
				o.ProxyHeader = tt.header
				o.Limiter = limiterFunc(func(_ context.Context, key string, l ratelimit.Limit) (ratelimit.Decision, error) {
					mu.Lock()
					keys = append(keys, key)
					mu.Unlock()
					return ratelimit.Decision{Allowed: true, Limit: l, Remaining: l.Requests - 1}, nil
				})
			})
			req := httptest.NewRequest(http.MethodPost, "/hooks/website", strings.NewReader(`{"email": "ip@example.com"}`))
			req.Header.Set("Content-Type", "application/json")
			header := tt.header
			if header == "" {
				header = "X-Forwarded-For"
			}
			if tt.value != "" {
				req.Header.Set(header, tt.value)
			}
			if a := h.do(t, req); a.code != 200 {
				t.Fatalf("answer = %d %s", a.code, a.raw)
			}
			if len(keys) != 1 || keys[0] != tt.wantKey {
				t.Fatalf("limiter keys = %v, want [%s]", keys, tt.wantKey)
			}
		})
	}
}

func TestParseProxy(t *testing.T) {
	for _, ok := range []string{"10.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32", "10.1.2.3/8"} {
		if _, err := ParseProxy(ok); err != nil {
			t.Errorf("ParseProxy(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "lb.internal", "10.0.0.0/33", "10.0.0.1:80"} {
		if _, err := ParseProxy(bad); err == nil {
			t.Errorf("ParseProxy(%q) succeeded, want an error", bad)
		}
	}
}

// TestReadyGauge: gateway_ready follows the /readyz check.
func TestReadyGauge(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { h.srv.WatchReady(ctx, time.Hour); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(h.metrics.Ready) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("gateway_ready never became 1 with the store up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	down := newHarness(t, func(o *Options, rt *Runtime) { o.Store = failingStore{o.Store} })
	down.metrics.Ready.Set(1)
	if a := down.do(t, httptest.NewRequest(http.MethodGet, "/readyz", nil)); a.code != 503 {
		t.Fatalf("readyz = %d, want 503", a.code)
	}
	if got := testutil.ToFloat64(down.metrics.Ready); got != 0 {
		t.Errorf("gateway_ready with the store down = %v, want 0", got)
	}
}

// sampleCount is how many observations a histogram series holds.
func sampleCount(t *testing.T, o prometheus.Observer) uint64 {
	t.Helper()
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// TestInboundMetricsPerAnswer: each refusal counts its normalize-failure
// reason, its code and one duration sample, and nothing else.
func TestInboundMetricsPerAnswer(t *testing.T) {
	secured := onlyMapping(t, "website", `events: [lead.created]
auth: {type: token, header: X-Token, token: s3cret}
fields:
  email: email
  score: score
`)
	tests := []struct {
		name, contentType, body string
		token                   string
		code                    int
		reason                  string
	}{
		{"400 malformed", "application/json", `{"email": `, "s3cret", 400, metrics.ReasonMalformed},
		{"401 unauthorized", "application/json", `{"email": "a@example.com"}`, "nope", 401, metrics.ReasonUnauthorized},
		{"413 too large", "application/json", `{"email": "` + strings.Repeat("x", 5000) + `"}`, "s3cret", 413, metrics.ReasonTooLarge},
		{"415 unsupported type", "application/xml", `<lead/>`, "s3cret", 415, metrics.ReasonUnsupportedType},
		{"422 invalid", "application/json", `{"email": "a@example.com", "score": "lots"}`, "s3cret", 422, metrics.ReasonInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, secured)
			h.metrics.Precreate([]string{"website"}, []string{"crm"})
			req := httptest.NewRequest(http.MethodPost, "/hooks/website", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			req.Header.Set("X-Token", tt.token)
			if a := h.do(t, req); a.code != tt.code {
				t.Fatalf("answer = %d %s, want %d", a.code, a.raw, tt.code)
			}
			for _, reason := range metrics.Reasons {
				want := 0.0
				if reason == tt.reason {
					want = 1
				}
				if got := testutil.ToFloat64(h.metrics.NormalizeFailures.WithLabelValues("website", reason)); got != want {
					t.Errorf("gateway_normalize_failures_total{website,%s} = %v, want %v", reason, got, want)
				}
			}
			if got := testutil.ToFloat64(h.metrics.InboundRequests.WithLabelValues("website", fmt.Sprint(tt.code))); got != 1 {
				t.Errorf("gateway_inbound_requests_total{website,%d} = %v, want 1", tt.code, got)
			}
			if got := sampleCount(t, h.metrics.InboundDuration.WithLabelValues("website")); got != 1 {
				t.Errorf("gateway_inbound_duration_seconds{website} samples = %d, want 1", got)
			}
			if got := testutil.ToFloat64(h.metrics.Events.WithLabelValues("website", "lead.created")); got != 0 {
				t.Errorf("a refused request counted %v events", got)
			}
		})
	}
}

// TestDuplicateCountsNoEvents: a repeated payload answers 200 and counts as
// a request, but stores no event, so gateway_events_total stays.
func TestDuplicateCountsNoEvents(t *testing.T) {
	h := newHarness(t)
	for range 3 {
		if a := h.post(t, "/hooks/website", "application/json", ledsakSeed); a.code != 200 {
			t.Fatalf("answer = %d %s", a.code, a.raw)
		}
	}
	for ev, want := range map[string]float64{"form.submitted": 1, "lead.created": 1, "lead.updated": 0} {
		if got := testutil.ToFloat64(h.metrics.Events.WithLabelValues("website", ev)); got != want {
			t.Errorf("gateway_events_total{website,%s} = %v, want %v", ev, got, want)
		}
	}
	if got := testutil.ToFloat64(h.metrics.InboundRequests.WithLabelValues("website", "200")); got != 3 {
		t.Errorf("gateway_inbound_requests_total{website,200} = %v, want 3", got)
	}
	if got := sampleCount(t, h.metrics.InboundDuration.WithLabelValues("website")); got != 3 {
		t.Errorf("gateway_inbound_duration_seconds{website} samples = %d, want 3", got)
	}
}

// TestStoreError: the admin API and the console answer a store error the
// same way; only an outage asks for a retry.
