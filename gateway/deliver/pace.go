package deliver

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"leadgate/gateway/ratelimit"
)

// pace waits until d's rate limit admits one more delivery, so no rolling
// window carries more than the limit; deliveries wait, none is dropped. A
// limiter error (Redis down) waits and asks again: pacing fails closed. It
// returns false only when ctx ends first. What the limiter says is noted on
// w, so the loop leases no more than can be admitted.
func (dp *Dispatcher) pace(ctx context.Context, w *worker, d *Destination) bool {
	key := "out:" + d.Name
	lim := paceLimit(d)
	failing, counted, first := false, false, true
	defer func() {
		if first { // reserved by the loop, and leaving without an answer
			w.answered()
		}
	}()
	for {
		dec, err := dp.opts.Limiter.Allow(ctx, key, lim)
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			if !failing {
				dp.log.Warn("outbound rate limiter unavailable, deliveries wait", "destination", d.Name, "error", err.Error())
				failing = true
			}
			if !sleep(ctx, time.Second) {
				return false
			}
			continue
		}
		w.note(dec, lim, time.Now())
		if first {
			w.answered()
			first = false
		}
		if dec.Allowed {
			return true
		}
		if !counted {
			dp.m.RateLimited.WithLabelValues("outbound").Inc()
			counted = true
		}
		// Stretched by up to a tenth so replicas refused together do not
		// all come back in the same instant.
		wait := max(dec.RetryAfter, time.Millisecond)
		wait += time.Duration(rand.Int64N(int64(wait)/10 + 1))
		if !sleep(ctx, wait) {
			return false
		}
	}
}

// paceLimit is d's rate limit with its window stretched by paceMargin: an
// admission happens before the connect and the request, so a request can
// reach the destination a little after it was admitted. Admitting no more
// than the limit in any window of Per+margin keeps every window of Per at
// the receiver within the limit as long as a request arrives within margin
// of its admission.
func paceLimit(d *Destination) ratelimit.Limit {
	return ratelimit.Limit{Requests: d.RateLimit.Requests, Per: d.RateLimit.Per + paceMargin(d.RateLimit.Per)}
}

// paceMargin is a tenth of the window, at least 50 ms and at most 1 s:
// 500 ms for LeadSquared's and Ledsak's 25 calls per 5 s.
func paceMargin(per time.Duration) time.Duration {
	return min(max(per/10, 50*time.Millisecond), time.Second)
}

// sleep waits d and says false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func slicesSortByName(ds []Destination) {
	slices.SortFunc(ds, func(a, b Destination) int { return cmp.Compare(a.Name, b.Name) })
}
