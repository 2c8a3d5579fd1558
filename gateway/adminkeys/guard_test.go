package adminkeys

import (
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"leadgate/gateway/ratelimit"
	"leadgate/gateway/redistest"
)

// replica is one gateway's guard behind a route that answers its verdict.
func replica(t *testing.T, lim Limiter) *fiber.App {
	t.Helper()
	g := New(Options{Limiter: lim, ClientIP: func(c *fiber.Ctx) string { return c.Get("X-Client") }})
	app := fiber.New()
	app.Get("/", func(c *fiber.Ctx) error {
		v, wait := g.Check(c, "ak", "sk", c.Get("X-Access-Key"), c.Get("X-Secret-Key"))
		c.Set("X-Wait", strconv.Itoa(RetryAfterSeconds(wait)))
		return c.SendString(strconv.Itoa(int(v)))
	})
	return app
}

func verdict(t *testing.T, app *fiber.App, client, access, secret string) Verdict {
	t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Client", client)
	req.Header.Set("X-Access-Key", access)
	req.Header.Set("X-Secret-Key", secret)
	res, err := app.Test(req)
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	n, _ := res.Body.Read(b[:])
	v, _ := strconv.Atoi(string(b[:n]))
	return Verdict(v)
}

// TestGuardSharedByReplicas: two replicas on one Redis count one
// address's failures together, and a right pair does not count.
func TestGuardSharedByReplicas(t *testing.T) {
	srv := redistest.Start(t)
	newLim := func() Limiter {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { c.Close() })
		return ratelimit.NewRedis(c, ratelimit.RedisOptions{})
	}
	a, b := replica(t, newLim()), replica(t, newLim())
	for i := range 20 {
		if v := verdict(t, []*fiber.App{a, b}[i%2], "192.0.2.1", "ak", "sk"); v != Granted {
			t.Fatalf("right pair %d = %d, want Granted", i, v)
		}
	}
	for i := range 10 {
		if v := verdict(t, []*fiber.App{a, b}[i%2], "192.0.2.1", "ak", "guess"); v != Denied {
			t.Fatalf("wrong pair %d = %d, want Denied", i+1, v)
		}
	}
	for _, app := range []*fiber.App{a, b} {
		if v := verdict(t, app, "192.0.2.1", "ak", "sk"); v != Throttled {
			t.Fatalf("right pair after 10 failures on two replicas = %d, want Throttled", v)
		}
	}
	if v := verdict(t, a, "192.0.2.2", "ak", "sk"); v != Granted {
		t.Fatalf("another address = %d, want Granted", v)
	}
}
