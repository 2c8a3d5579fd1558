package server

import (
	"sync"
	"time"

	"leadgate/gateway/ratelimit"
)

// limitAddr is the client address as the inbound limit keys it: an IPv6
// address by its /64 (ratelimit.Address).
func limitAddr(ip string) string { return ratelimit.Address(ip) }

// refusals remembers, per limit key, when the limiter last refused it and
// until when: until then, no admission leaves that key's window, so the
// limiter would refuse again, whichever replica asks. It lets the server
// refuse a flood under a key it knows before the body (the client address)
// without reading the body or asking Redis, when the limit itself is only
// checked later, inside the store's write.
//
// Memory is bounded by the keys refused within the last window: a lookup
// of an expired entry deletes it, and the map is swept whenever it has
// doubled since the last sweep.
type refusals struct {
	// now is the clock of the remembered waits: the limiter's, which is
	// real time (Redis's own), whatever clock the requests are stamped
	// with.
	now       func() time.Time
	mu        sync.Mutex
	until     map[string]refusal
	sweepSize int
}

type refusal struct {
	until time.Time
	limit ratelimit.Limit
}

// minRefusalsSweep is the map size below which refusals never sweeps.
const minRefusalsSweep = 1024

// note records d, the limiter's decision on key just now.
func (r *refusals) note(key string, d ratelimit.Decision) {
	if d.Allowed || d.RetryAfter <= 0 {
		return
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.until == nil {
		r.until = make(map[string]refusal)
		r.sweepSize = minRefusalsSweep
	}
	if len(r.until) >= r.sweepSize {
		for k, v := range r.until {
			if !now.Before(v.until) {
				delete(r.until, k)
			}
		}
		r.sweepSize = max(2*len(r.until), minRefusalsSweep)
	}
	r.until[key] = refusal{until: now.Add(d.RetryAfter), limit: d.Limit}
}

// refused answers the refusal of key under lim when one is remembered, and
// false when the limiter must decide. A refusal under another limit (a
// reload changed it) is not reused.
func (r *refusals) refused(key string, lim ratelimit.Limit) (ratelimit.Decision, bool) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.until[key]
	if !ok {
		return ratelimit.Decision{}, false
	}
	if !now.Before(v.until) || v.limit != lim {
		delete(r.until, key)
		return ratelimit.Decision{}, false
	}
	wait := v.until.Sub(now)
	return ratelimit.Decision{Limit: lim, Reset: wait, RetryAfter: wait}, true
}
