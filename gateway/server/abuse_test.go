package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"leadgate/gateway/lead"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/redistest"
	"leadgate/gateway/store/redisstore"
)

// leadsieBody is a Leadsie connection payload; the shipped leadsie mapping
// keys its limit on ?customUserId= and, with LEADSIE_WEBHOOK_TOKEN unset,
// has no authentication.
const leadsieBody = `{"status": "SUCCESS", "connectionAssets": [{"type": "Page", "name": "P", "id": "1", "isSuccess": true}]}`

// behindProxy makes app.Test's peer (0.0.0.0) a trusted proxy, so a test
// names each request's client address in X-Forwarded-For.
func behindProxy(o *Options, _ *Runtime) { o.TrustedProxies = []string{"0.0.0.0"} }

// postFrom posts body to path as the client at addr.
func (h *harness) postFrom(t *testing.T, addr, path, contentType, body string) answer {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Forwarded-For", addr)
	return h.do(t, req)
}

// limitHarnesses are the two ways the inbound limit runs: the in-process
// limiter beside the embedded store (checked before the body is read), and
// the Redis limiter inside the Redis store's write (a remembered refusal
// answered before the body is read). The Redis window is a minute, so a
// slow machine cannot let admissions leave it mid-test.
var limitHarnesses = map[string]func(t *testing.T, mutate ...func(*Options, *Runtime)) *harness{
	"embedded": func(t *testing.T, mutate ...func(*Options, *Runtime)) *harness {
		return newHarness(t, append([]func(*Options, *Runtime){behindProxy}, mutate...)...)
	},
	"redis": func(t *testing.T, mutate ...func(*Options, *Runtime)) *harness {
		srv := redistest.Start(t)
		st := redisstore.New(srv.Client(), redisstore.Options{})
		t.Cleanup(func() { st.Close() })
		return newHarness(t, append([]func(*Options, *Runtime){behindProxy, func(o *Options, rt *Runtime) {
			lim := ratelimit.NewRedis(srv.Client(), ratelimit.RedisOptions{})
			o.Store, o.Limiter, o.WriteLimiter = st, lim, lim
			rt.Inbound = ratelimit.Limit{Requests: 25, Per: time.Minute}
		}}, mutate...)...)
	},
}

// TestInventedKeysDoNotDodgeTheLimit: on the shipped leadsie source, which
// has no authentication, one address naming a new ?customUserId= on every
// request is still limited as one client: 25 accepted, then 429. Each
// answer carries the draft -11 headers of the exact limit.
func TestInventedKeysDoNotDodgeTheLimit(t *testing.T) {
	for name, start := range limitHarnesses {
		t.Run(name, func(t *testing.T) {
			h := start(t)
			w := int(h.srv.Runtime().Inbound.Per / time.Second)
			for i := 1; i <= 26; i++ {
				a := h.postFrom(t, "203.0.113.5", fmt.Sprintf("/hooks/leadsie?customUserId=u%d", i), "application/json", leadsieBody)
				wantCode, wantState := 200, fmt.Sprintf(`"inbound";r=%d;`, 25-i)
				if i == 26 {
					wantCode, wantState = 429, `"inbound";r=0;`
				}
				if a.code != wantCode {
					t.Fatalf("request %d with a new customUserId = %d %s, want %d", i, a.code, a.raw, wantCode)
				}
				if got, want := a.header.Get("RateLimit-Policy"), fmt.Sprintf(`"inbound";q=25;w=%d`, w); got != want {
					t.Fatalf("request %d: RateLimit-Policy = %q, want %q", i, got, want)
				}
				if got := a.header.Get("RateLimit"); !strings.HasPrefix(got, wantState) {
					t.Fatalf("request %d: RateLimit = %q, want %s…", i, got, wantState)
				}
			}
		})
	}
}

// TestNoSpendingAnotherClientsQuota: 25 posts from one address naming
// another client's ?customUserId= leave that client, posting from its own
// address, its whole quota.
func TestNoSpendingAnotherClientsQuota(t *testing.T) {
	for name, start := range limitHarnesses {
		t.Run(name, func(t *testing.T) {
			h := start(t)
			for i := 0; i < 30; i++ {
				h.postFrom(t, "198.51.100.66", "/hooks/leadsie?customUserId=victim", "application/json", leadsieBody)
			}
			a := h.postFrom(t, "203.0.113.10", "/hooks/leadsie?customUserId=victim", "application/json", leadsieBody)
			if a.code != 200 || !strings.HasPrefix(a.header.Get("RateLimit"), `"inbound";r=24;`) {
				t.Fatalf("the victim's own webhook = %d RateLimit %q, want 200 with r=24", a.code, a.header.Get("RateLimit"))
			}
		})
	}
}

