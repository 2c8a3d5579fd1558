package server

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestAdminKeysBruteForce: contract §7 through the real /admin route. Ten
// wrong key pairs a minute from one address are answered 401; from the
// eleventh on, every attempt from that address (right keys included, so a
// guess cannot show through) is a 429 with Retry-After in the gateway's
// error JSON. Other addresses are not held up, successes do not count, an
// IPv6 client counts by its /64, and behind a trusted proxy the address is
// the forwarded one.
func TestAdminKeysBruteForce(t *testing.T) {
	h := newHarness(t, func(o *Options, _ *Runtime) { o.TrustedProxies = []string{"0.0.0.0"} })
	call := func(from, access, secret string) answer {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/admin/dead-letters", nil)
		req.Header.Set("X-Forwarded-For", from)
		req.Header.Set("X-Access-Key", access)
		req.Header.Set("X-Secret-Key", secret)
		return h.do(t, req)
	}
	for i := range 25 {
		if a := call("203.0.113.9", accessKey, secretKey); a.code != 200 {
			t.Fatalf("right keys, call %d: %d %s", i, a.code, a.raw)
		}
	}
	if a := call("203.0.113.9", accessKey, "wrong"); a.code != 401 {
		t.Fatalf("a wrong pair after 25 right ones = %d, want 401 (successes do not count)", a.code)
	}
	for i := range 10 {
		if a := call("198.51.100.7", accessKey, "guess-"+strconv.Itoa(i)); a.code != 401 {
			t.Fatalf("wrong pair %d = %d %s, want 401", i+1, a.code, a.raw)
		}
	}
	for _, keys := range [][2]string{{accessKey, "guess-11"}, {accessKey, secretKey}} {
		a := call("198.51.100.7", keys[0], keys[1])
		if a.code != 429 || a.body["error"] != "too many wrong admin keys" {
			t.Fatalf("attempt after 10 failures (%s) = %d %s, want 429 in the error JSON", keys[1], a.code, a.raw)
		}
		if s, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
			t.Fatalf("Retry-After = %q, want 1..60 seconds", a.header.Get("Retry-After"))
		}
	}
	if a := call("198.51.100.8", accessKey, secretKey); a.code != 200 {
		t.Fatalf("another address = %d, want 200", a.code)
	}
	for i := range 10 {
		call("2001:db8:1:2::"+strconv.Itoa(i+1), "x", "y")
	}
	if a := call("2001:db8:1:2:ffff::1", accessKey, secretKey); a.code != 429 {
		t.Fatalf("same /64 after 10 failures = %d, want 429", a.code)
	}
	if a := call("2001:db8:1:3::1", accessKey, secretKey); a.code != 200 {
		t.Fatalf("next /64 = %d, want 200", a.code)
	}
	if got := testutil.ToFloat64(h.metrics.RateLimited.WithLabelValues("api")); got != 3 {
		t.Fatalf("gateway_rate_limited_total{scope=api} = %v, want 3", got)
	}
}
