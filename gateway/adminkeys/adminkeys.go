// Package adminkeys checks the admin keys (admin.access_key and
// admin.secret_key), which guard the admin API, the web console's sign-in
// and the LeadSquared-compatible API, and slows down whoever guesses them:
// after FailureLimit wrong pairs from one address, every attempt from that
// address is refused with a Retry-After until the window frees a slot,
// right keys included, so that the refusals cannot tell a guess apart.
package adminkeys

import (
	"context"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"leadgate/gateway/credential"
	"leadgate/gateway/ratelimit"
)

// Match compares a presented key pair with the configured one with credential.Equal;
// an empty configured key never matches (the admin keys unset turn every
// door they guard off). Both keys are always compared, so the answer's
// timing does not tell which one was wrong. The admin API, the console
// and the LeadSquared API all come through it.
func Match(access, secret, gotAccess, gotSecret string) bool {
	if access == "" || secret == "" {
		return false
	}
	a := credential.Equal([]byte(gotAccess), []byte(access))
	b := credential.Equal([]byte(gotSecret), []byte(secret))
	return a && b
}

// FailureLimit is contract §7's slowdown: 10 wrong key pairs a minute from
// one address.
var FailureLimit = ratelimit.Limit{Requests: 10, Per: time.Minute}

// Limiter is what the Guard needs of a rate limiter: both of ratelimit's
// backends. Allow records a failure; Peek asks, before the keys are
// compared, whether the address is already over.
type Limiter interface {
	Allow(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Decision, error)
	Peek(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Decision, error)
}

var (
	_ Limiter = (*ratelimit.Local)(nil)
	_ Limiter = (*ratelimit.Redis)(nil)
)

// Options wires a Guard; every field has a default.
type Options struct {
	// Limiter keeps the failures: the gateway's limiter, so that with Redis
	// every replica shares one count per address. Default in process.
	Limiter Limiter
	// ClientIP is the request's client address behind trusted proxies
	// (server.Server.ClientIP); default the peer address.
	ClientIP func(*fiber.Ctx) string
	// Limit defaults to FailureLimit.
	Limit ratelimit.Limit
	// Throttled counts refused attempts (gateway_rate_limited_total
	// {scope="api"}); nil counts nothing.
	Throttled prometheus.Counter
	Log       *slog.Logger
}

// Guard is the key check with the slowdown. It is safe for concurrent use.
type Guard struct {
	opts Options
}

// limiterTimeout bounds one limiter call: a hung shared limiter should cost
// an attempt little before the keys are compared without it.
const limiterTimeout = 2 * time.Second

// New returns a Guard.
func New(opts Options) *Guard {
	if opts.Limiter == nil {
		opts.Limiter = ratelimit.NewLocal(ratelimit.LocalOptions{})
	}
	if opts.ClientIP == nil {
		opts.ClientIP = func(c *fiber.Ctx) string { return c.Context().RemoteIP().String() }
	}
	if opts.Limit == (ratelimit.Limit{}) {
		opts.Limit = FailureLimit
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Guard{opts: opts}
}

// Verdict is a Check's answer.
type Verdict int

const (
	// Granted: the keys match and the address is not slowed down.
	Granted Verdict = iota
	// Denied: wrong or missing keys (counted against the address).
	Denied
	// Throttled: the address is over the limit; the keys were not compared.
	Throttled
)

// Check judges the keys a request presents (gotAccess, gotSecret) against
// the configured ones. Throttled comes with how long to wait. A failure is
// counted against the request's address (IPv6 by /64, since one host holds
// a whole /64); a success is not. When the limiter cannot be reached the
// keys are still compared, without the slowdown, and that is logged.
func (g *Guard) Check(c *fiber.Ctx, access, secret, gotAccess, gotSecret string) (Verdict, time.Duration) {
	key := Key(g.opts.ClientIP(c))
	ctx, cancel := context.WithTimeout(context.Background(), limiterTimeout)
	defer cancel()
	if d, err := g.opts.Limiter.Peek(ctx, key, g.opts.Limit); err != nil {
		g.opts.Log.Warn("admin key slowdown unavailable; checking keys without it", "error", err.Error())
	} else if !d.Allowed {
		return g.throttled(d)
	}
	if Match(access, secret, gotAccess, gotSecret) {
		return Granted, 0
	}
	d, err := g.opts.Limiter.Allow(ctx, key, g.opts.Limit)
	if err != nil {
		g.opts.Log.Warn("admin key slowdown unavailable; failure not counted", "error", err.Error())
		return Denied, 0
	}
	if !d.Allowed {
		// Another request from the address used the last slot meanwhile.
		return g.throttled(d)
	}
	return Denied, 0
}

func (g *Guard) throttled(d ratelimit.Decision) (Verdict, time.Duration) {
	if g.opts.Throttled != nil {
		g.opts.Throttled.Inc()
	}
	return Throttled, d.RetryAfter
}

// RetryAfterSeconds is a Throttled wait as Retry-After's whole seconds,
// rounded up and at least 1.
func RetryAfterSeconds(wait time.Duration) int {
	return ratelimit.RetryAfterSeconds(ratelimit.Decision{RetryAfter: wait})
}

// Key is the limiter key of a client address: ratelimit.Address, its /64
// for IPv6 (one host is commonly given a whole /64, so counting single
// addresses would let it guess 2^64 times as often).
func Key(ip string) string { return "admin-fail:" + ratelimit.Address(ip) }