// TestIPv6ClientsByTheirSlash64: the addresses of one IPv6 /64 share one
// limit; the next /64 has its own.
func TestIPv6ClientsByTheirSlash64(t *testing.T) {
	for name, start := range limitHarnesses {
		t.Run(name, func(t *testing.T) {
			h := start(t)
			for i := 1; i <= 26; i++ {
				addr := fmt.Sprintf("2001:db8:1:2:%x::%x", i, i)
				a := h.postFrom(t, addr, "/hooks/leadsie?customUserId=v6", "application/json", leadsieBody)
				if want := map[bool]int{true: 429, false: 200}[i == 26]; a.code != want {
					t.Fatalf("request %d from %s = %d %s, want %d", i, addr, a.code, a.raw, want)
				}
			}
			if a := h.postFrom(t, "2001:db8:1:3::1", "/hooks/leadsie?customUserId=v6", "application/json", leadsieBody); a.code != 200 {
				t.Fatalf("an address of the next /64 = %d %s, want 200", a.code, a.raw)
			}
		})
	}
}

// TestAuthenticatedKeysCount: with the source's token set, a request that
// passes authentication is limited by the key it names, so one address
// serving several clients (an integration platform) limits each apart; a
// request that fails authentication counts against its address.
func TestAuthenticatedKeysCount(t *testing.T) {
	t.Setenv("LEADSIE_WEBHOOK_TOKEN", "tok")
	h := newHarness(t, behindProxy, func(o *Options, rt *Runtime) { rt.Inbound = ratelimit.Limit{Requests: 2, Per: time.Minute} })
	for _, user := range []string{"a", "a", "b", "b"} {
		if a := h.postFrom(t, "203.0.113.5", "/hooks/leadsie?token=tok&customUserId="+user, "application/json", leadsieBody); a.code != 200 {
			t.Fatalf("authenticated request for %s = %d %s, want 200", user, a.code, a.raw)
		}
	}
	if a := h.postFrom(t, "203.0.113.5", "/hooks/leadsie?token=tok&customUserId=a", "application/json", leadsieBody); a.code != 429 {
		t.Fatalf("third for a = %d %s, want 429", a.code, a.raw)
	}
	for i, want := range []int{401, 401, 429} {
		if a := h.postFrom(t, "203.0.113.5", fmt.Sprintf("/hooks/leadsie?token=bad&customUserId=c%d", i), "application/json", leadsieBody); a.code != want {
			t.Fatalf("unauthenticated request %d = %d %s, want %d", i, a.code, a.raw, want)
		}
	}
}

// TestRedisFloodRefusedBeforeTheStore: on the Redis store, where the limit
// is checked in the store's write, the requests of an address after its
// first refusal are refused without a round trip to Redis, whatever their
// body, until that refusal's wait is over.
func TestRedisFloodRefusedBeforeTheStore(t *testing.T) {
	srv := redistest.Start(t)
	hook := &redistest.ScriptCounter{}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	rdb.AddHook(hook)
	t.Cleanup(func() { rdb.Close() })
	st := redisstore.New(rdb, redisstore.Options{})
	t.Cleanup(func() { st.Close() })
	h := newHarness(t, behindProxy, func(o *Options, rt *Runtime) {
		lim := ratelimit.NewRedis(rdb, ratelimit.RedisOptions{})
		o.Store, o.Limiter, o.WriteLimiter = st, lim, lim
		rt.Inbound = ratelimit.Limit{Requests: 3, Per: time.Minute}
	})
	for i := 0; i < 4; i++ {
		h.postFrom(t, "203.0.113.5", fmt.Sprintf("/hooks/leadsie?customUserId=u%d", i), "application/json", leadsieBody)
	}
	before := hook.N()
	for _, body := range []string{leadsieBody, `{"broken`, `{"a":` + strings.Repeat("[", 100)} {
		a := h.postFrom(t, "203.0.113.5", "/hooks/leadsie", "application/json", body)
		if a.code != 429 || a.header.Get("Retry-After") == "" || !strings.HasPrefix(a.header.Get("RateLimit"), `"inbound";r=0;`) {
			t.Fatalf("flood request = %d %s headers %v, want 429 with Retry-After and r=0", a.code, a.raw, a.header)
		}
	}
	if n := hook.N() - before; n != 0 {
		t.Fatalf("refused flood ran %d scripts in Redis, want 0", n)
	}
	if a := h.postFrom(t, "203.0.113.6", "/hooks/leadsie?customUserId=other", "application/json", leadsieBody); a.code != 200 {
		t.Fatalf("another address = %d %s, want 200", a.code, a.raw)
	}
	if n := testutil.ToFloat64(h.metrics.RateLimited.WithLabelValues("inbound")); n != 4 {
		t.Errorf("gateway_rate_limited_total{scope=inbound} = %v, want 4", n)
	}
}

