// Package ratelimit is the exact sliding-window limiter: a log of admitted
// requests per key, so that no rolling window ever admits more than the
// limit. It runs in process for the embedded mode and as one Lua script in
// Redis so that every replica shares one count.
package ratelimit

import (
	"context"
	"time"
)

// Limit is how many requests a rolling window of Per admits. The yaml tags
// are how gateway.yaml writes one (rate_limit: {requests, per}).
type Limit struct {
	Requests int           `yaml:"requests"`
	Per      time.Duration `yaml:"per"`
}

// Decision is the limiter's answer for one request.
type Decision struct {
	Allowed bool
	// Limit is the limit applied.
	Limit Limit
	// Remaining is how many more requests the window admits now.
	Remaining int
	// Reset is how long until the next slot frees: an admission still
	// counted leaves the window, which frees one slot, not a full Limit (a
	// sliding log has no moment when the whole quota comes back). When
	// Allowed it is the oldest admission's departure; when refused, the
	// departure that makes room, so Reset equals RetryAfter.
	Reset time.Duration
	// RetryAfter is how long until one more request would be admitted; zero
	// when Allowed.
	RetryAfter time.Duration
}

// Limiter admits or refuses one request under key. Errors reaching a shared
// backend are returned; the caller decides whether to fail open or closed.
type Limiter interface {
	Allow(ctx context.Context, key string, l Limit) (Decision, error)
}
