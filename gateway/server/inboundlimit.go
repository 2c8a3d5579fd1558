package server

import (
	"context"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/httperr"
	"leadgate/gateway/mapping"
	"leadgate/gateway/metrics"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/store"
)

// rateKey is the limiter key of a request that authenticated and parsed:
// per source and the mapping's client key, or the client's address when the
// mapping keys on it or the request names no key.
func rateKey(m *mapping.Mapping, in mapping.Input) string {
	return "in:" + m.Name() + ":" + m.RateKey(in)
}

// limitBefore applies the limit of key ahead of the rest of the request:
// the limiter decides now (limited), or, when the store decides in its
// write, a refusal still remembered for key is answered now and the check
// is handed over for the store.
func (s *Server) limitBefore(ctx context.Context, c *fiber.Ctx, rt *Runtime, key string) (limited bool, check *store.LimitCheck, err error) {
	if check = s.storeCheck(rt, key); check == nil {
		return true, nil, s.limit(ctx, c, rt, key)
	}
	if d, ok := s.refusals.refused(key, rt.Inbound); ok {
		return true, nil, s.decided(c, key, d)
	}
	return false, check, nil
}

// limit applies the inbound limit under key and sets the rate-limit headers
// on every response of the route.
func (s *Server) limit(ctx context.Context, c *fiber.Ctx, rt *Runtime, key string) error {
	d, err := s.opts.Limiter.Allow(ctx, key, rt.Inbound)
	if err != nil {
		s.limitUnknown(c, rt)
		return &httperr.Error{Code: fiber.StatusServiceUnavailable, Msg: "rate limiter unavailable, retry later", RetryAfter: 1, Err: err}
	}
	return s.decided(c, key, d)
}

// limitUnknown sets the route's rate-limit headers when the limiter could
// not be asked: the policy is known, and no room is the honest state.
func (s *Server) limitUnknown(c *fiber.Ctx, rt *Runtime) {
	policy, state := ratelimit.Headers(ratelimit.Decision{Limit: rt.Inbound, Reset: time.Second}, "inbound")
	c.Set("RateLimit-Policy", policy)
	c.Set("RateLimit", state)
}

// decided sets the rate-limit headers of the decision on key and answers
// the 429 of a refused request, which it remembers (refusals).
func (s *Server) decided(c *fiber.Ctx, key string, d ratelimit.Decision) error {
	policy, state := ratelimit.Headers(d, "inbound")
	c.Set("RateLimit-Policy", policy)
	c.Set("RateLimit", state)
	if d.Allowed {
		return nil
	}
	if s.checker != nil {
		s.refusals.note(key, d)
	}
	if s.opts.Metrics != nil {
		s.opts.Metrics.RateLimited.WithLabelValues(metrics.ScopeInbound).Inc()
	}
	wait := ratelimit.RetryAfterSeconds(d)
	return &httperr.Error{Code: fiber.StatusTooManyRequests, Msg: "rate limited",
		Details:    []any{"at most " + strconv.Itoa(d.Limit.Requests) + " requests per " + d.Limit.Per.String() + " per client; retry after " + strconv.Itoa(wait) + "s"},
		RetryAfter: wait}
}

// storeCheck prepares the inbound limit of key for the store to check in
// its write, or answers nil when the store or the limiter cannot.
func (s *Server) storeCheck(rt *Runtime, key string) *store.LimitCheck {
	if s.checker == nil {
		return nil
	}
	check, err := s.checker.Check(key, rt.Inbound)
	if err != nil {
		return nil // an invalid limit: the limiter's own call reports it
	}
	return writeCheck(check)
}
