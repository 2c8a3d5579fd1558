package console_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"leadgate/gateway/console"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/redistest"
	"leadgate/gateway/server"
)

// TestSignOutEndsTheSessionOnTheServer: after a sign-out, the old cookie
// replayed (as one copied before the sign-out would be) is refused, by
// this replica and by another sharing the Redis; another session of the
// same keys goes on working.
func TestSignOutEndsTheSessionOnTheServer(t *testing.T) {
	srv := redistest.Start(t)
	shared := func(o *console.Options) {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { c.Close() })
		o.Limiter = ratelimit.NewRedis(c, ratelimit.RedisOptions{})
	}
	a := startGatewayWith(t, "http://127.0.0.1:9/", shared)
	b := startGatewayWith(t, "http://127.0.0.1:9/", shared)
	cookie, other := sessionCookie(t, a), sessionCookie(t, a)
	for _, g := range []*gateway{a, b} {
		if res, body := do(t, http.MethodGet, g.base+"/ui/api/meta", "", consoleHeaders(cookie)); res.StatusCode != http.StatusOK {
			t.Fatalf("before sign-out: %d %s", res.StatusCode, body)
		}
	}
	if res, body := do(t, http.MethodPost, a.base+"/ui/api/logout", "", consoleHeaders(cookie)); res.StatusCode != http.StatusOK {
		t.Fatalf("logout = %d %s", res.StatusCode, body)
	}
	for _, g := range []*gateway{a, b} {
		if res, body := do(t, http.MethodGet, g.base+"/ui/api/meta", "", consoleHeaders(cookie)); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("old cookie replayed after sign-out: %d %s, want 401", res.StatusCode, body)
		}
		if res, body := do(t, http.MethodGet, g.base+"/ui/", "", map[string]string{"Cookie": cookie}); !strings.Contains(body, `action="/ui/login"`) {
			t.Fatalf("old cookie on /ui/: %d, want the sign-in form", res.StatusCode)
		}
		if res, body := do(t, http.MethodGet, g.base+"/ui/api/meta", "", consoleHeaders(other)); res.StatusCode != http.StatusOK {
			t.Fatalf("another session after the sign-out: %d %s, want 200", res.StatusCode, body)
		}
	}
}

// TestSignInSlowedDown: contract §7 through the real sign-in form. Ten
// wrong key pairs a minute from one address get the form again with 401;
// from the eleventh on, every sign-in from that address, right keys
// included, gets it with 429, Retry-After and no cookie. Another address
// signs in.
func TestSignInSlowedDown(t *testing.T) {
	g := startGateway(t, "http://127.0.0.1:9/", func(o *server.Options) { o.TrustedProxies = []string{"127.0.0.1"} })
	signInFrom := func(from, secret string) (*http.Response, string) {
		form := url.Values{"access_key": {testAccess}, "secret_key": {secret}}.Encode()
		return do(t, http.MethodPost, g.base+"/ui/login", form, map[string]string{
			"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": from})
	}
	for range 3 {
		if res, _ := signInFrom("203.0.113.5", testSecret); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("right keys = %d, want 303", res.StatusCode)
		}
	}
	for i := range 10 {
		if res, body := signInFrom("203.0.113.5", "guess"+strconv.Itoa(i)); res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not right") {
			t.Fatalf("wrong keys %d = %d, want 401 with the form", i+1, res.StatusCode)
		}
	}
	for _, secret := range []string{"guess11", testSecret} {
		res, body := signInFrom("203.0.113.5", secret)
		if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many wrong keys") || !strings.Contains(body, `action="/ui/login"`) {
			t.Fatalf("after 10 failures = %d, want 429 with the form: %s", res.StatusCode, body)
		}
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
			t.Fatalf("Retry-After = %q", res.Header.Get("Retry-After"))
		}
		for _, c := range res.Cookies() {
			if c.Name == console.CookieName && c.Value != "" {
				t.Fatal("a throttled sign-in set a session cookie")
			}
		}
	}
	if res, _ := signInFrom("203.0.113.6", testSecret); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("another address = %d, want 303", res.StatusCode)
	}
}
