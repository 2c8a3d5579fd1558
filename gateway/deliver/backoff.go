package deliver

import "time"

// backoff is a wait that doubles from min up to max each time it is taken,
// and starts over from min on reset. The dispatcher's idle poll, its
// retries of a failing Lease and its retries of a failing Settle all back
// off this way; the retry schedule of a delivery is the destination's own
// (retryPolicy), not this.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(min, max time.Duration) backoff {
	return backoff{min: min, max: max, cur: min}
}

// next returns the wait to take now and doubles the one after it.
func (b *backoff) next() time.Duration {
	d := b.cur
	b.cur = min(b.cur*2, b.max)
	return d
}

// reset starts over from min, once the thing waited for has happened.
func (b *backoff) reset() { b.cur = b.min }