// TestNestedBodiesStayBounded: bodies of half a megabyte of nested brackets,
// posted at once, are each a 400 naming the depth, and the process's memory
// from the OS grows by far less than the recursion of a validator would
// take (hundreds of megabytes for ten of them). Within the limit and past
// it, on the JSON content types.
func TestNestedBodiesStayBounded(t *testing.T) {
	const (
		concurrent = 10
		size       = 512 << 10
		bound      = 120 << 20
	)
	h := newHarness(t, behindProxy, func(o *Options, rt *Runtime) {
		o.BodyLimit, rt.BodyLimit = 1<<20, 1<<20
		rt.Inbound = ratelimit.Limit{Requests: 1000, Per: time.Second}
	})
	deep := `{"a":` + strings.Repeat("[", size)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	answers := make([]answer, 2*concurrent)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ct := "application/json"
			if i%2 == 1 {
				ct = "text/plain"
			}
			answers[i] = h.postFrom(t, fmt.Sprintf("203.0.113.%d", i), "/hooks/website", ct, deep)
		}()
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	if grew := after.Sys - before.Sys; grew > bound {
		t.Fatalf("memory from the OS grew by %d MB over %d nested bodies, want under %d MB (stack %d MB)",
			grew>>20, len(answers), bound>>20, after.StackSys>>20)
	}
	for i, a := range answers {
		if a.code != 400 || !strings.Contains(a.raw, "nested deeper than 64 levels") {
			t.Fatalf("nested body %d = %d %.200s, want 400 naming the depth", i, a.code, a.raw)
		}
	}
}

// TestFieldFloodKeepsTheLeadBounded: eight posts of 20,000 invented keys
// each, within the rate limit, all stored (200), leave one lead of at most
// 200 fields and small events, and gateway_fields_dropped_total counts
// every key left out.
func TestFieldFloodKeepsTheLeadBounded(t *testing.T) {
	const posts, keysPerPost = 8, 20_000
	h := newHarness(t, behindProxy, func(o *Options, rt *Runtime) {
		o.BodyLimit, rt.BodyLimit = 1<<20, 1<<20
	})
	for p := 0; p < posts; p++ {
		var b strings.Builder
		b.WriteString(`{"email": "flood@example.com"`)
		for i := 0; i < keysPerPost; i++ {
			fmt.Fprintf(&b, `,"p%d_%05d":"v"`, p, i)
		}
		b.WriteString("}")
		if a := h.postFrom(t, "203.0.113.5", "/hooks/website", "application/json", b.String()); a.code != 200 {
			t.Fatalf("post %d = %d %.300s, want 200", p, a.code, a.raw)
		}
	}
	ds := h.pending(t, "crm")
	if len(ds) == 0 {
		t.Fatal("no events stored")
	}
	for _, d := range ds {
		if n := len(d.Event.Lead.Fields); n > lead.MaxFields {
			t.Fatalf("%s carries a lead of %d fields, want at most %d", d.Event.Event, n, lead.MaxFields)
		}
		body, err := json.Marshal(d.Event)
		if err != nil {
			t.Fatal(err)
		}
		if len(body) > 2*lead.MaxFieldsBytes {
			t.Fatalf("%s is %d bytes, want a bounded event", d.Event.Event, len(body))
		}
	}
	if got, want := testutil.ToFloat64(h.metrics.FieldsDropped.WithLabelValues("website")), float64(posts*keysPerPost-lead.MaxFields); got != want {
		t.Fatalf("gateway_fields_dropped_total{source=website} = %v, want %v", got, want)
	}
}
