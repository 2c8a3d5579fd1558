package deliver

import (
	"net/http"
	"time"

	"leadgate/gateway/store"
)

// The outcome of one attempt is decided here and nowhere else, as a pure
// function of what the attempt got back, which attempt it was and the
// destination's retry policy. Counting, logging, holding the queue and
// disabling the destination are the caller's (Dispatcher.judge), done as
// the verdict says.

// attemptResult is what one attempt came to.
type attemptResult struct {
	Res Result
	// Err is nil for a 2xx (Sender's contract).
	Err error
	// Number counts attempts from 1.
	Number int
}

// retryPolicy is what decides whether and when a failed delivery goes
// again.
type retryPolicy struct {
	MaxAttempts int
	// Schedule[i] is the wait before attempt i+2; the last entry repeats.
	Schedule []time.Duration
	// Jitter spreads a scheduled wait (Options.Jitter).
	Jitter func(time.Duration) time.Duration
}

// policyOf is d's retry policy, its defaults applied.
func policyOf(d *Destination, jitter func(time.Duration) time.Duration) retryPolicy {
	return retryPolicy{MaxAttempts: d.maxAttempts(), Schedule: d.schedule(), Jitter: jitter}
}

// retryDelay is the jittered schedule's wait before attempt+1, or the
// destination's Retry-After (capped at MaxRetryAfter) when that is longer.
func (p retryPolicy) retryDelay(attempt int, retryAfter time.Duration) time.Duration {
	wait := p.Jitter(p.Schedule[min(attempt-1, len(p.Schedule)-1)])
	return max(wait, min(retryAfter, MaxRetryAfter))
}

// verdict is an attempt's outcome and the effects it asks for.
type verdict struct {
	// State is store.Delivered, store.Retrying or store.Dead.
	State string
	// RetryIn is, when Retrying, the wait before the next attempt.
	RetryIn time.Duration
	// Reason says, when Dead, why: for the log.
	Reason string
	// Hold, when positive, holds the destination's whole queue that long:
	// it answered 429 or 503 with a Retry-After, asking every sender to
	// slow down, not only this delivery.
	Hold time.Duration
	// Disable turns the destination off until its config changes: it
	// answered 410 Gone.
	Disable bool
}

// Dead-letter reasons, as logged.
const (
	reasonNotRetryable = "not retryable"
	reasonAttemptsUsed = "attempts used up"
	reasonGone         = "gone: destination disabled until its config changes"
)

// decide is the outcome of attempt a under policy p. A 2xx is delivered; a
// failure the sender calls retryable (network errors, timeouts, 408, 425,
// 429, 5xx) is retried on p's schedule, or after the Retry-After when that
// is longer, until the attempts are used up; anything else is dead, and a
// 410 also disables the destination.
func decide(a attemptResult, p retryPolicy) verdict {
	if a.Err == nil {
		return verdict{State: store.Delivered}
	}
	var v verdict
	code := a.Res.Code
	if a.Res.RetryAfter > 0 && (code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable) {
		v.Hold = min(a.Res.RetryAfter, MaxRetryAfter)
	}
	switch {
	case a.Res.Retry && a.Number < p.MaxAttempts:
		v.State = store.Retrying
		v.RetryIn = p.retryDelay(a.Number, a.Res.RetryAfter)
	case code == http.StatusGone:
		v.State, v.Reason, v.Disable = store.Dead, reasonGone, true
	case a.Res.Retry:
		v.State, v.Reason = store.Dead, reasonAttemptsUsed
	default:
		v.State, v.Reason = store.Dead, reasonNotRetryable
	}
	return v
}
