package server

import (
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/store"
)

// WriteLimiter prepares an inbound limit check that the store runs inside
// its own Ingest write (store.IngestRequest.Limit), so that the check and
// the enqueue are one round trip. The Redis limiter is one, for the Redis
// store.
type WriteLimiter interface {
	Check(key string, l ratelimit.Limit) (ratelimit.Check, error)
}

var _ WriteLimiter = (*ratelimit.Redis)(nil)

// writeCheck is the limiter's prepared check as the store carries it.
func writeCheck(c ratelimit.Check) *store.LimitCheck {
	return &store.LimitCheck{Key: c.Key, Requests: c.Limit.Requests, Per: c.Limit.Per,
		WindowUS: c.WindowUS, Member: c.Member}
}

// inboundDecision is the store's answer to check as the limiter's decision,
// for the rate-limit headers and the 429.
func inboundDecision(check *store.LimitCheck, d *store.LimitDecision) ratelimit.Decision {
	return ratelimit.Decision{Allowed: d.Allowed, Limit: ratelimit.Limit{Requests: check.Requests, Per: check.Per},
		Remaining: d.Remaining, Reset: d.Reset, RetryAfter: d.RetryAfter}
}
