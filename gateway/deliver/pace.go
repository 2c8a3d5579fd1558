package deliver

import (
	"cmp"
	"context"
	"slices"
	"time"

	"leadgate/gateway/ratelimit"
)

// pace waits until d's rate limit admits one more delivery, so no rolling
// window carries more than the limit; deliveries wait, none is dropped. A
// limiter error (Redis down) waits and asks again: pacing fails closed. It
// returns false only when ctx ends first.
func (dp *Dispatcher) pace(ctx context.Context, d *Destination) bool {
	key := "out:" + d.Name
	dec, err := dp.opts.Limiter.Allow(ctx, key, d.RateLimit)
	if err == nil && dec.Allowed {
		return true
	}
	if err == nil {
		dp.m.RateLimited.WithLabelValues("outbound").Inc()
	}
	failing := false
	for {
		if err == nil {
			err = ratelimit.Wait(ctx, dp.opts.Limiter, key, d.RateLimit)
			if err == nil {
				return true
			}
		}
		if ctx.Err() != nil {
			return false
		}
		if !failing {
			dp.log.Warn("outbound rate limiter unavailable, deliveries wait", "destination", d.Name, "error", err.Error())
			failing = true
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		err = nil
	}
}

func slicesSortByName(ds []Destination) {
	slices.SortFunc(ds, func(a, b Destination) int { return cmp.Compare(a.Name, b.Name) })
}
