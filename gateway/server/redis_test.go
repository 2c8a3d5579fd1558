package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"leadgate/gateway/ratelimit"
	"leadgate/gateway/redistest"
	"leadgate/gateway/store/redisstore"
)

// TestRedisLimitInTheIngestScript: on the Redis store with the Redis
// limiter, a new lead costs one script (the limit check and the enqueue are
// one atomic write), every answer carries the rate-limit headers, requests
// rejected before the store still count against the limit, and the request
// over the limit gets a 429 and stores nothing.
func TestRedisLimitInTheIngestScript(t *testing.T) {
	srv := redistest.Start(t)
	hook := &redistest.ScriptCounter{}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	rdb.AddHook(hook)
	st := redisstore.New(rdb, redisstore.Options{}) // the limiter's hash tag
	t.Cleanup(func() { st.Close() })
	h := newHarness(t, func(o *Options, rt *Runtime) {
		lim := ratelimit.NewRedis(rdb, ratelimit.RedisOptions{})
		o.Store, o.Limiter, o.WriteLimiter = st, lim, lim
		rt.Inbound = ratelimit.Limit{Requests: 4, Per: time.Minute}
	})
	if h.srv.checker == nil {
		t.Fatal("the server does not hand the limit to the Redis store")
	}
	lead := func(i int) string {
		return fmt.Sprintf(`{"client":"limit","source":"website","lead_details":[{"lead_field":"email","lead_value":"l%d@example.com"}]}`, i)
	}
	post := func(body string) answer {
		req := httptest.NewRequest(http.MethodPost, "/hooks/website", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return h.do(t, req)
	}

	// Warm up: Redis learns the script, so later calls go by hash once.
	if a := post(lead(0)); a.code != 200 {
		t.Fatalf("first lead = %d %s", a.code, a.raw)
	}
	before := hook.N()
	a := post(lead(1))
	if a.code != 200 {
		t.Fatalf("second lead = %d %s", a.code, a.raw)
	}
	if n := hook.N() - before; n != 1 {
		t.Errorf("a new lead ran %d scripts in Redis, want 1 (limit and enqueue in one)", n)
	}
	if got := a.header.Get("RateLimit"); !strings.Contains(got, "r=2") {
		t.Errorf("RateLimit = %q after 2 of 4, want r=2", got)
	}
	if a.header.Get("RateLimit-Policy") == "" {
		t.Error("no RateLimit-Policy on a 200")
	}

	// A malformed body never reaches the store but still uses the third.
	if a := post(`{"broken`); a.code != 400 || !strings.Contains(a.header.Get("RateLimit"), "r=1") {
		t.Fatalf("malformed = %d RateLimit %q, want 400 with r=1", a.code, a.header.Get("RateLimit"))
	}
	if a := post(lead(3)); a.code != 200 || !strings.Contains(a.header.Get("RateLimit"), "r=0") {
		t.Fatalf("fourth = %d RateLimit %q, want 200 with r=0", a.code, a.header.Get("RateLimit"))
	}
	over := post(lead(4))
	if over.code != 429 || over.header.Get("Retry-After") == "" || over.header.Get("RateLimit-Policy") == "" {
		t.Fatalf("fifth = %d %s headers %v, want 429 with Retry-After and RateLimit-Policy", over.code, over.raw, over.header)
	}
	if n := testutil.ToFloat64(h.metrics.RateLimited.WithLabelValues("inbound")); n != 1 {
		t.Errorf("gateway_rate_limited_total{scope=inbound} = %v, want 1", n)
	}
	// The refused lead was not stored: nothing under its email.
	if id, err := rdb.HGet(context.Background(), "lg:{gw}:idx", "email:l4@example.com").Result(); err != redis.Nil {
		t.Fatalf("refused lead is in the index as %q (%v)", id, err)
	}
}

// TestUnauthenticatedCountsAgainstTheAddress: a request that fails its
// source's authentication counts against its address, not against the
// client key it names (the Leadsie mapping keys on ?customUserId=), so it
// cannot use up that client's quota; on both stores.
func TestUnauthenticatedCountsAgainstTheAddress(t *testing.T) {
	t.Setenv("LEADSIE_WEBHOOK_TOKEN", "tok")
	limit := func(o *Options, rt *Runtime) { rt.Inbound = ratelimit.Limit{Requests: 2, Per: time.Minute} }
	harnesses := map[string]func(t *testing.T) *harness{
		"embedded": func(t *testing.T) *harness { return newHarness(t, limit) },
		"redis": func(t *testing.T) *harness {
			srv := redistest.Start(t)
			st := redisstore.New(srv.Client(), redisstore.Options{})
			t.Cleanup(func() { st.Close() })
			return newHarness(t, limit, func(o *Options, rt *Runtime) {
				lim := ratelimit.NewRedis(srv.Client(), ratelimit.RedisOptions{})
				o.Store, o.Limiter, o.WriteLimiter = st, lim, lim
			})
		},
	}
	body := `{"status": "SUCCESS", "connectionAssets": [{"type": "Page", "name": "P", "id": "1", "isSuccess": true}]}`
	for name, start := range harnesses {
		t.Run(name, func(t *testing.T) {
			h := start(t)
			for i, want := range []int{401, 401, 429} {
				if a := h.post(t, "/hooks/leadsie?customUserId=victim", "application/json", body); a.code != want {
					t.Fatalf("unauthenticated request %d = %d %s, want %d", i+1, a.code, a.raw, want)
				}
			}
			a := h.post(t, "/hooks/leadsie?customUserId=victim&token=tok", "application/json", body)
			if a.code != 200 || !strings.Contains(a.header.Get("RateLimit"), "r=1") {
				t.Fatalf("the client's own request = %d RateLimit %q, want 200 with r=1 (its quota untouched)", a.code, a.header.Get("RateLimit"))
			}
		})
	}
}
