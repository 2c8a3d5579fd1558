// Package policy is the delivery policy: how one destination's events are
// sent (the attempt timeout, pacing, retries, concurrency and order), its
// defaults and its one Validate. gateway.yaml's destinations decode into it
// directly, the LeadSquared-compatible API builds each subscription's from
// Subscription, and package deliver runs it. It also owns the checks every
// producer of a destination shares, so that what validates is what runs:
// its Shape (the methods, content types and formats there are), header
// names, values and count, absolute http(s) URLs and signing secrets.
//
// It imports only ratelimit, so that config, deliver and leadsquared can
// all import it.
package policy

import (
	"errors"
	"fmt"
	"time"

	"leadgate/gateway/ratelimit"
)

// Delivery is how events are delivered to one destination.
type Delivery struct {
	// Timeout bounds one attempt; at most MaxAttemptTime.
	Timeout time.Duration `yaml:"timeout"`
	// RateLimit paces deliveries (they wait, never drop); zero: unpaced.
	RateLimit ratelimit.Limit `yaml:"rate_limit"`
	// Retry is the retry policy.
	Retry Retry `yaml:"retry"`
	// Concurrency caps in-flight deliveries to the destination.
	Concurrency int `yaml:"concurrency"`
	// Ordered true delivers one lead's events in lead_version order: a
	// later event of a lead waits while an earlier one is queued, in
	// flight or retrying (a dead one no longer holds it back); other
	// leads are not held up.
	Ordered bool `yaml:"ordered"`
}

// Retry is the retry policy of a destination.
type Retry struct {
	// MaxAttempts counts the first attempt too.
	MaxAttempts int `yaml:"max_attempts"`
	// Schedule[i] is the wait before attempt i+2; the last entry repeats.
	Schedule []time.Duration `yaml:"schedule"`
}

// Limits Validate applies.
const (
	// MaxAttemptTime keeps an attempt within a delivery lease, so that a
	// replica that dies mid-delivery has its work taken over within the
	// contract's 30 s (package deliver sizes its leases around it).
	MaxAttemptTime = 20 * time.Second
	// MaxConcurrency caps a destination's Concurrency.
	MaxConcurrency = 256
	// MaxAttempts caps Retry.MaxAttempts.
	MaxAttempts = 100
)

// The defaults of a destination written in gateway.yaml.
const (
	DefaultTimeout     = 15 * time.Second
	DefaultMaxAttempts = 8
	DefaultConcurrency = 16
)

// SubscriptionConcurrency is a LeadSquared subscription's concurrency: the
// gateway fixes it (a subscription's Create body has no attribute for it)
// below a destination's, because whoever holds the admin keys can add up
// to a hundred subscriptions.
const SubscriptionConcurrency = 4

// DefaultSchedule returns the retry schedule of the contract's example:
// waits before attempts 2, 3, …; the last entry repeats. A new slice each
// call, so no caller can change another's.
func DefaultSchedule() []time.Duration {
	return []time.Duration{
		5 * time.Second, 5 * time.Minute, 30 * time.Minute,
		2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
	}
}

// Default returns the policy of a destination that sets none of it:
// unpaced, unordered.
func Default() Delivery {
	return Delivery{
		Timeout:     DefaultTimeout,
		Retry:       Retry{MaxAttempts: DefaultMaxAttempts, Schedule: DefaultSchedule()},
		Concurrency: DefaultConcurrency,
	}
}

// Subscription returns the policy of a LeadSquared subscription before
// gateway.yaml's subscriptions block is applied: a destination's, with
// the subscription's fixed concurrency, and ordered, since a CRM wants a
// lead's events in order.
func Subscription() Delivery {
	d := Default()
	d.Concurrency = SubscriptionConcurrency
	d.Ordered = true
	return d
}

// Or returns d with every unset field (zero or empty) taken from def, for
// a destination built in code rather than decoded from defaults.
func (d Delivery) Or(def Delivery) Delivery {
	if d.Timeout <= 0 {
		d.Timeout = def.Timeout
	}
	if d.Retry.MaxAttempts <= 0 {
		d.Retry.MaxAttempts = def.Retry.MaxAttempts
	}
	if len(d.Retry.Schedule) == 0 {
		d.Retry.Schedule = def.Retry.Schedule
	}
	if d.Concurrency <= 0 {
		d.Concurrency = def.Concurrency
	}
	return d
}

// Paced reports whether the policy paces deliveries.
func (d Delivery) Paced() bool { return d.RateLimit.Requests > 0 && d.RateLimit.Per > 0 }

// Problem is one setting of a policy that is wrong. Path is relative to
// the policy's block ("retry.schedule[2]"); config puts the block's own
// path and the file's line in front.
type Problem struct {
	Path string
	Msg  string
}

// Error implements error.
func (p *Problem) Error() string { return p.Path + ": " + p.Msg }

// Validate reports every problem of d at once, joined, each a *Problem.
// It has no side effects.
func (d Delivery) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, &Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if d.Timeout <= 0 || d.Timeout > MaxAttemptTime {
		add("timeout", "must be greater than 0 and at most %s", MaxAttemptTime)
	}
	if d.RateLimit != (ratelimit.Limit{}) {
		if d.RateLimit.Requests <= 0 {
			add("rate_limit.requests", "must be greater than 0 (leave rate_limit out for unpaced)")
		}
		if d.RateLimit.Per <= 0 {
			add("rate_limit.per", "must be greater than 0 (leave rate_limit out for unpaced)")
		}
	}
	if r := d.Retry; r.MaxAttempts < 1 || r.MaxAttempts > MaxAttempts {
		add("retry.max_attempts", "must be between 1 and %d, got %d", MaxAttempts, r.MaxAttempts)
	}
	if len(d.Retry.Schedule) == 0 {
		add("retry.schedule", "must list at least one wait")
	}
	for k, w := range d.Retry.Schedule {
		if w <= 0 {
			add(fmt.Sprintf("retry.schedule[%d]", k), "must be greater than 0")
		}
	}
	if d.Concurrency < 1 || d.Concurrency > MaxConcurrency {
		add("concurrency", "must be between 1 and %d, got %d", MaxConcurrency, d.Concurrency)
	}
	return errors.Join(errs...)
}
