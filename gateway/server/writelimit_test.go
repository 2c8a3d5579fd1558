package server

import (
	"testing"
	"time"

	"leadgate/gateway/ratelimit"
	"leadgate/gateway/store"
)

// TestWriteLimitRoundTrip: the limiter's check reaches the store whole, and
// the store's answer comes back as the limiter's decision on the limit the
// check was made under, which the rate-limit headers and the 429 print.
func TestWriteLimitRoundTrip(t *testing.T) {
	lim := ratelimit.Limit{Requests: 25, Per: 5 * time.Second}
	check := ratelimit.Check{Key: "rl:{gw}:in:website:ip:1.2.3.4", Limit: lim, WindowUS: 5_000_000, Member: "i:1"}
	tests := []struct {
		name string
		in   store.LimitDecision
		want ratelimit.Decision
	}{
		{"allowed", store.LimitDecision{Allowed: true, Remaining: 24, Reset: 5 * time.Second},
			ratelimit.Decision{Allowed: true, Limit: lim, Remaining: 24, Reset: 5 * time.Second}},
		{"refused", store.LimitDecision{Reset: time.Second, RetryAfter: time.Second},
			ratelimit.Decision{Limit: lim, Reset: time.Second, RetryAfter: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := writeCheck(check)
			want := store.LimitCheck{Key: check.Key, Requests: 25, Per: 5 * time.Second, WindowUS: 5_000_000, Member: "i:1"}
			if *sc != want {
				t.Fatalf("store check %+v, want %+v", *sc, want)
			}
			if got := inboundDecision(sc, &tt.in); got != tt.want {
				t.Fatalf("decision %+v, want %+v", got, tt.want)
			}
		})
	}
}
