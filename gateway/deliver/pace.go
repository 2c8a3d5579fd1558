package deliver

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"leadgate/gateway/metrics"
	"leadgate/gateway/ratelimit"
)

// pacer is a paced destination's view of its limiter: what the limiter
// last said, so its worker leases only what pacing can admit within a
// lease. The limiter itself (Options.Limiter, shared by every replica when
// it is Redis) decides each admission; the pacer only keeps the loop from
// leasing deliveries that would wait out their lease.
type pacer struct {
	mu        sync.Mutex
	remaining int       // admissions left in the window at the limiter's last answer
	asking    int       // leased deliveries whose first answer is still to come
	known     time.Time // when the limiter last answered; zero: never
	refused   bool      // its last answer was a refusal, until then
	until     time.Time
}

// paceRecheck is how often the loop of a paced destination looks again
// while its leased deliveries have yet to ask the limiter.
const paceRecheck = 20 * time.Millisecond

// room says how many deliveries the loop may lease now or, when none,
// until when to wait: what the limiter last left in the window, less the
// leased deliveries that have yet to ask it (the limiter's count does not
// hold them yet).
func (p *pacer) room(lim ratelimit.Limit, now time.Time) (int, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	room := p.remaining
	switch {
	case p.refused && now.Before(p.until):
		return 0, p.until
	case p.refused:
		// One more is admitted by now; the next answer says more.
		p.refused, p.remaining, room = false, 1, 1
	case p.known.IsZero() || now.Sub(p.known) >= lim.Per:
		room = lim.Requests
	}
	if room -= p.asking; room <= 0 {
		return 0, now.Add(paceRecheck)
	}
	return room, time.Time{}
}

// reserve counts n leased deliveries against the room given, until each
// has its first answer from the limiter (answered).
func (p *pacer) reserve(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asking += n
}

// answered ends one reserved delivery's wait for its first answer, whether
// the limiter answered (noted first) or it gave up before.
func (p *pacer) answered() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asking = max(p.asking-1, 0)
}

// forget drops what the limiter last said, so the loop leases as for a
// destination it has not paced yet.
func (p *pacer) forget() {
	p.mu.Lock()
	defer p.mu.Unlock()
	// asking stays: those deliveries are leased and will still ask.
	p.remaining, p.known, p.refused, p.until = 0, time.Time{}, false, time.Time{}
}

// note records the limiter's answer to one delivery. Answers to
// concurrent deliveries can arrive in another order than the limiter gave
// them, so within one window the room only shrinks: a stale, larger
// remaining would let the loop lease more than can be admitted. The room
// grows again when the window has passed (room).
func (p *pacer) note(dec ratelimit.Decision, lim ratelimit.Limit, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.known.IsZero() || now.Sub(p.known) >= lim.Per || dec.Remaining < p.remaining {
		p.remaining = dec.Remaining
	}
	p.known = now
	p.refused = !dec.Allowed
	if p.refused {
		p.until = now.Add(dec.RetryAfter)
	}
}

// limiterRetry is how long pacing waits before asking a failing limiter
// again.
const limiterRetry = time.Second

// pace waits until d's rate limit admits one more delivery, so no rolling
// window carries more than the limit; deliveries wait, none is dropped. A
// limiter error (Redis down) waits and asks again: pacing fails closed. It
// returns false only when ctx ends first. What the limiter says is noted on
// w's pacer, so the loop leases no more than can be admitted.
func (dp *Dispatcher) pace(ctx context.Context, w *worker, d *Destination) bool {
	key := "out:" + d.Name
	lim := paceLimit(d)
	failing, counted, first := false, false, true
	defer func() {
		if first { // reserved by the loop, and leaving without an answer
			w.pace.answered()
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
			if !sleep(ctx, limiterRetry) {
				return false
			}
			continue
		}
		w.pace.note(dec, lim, dp.clock.now())
		if first {
			w.pace.answered()
			first = false
		}
		if dec.Allowed {
			return true
		}
		if !counted {
			dp.m.RateLimited.WithLabelValues(metrics.ScopeOutbound).Inc()
			counted = true
		}
		if !sleep(ctx, spread(dec.RetryAfter)) {
			return false
		}
	}
}

// spread stretches a refusal's wait by up to a tenth, so replicas refused
// together do not all come back in the same instant.
func spread(retryAfter time.Duration) time.Duration {
	wait := max(retryAfter, time.Millisecond)
	return wait + time.Duration(rand.Int64N(int64(wait)/10+1))
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
