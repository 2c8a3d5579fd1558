package ratelimit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// minWait keeps a limiter that answers "refused, retry after 0" (a clock
// tick between the decision and the window's edge) from being spun on.
const minWait = time.Millisecond

// Wait paces outbound work: it blocks until l admits a request under key,
// sleeping each refusal's RetryAfter in between, so work is delayed and
// never dropped. It returns nil once admitted, the context's error if ctx
// ends first, and the limiter's error if it cannot decide.
//
// Each sleep is stretched by up to 10% at random so that workers on several
// replicas refused together do not all come back in the same instant.
func Wait(ctx context.Context, l Limiter, key string, lim Limit) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		// An admission recorded for work that will not happen would cost
		// the next caller its slot.
		if err := ctx.Err(); err != nil {
			return err
		}
		d, err := l.Allow(ctx, key, lim)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return fmt.Errorf("wait for rate limit %q: %w", key, err)
		}
		if d.Allowed {
			return nil
		}
		sleep := max(d.RetryAfter, minWait)
		sleep += time.Duration(rand.Int64N(int64(sleep)/10 + 1))
		if timer == nil {
			timer = time.NewTimer(sleep)
		} else {
			timer.Reset(sleep)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
	}
}
