package ratelimit

import (
	"strconv"
	"strings"
	"time"
)

// Headers formats d as the RateLimit-Policy and RateLimit header values of
// the IETF httpapi-ratelimit-headers draft -11:
//
//	RateLimit-Policy: "<policy>";q=<requests>;w=<window seconds>
//	RateLimit: "<policy>";r=<remaining>;t=<seconds until reset>
//
// Seconds are rounded up so that a client waiting t seconds never arrives
// early. policy names the quota (for example the source); characters a
// structured-field string cannot hold become '_'.
func Headers(d Decision, policy string) (policyHeader, rateLimitHeader string) {
	name := sfString(policy)
	policyHeader = name + ";q=" + strconv.Itoa(d.Limit.Requests) + ";w=" + strconv.FormatInt(max(ceilSeconds(d.Limit.Per), 1), 10)
	rateLimitHeader = name + ";r=" + strconv.Itoa(max(d.Remaining, 0)) + ";t=" + strconv.FormatInt(ceilSeconds(d.Reset), 10)
	return policyHeader, rateLimitHeader
}

// RetryAfterSeconds is d.RetryAfter for a Retry-After header: whole seconds,
// rounded up, and at least 1 so a client never retries at once.
func RetryAfterSeconds(d Decision) int {
	return int(max(ceilSeconds(d.RetryAfter), 1))
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// sfString quotes s as an RFC 8941 sf-string: printable ASCII only, with
// '"' and '\' escaped.
func sfString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('_')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
