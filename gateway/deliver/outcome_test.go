package deliver

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"leadgate/gateway/policy"
	"leadgate/gateway/store"
)

// TestDecide: every answer an attempt can get, and what it comes to. The
// Results are those HTTPSender returns for each case.
func TestDecide(t *testing.T) {
	p := retryPolicy{
		MaxAttempts: 3,
		Schedule:    []time.Duration{10 * time.Second, 100 * time.Second},
		Jitter:      func(d time.Duration) time.Duration { return d },
	}
	status := func(code int) error { return fmt.Errorf("send: %w", &StatusError{Code: code}) }
	netErr := errors.New("send: dial tcp 127.0.0.1:9: connect: connection refused")
	timeout := fmt.Errorf("send: timeout after 15s: %w", context.DeadlineExceeded)
	const day = 24 * time.Hour
	tests := []struct {
		name string
		a    attemptResult
		p    retryPolicy
		want verdict
	}{
		{"200", attemptResult{Res: Result{Code: 200}, Number: 1}, p,
			verdict{State: store.Delivered}},
		{"204 on the last attempt", attemptResult{Res: Result{Code: 204}, Number: 3}, p,
			verdict{State: store.Delivered}},
		{"2xx with a Retry-After holds nothing", attemptResult{Res: Result{Code: 200, RetryAfter: time.Minute}, Number: 1}, p,
			verdict{State: store.Delivered}},

		{"408 first attempt", attemptResult{Res: Result{Code: 408, Retry: true}, Err: status(408), Number: 1}, p,
			verdict{State: store.Retrying, RetryIn: 10 * time.Second}},
		{"425 second attempt", attemptResult{Res: Result{Code: 425, Retry: true}, Err: status(425), Number: 2}, p,
			verdict{State: store.Retrying, RetryIn: 100 * time.Second}},
		{"408 Retry-After delays but does not hold", attemptResult{Res: Result{Code: 408, Retry: true, RetryAfter: time.Minute}, Err: status(408), Number: 1}, p,
			verdict{State: store.Retrying, RetryIn: time.Minute}},
		{"425 Retry-After capped at 1 h", attemptResult{Res: Result{Code: 425, Retry: true, RetryAfter: day}, Err: status(425), Number: 1}, p,
			verdict{State: store.Retrying, RetryIn: time.Hour}},
		{"429 without Retry-After", attemptResult{Res: Result{Code: 429, Retry: true}, Err: status(429), Number: 1}, p,
			verdict{State: store.Retrying, RetryIn: 10 * time.Second}},
		{"429 Retry-After longer than the schedule", attemptResult{Res: Result{Code: 429, Retry: true, RetryAfter: 30 * time.Second}, Err: status(429), Number: 1}, p,
			verdict{State: store.Retrying, RetryIn: 30 * time.Second, Hold: 30 * time.Second}},
		{"429 Retry-After shorter than the schedule", attemptResult{Res: Result{Code: 429, Retry: true, RetryAfter: 2 * time.Second}, Err: status(429), Number: 1}, p,
			verdict{State: store.Retrying, RetryIn: 10 * time.Second, Hold: 2 * time.Second}},
		{"429 Retry-After capped at 1 h", attemptResult{Res: Result{Code: 429, Retry: true, RetryAfter: day}, Err: status(429), Number: 1}, p,
			verdict{State: store.Retrying, RetryIn: time.Hour, Hold: time.Hour}},
		{"503 Retry-After", attemptResult{Res: Result{Code: 503, Retry: true, RetryAfter: 5 * time.Minute}, Err: status(503), Number: 2}, p,
			verdict{State: store.Retrying, RetryIn: 5 * time.Minute, Hold: 5 * time.Minute}},
		{"503 Retry-After capped at 1 h", attemptResult{Res: Result{Code: 503, Retry: true, RetryAfter: 3 * time.Hour}, Err: status(503), Number: 1}, p,
			verdict{State: store.Retrying, RetryIn: time.Hour, Hold: time.Hour}},
		{"503 without Retry-After", attemptResult{Res: Result{Code: 503, Retry: true}, Err: status(503), Number: 1}, p,
			verdict{State: store.Retrying, RetryIn: 10 * time.Second}},
		{"500 Retry-After delays but does not hold", attemptResult{Res: Result{Code: 500, Retry: true, RetryAfter: 2 * time.Minute}, Err: status(500), Number: 1}, p,
			verdict{State: store.Retrying, RetryIn: 2 * time.Minute}},
		{"502 Retry-After capped at 1 h", attemptResult{Res: Result{Code: 502, Retry: true, RetryAfter: day}, Err: status(502), Number: 1}, p,
			verdict{State: store.Retrying, RetryIn: time.Hour}},
		{"504 the schedule's last entry repeats", attemptResult{Res: Result{Code: 504, Retry: true}, Err: status(504), Number: 6},
			retryPolicy{MaxAttempts: 8, Schedule: p.Schedule, Jitter: p.Jitter},
			verdict{State: store.Retrying, RetryIn: 100 * time.Second}},
		{"jitter applies to the schedule", attemptResult{Res: Result{Code: 500, Retry: true}, Err: status(500), Number: 1},
			retryPolicy{MaxAttempts: 3, Schedule: p.Schedule, Jitter: func(d time.Duration) time.Duration { return d / 2 }},
			verdict{State: store.Retrying, RetryIn: 5 * time.Second}},

		{"network error", attemptResult{Res: Result{Retry: true}, Err: netErr, Number: 1}, p,
			verdict{State: store.Retrying, RetryIn: 10 * time.Second}},
		{"timeout", attemptResult{Res: Result{Retry: true}, Err: timeout, Number: 2}, p,
			verdict{State: store.Retrying, RetryIn: 100 * time.Second}},
		{"blocked address", attemptResult{Res: Result{}, Err: fmt.Errorf("send: %w", ErrBlockedAddress), Number: 1}, p,
			verdict{State: store.Dead, Reason: reasonNotRetryable}},
		{"render error", attemptResult{Res: Result{}, Err: errors.New("render: template"), Number: 1}, p,
			verdict{State: store.Dead, Reason: reasonNotRetryable}},

		{"400", attemptResult{Res: Result{Code: 400}, Err: status(400), Number: 1}, p,
			verdict{State: store.Dead, Reason: reasonNotRetryable}},
		{"404 with a Retry-After", attemptResult{Res: Result{Code: 404, RetryAfter: time.Minute}, Err: status(404), Number: 1}, p,
			verdict{State: store.Dead, Reason: reasonNotRetryable}},
		{"422", attemptResult{Res: Result{Code: 422}, Err: status(422), Number: 2}, p,
			verdict{State: store.Dead, Reason: reasonNotRetryable}},
		{"301 is an answer like any non-2xx", attemptResult{Res: Result{Code: 301}, Err: status(301), Number: 1}, p,
			verdict{State: store.Dead, Reason: reasonNotRetryable}},

		{"500 on the last attempt", attemptResult{Res: Result{Code: 500, Retry: true}, Err: status(500), Number: 3}, p,
			verdict{State: store.Dead, Reason: reasonAttemptsUsed}},
		{"network error on the last attempt", attemptResult{Res: Result{Retry: true}, Err: netErr, Number: 3}, p,
			verdict{State: store.Dead, Reason: reasonAttemptsUsed}},
		{"429 on the last attempt still holds the queue", attemptResult{Res: Result{Code: 429, Retry: true, RetryAfter: 20 * time.Second}, Err: status(429), Number: 3}, p,
			verdict{State: store.Dead, Reason: reasonAttemptsUsed, Hold: 20 * time.Second}},
		{"max_attempts 1", attemptResult{Res: Result{Code: 503, Retry: true}, Err: status(503), Number: 1},
			retryPolicy{MaxAttempts: 1, Schedule: p.Schedule, Jitter: p.Jitter},
			verdict{State: store.Dead, Reason: reasonAttemptsUsed}},

		{"410 disables", attemptResult{Res: Result{Code: 410}, Err: status(410), Number: 1}, p,
			verdict{State: store.Dead, Reason: reasonGone, Disable: true}},
		{"410 on the last attempt", attemptResult{Res: Result{Code: 410}, Err: status(410), Number: 3}, p,
			verdict{State: store.Dead, Reason: reasonGone, Disable: true}},
		{"410 with a Retry-After", attemptResult{Res: Result{Code: 410, RetryAfter: time.Minute}, Err: status(410), Number: 1}, p,
			verdict{State: store.Dead, Reason: reasonGone, Disable: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.a, tt.p); got != tt.want {
				t.Fatalf("decide = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestPolicyOfDefaults: a destination that leaves the policy at zero gets
// the defaults.
func TestPolicyOfDefaults(t *testing.T) {
	p := policyOf(&Destination{}, func(d time.Duration) time.Duration { return d })
	if p.MaxAttempts != policy.DefaultMaxAttempts {
		t.Fatalf("MaxAttempts = %d, want %d", p.MaxAttempts, policy.DefaultMaxAttempts)
	}
	schedule := policy.DefaultSchedule()
	for attempt := 1; attempt <= len(schedule)+2; attempt++ {
		want := schedule[min(attempt-1, len(schedule)-1)]
		if got := p.retryDelay(attempt, 0); got != want {
			t.Fatalf("attempt %d: delay %s, want %s", attempt, got, want)
		}
	}
}
