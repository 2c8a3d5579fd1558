package redisstore

import (
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/store"
)

// LimitCheckOf is the limiter's prepared check as IngestRequest.Limit
// carries it (the server's conversion), for this package's tests and
// redisstore_test's.
func LimitCheckOf(c ratelimit.Check) *store.LimitCheck {
	return &store.LimitCheck{Key: c.Key, Requests: c.Limit.Requests, Per: c.Limit.Per, WindowUS: c.WindowUS, Member: c.Member}
}
