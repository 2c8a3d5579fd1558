package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// SlidingWindowLua defines the Lua function limits(), the decisions of one
// script run at one instant of Redis's own clock:
//
//	local check, flush = limits()
//	check(key, limit, window µs, member, resent) -> {allowed, remaining, reset µs, retry-after µs, now µs}
//	flush()  -- records the admissions; call it once, after the last check
//
// so that the check and the record are atomic across every replica sharing
// the Redis. A window is trimmed and counted once per run, and the
// admissions of a run go in with one ZADD per key: the limiter's own script
// is one check, while the Redis store's Ingest script checks the inbound
// limit of a whole batch of requests (often many on one client key) before
// its writes, so limits and events are one atomic script and one round trip.
// Checks of one run are sequential, so the exactness is that of one check at
// a time. A refused check writes nothing. resent asks whether member is
// already in the window (the same request run again, because go-redis
// re-sent a pipeline whose reply was lost): it then stays admitted instead
// of being counted against itself. A script using it must also run
// redis.replicate_commands first (see slidingWindow).
//
// The clock is Redis's own TIME: replicas with skewed clocks still agree on
// one window. Scores are microseconds since the Unix epoch (about 2^51, exact
// in a Lua double).
const SlidingWindowLua = `
local function limits()
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local wins, order = {}, {}
  local function record(w)
    if #w.add > 0 then
      redis.call('ZADD', w.key, unpack(w.add))
      redis.call('PEXPIRE', w.key, math.ceil(w.window / 1000) + 1)
      w.add = {}
    end
  end
  -- open trims and counts a window once per run; a check of the same key
  -- with another window (the limit changed by a reload) starts over.
  local function open(key, window)
    local w = wins[key]
    if w and w.window ~= window then
      record(w)
      w = nil
    end
    if not w then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
      local n = redis.call('ZCARD', key)
      w = {key = key, window = window, stored = n, count = n, add = {}}
      wins[key] = w
      order[#order + 1] = w
    end
    return w
  end
  -- scoreAt is the score of the admission at rank idx: a stored one, or
  -- one of this run's, which all score now.
  local function scoreAt(w, idx)
    if idx >= w.stored then return now end
    if idx == 0 and w.first then return w.first end
    local r = redis.call('ZRANGE', w.key, idx, idx, 'WITHSCORES')
    local s = tonumber(r[2])
    if idx == 0 then w.first = s end
    return s
  end
  local function check(key, limit, window, member, resent)
    local w = open(key, window)
    local allowed = 0
    if resent and redis.call('ZSCORE', key, member) then
      allowed = 1
    elseif w.count < limit then
      allowed = 1
      w.count = w.count + 1
      w.add[#w.add + 1] = now
      w.add[#w.add + 1] = member
    end
    -- the oldest admission, or for a refusal the one whose departure makes
    -- room (not the oldest when the limit was lowered since)
    local idx = 0
    if allowed == 0 then idx = w.count - limit end
    local reset = scoreAt(w, idx) + window - now
    local retry = 0
    if allowed == 0 then retry = reset end
    local remaining = limit - w.count
    if remaining < 0 then remaining = 0 end
    return {allowed, remaining, reset, retry, now}
  end
  local function flush()
    for _, w in ipairs(order) do record(w) end
  end
  return check, flush
end
`

// slidingWindow is the limiter's script: KEYS[1] the key; ARGV: limit,
// window in microseconds, member (unique across replicas). replicate_commands
// makes a script that reads TIME and then writes replicable on Redis 3.2 and
// 4 (effects replication); from 5 on it is the default and the call is a
// no-op, and in case a future Redis drops it the call is guarded.
var slidingWindow = redis.NewScript(`
if redis.replicate_commands then pcall(redis.replicate_commands) end
` + SlidingWindowLua + `
local check, flush = limits()
local d = check(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], true)
flush()
return d
`)

// peekWindow is slidingWindow without flush: the decision, nothing
// recorded (the trim of departed admissions is the only write).
var peekWindow = redis.NewScript(`
if redis.replicate_commands then pcall(redis.replicate_commands) end
` + SlidingWindowLua + `
local check, flush = limits()
return check(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], false)
`)

// DefaultRedisPrefix starts every limiter key, keeping Leadgate's keys
// apart from others in a shared Redis. It carries the Redis store's hash
// tag ({gw}, redisstore.DefaultPrefix), so a window lives in the same
// Cluster slot as the store's keys and the store's Ingest script may check
// the inbound limit atomically with its writes.
const DefaultRedisPrefix = "lg:{gw}:rl:"

// RedisOptions configures NewRedis.
type RedisOptions struct {
	// Prefix starts every key; default DefaultRedisPrefix.
	Prefix string
	// InstanceID names this replica in the admission log so that two
	// replicas' admissions never collide; default a random id.
	InstanceID string
}

// Redis is the exact sliding-window limiter shared by every replica using
// one Redis: each key is a sorted set of admissions scored by Redis's clock.
type Redis struct {
	client   redis.UniversalClient
	prefix   string
	instance string
	seq      atomic.Uint64
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a limiter keeping its windows in client's Redis. The
// script is loaded on first use and reloaded if Redis forgets it.
func NewRedis(client redis.UniversalClient, opts RedisOptions) *Redis {
	r := &Redis{client: client, prefix: opts.Prefix, instance: opts.InstanceID}
	if r.prefix == "" {
		r.prefix = DefaultRedisPrefix
	}
	if r.instance == "" {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
		r.instance = hex.EncodeToString(b[:])
	}
	return r
}

// Key is the Redis key holding key's window.
func (r *Redis) Key(key string) string { return r.prefix + key }

// Allow admits the request when fewer than lim.Requests were admitted under
// key in the last lim.Per by any replica, and records it. Errors reaching
// Redis are returned; the caller decides whether to fail open or closed.
func (r *Redis) Allow(ctx context.Context, key string, lim Limit) (Decision, error) {
	d, _, err := r.allow(ctx, key, lim)
	return d, err
}

// Peek answers what Allow would answer now, across every replica, without
// recording anything: for a caller that counts only some outcomes (failed
// sign-ins) and must know before acting whether the key is over its limit.
func (r *Redis) Peek(ctx context.Context, key string, lim Limit) (Decision, error) {
	c, err := r.Check(key, lim)
	if err != nil {
		return Decision{}, err
	}
	res, err := peekWindow.Run(ctx, r.client, []string{c.Key}, c.Args()...).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("rate limit %q in redis: %w", key, err)
	}
	d, _, err := c.Decision(res)
	if d.Allowed {
		d.Remaining++ // check counted the admission it did not record
	}
	return d, err
}

// allow also returns Redis's clock at the decision, which tests use to check
// the admissions against the server's own timeline.
func (r *Redis) allow(ctx context.Context, key string, lim Limit) (Decision, time.Time, error) {
	c, err := r.Check(key, lim)
	if err != nil {
		return Decision{}, time.Time{}, err
	}
	res, err := slidingWindow.Run(ctx, r.client, []string{c.Key}, c.Args()...).Int64Slice()
	if err != nil {
		return Decision{}, time.Time{}, fmt.Errorf("rate limit %q in redis: %w", key, err)
	}
	return c.Decision(res)
}

// Check is one request's limit check, ready to run as SlidingWindowLua's
// check(key, ARGV…) inside another script.
type Check struct {
	// Key is the Redis key of the window; declare it in the script's KEYS.
	Key   string
	Limit Limit
	// WindowUS is Limit.Per in microseconds.
	WindowUS int64
	// Member is this admission's unique member of the log.
	Member string
}

// Check prepares the check of key under lim with a fresh member, for a
// script that calls check() itself (Allow uses it too, so both share one
// window per key).
func (r *Redis) Check(key string, lim Limit) (Check, error) {
	if err := checkLimit(lim); err != nil {
		return Check{}, err
	}
	return Check{
		Key:      r.Key(key),
		Limit:    lim,
		WindowUS: max(lim.Per.Microseconds(), 1),
		Member:   r.instance + ":" + strconv.FormatUint(r.seq.Add(1), 36),
	}, nil
}

// Args are check()'s arguments after the key: limit, window µs, member.
func (c Check) Args() []any { return []any{c.Limit.Requests, c.WindowUS, c.Member} }

// Decision reads check()'s reply, returning Redis's clock at the decision.
func (c Check) Decision(res []int64) (Decision, time.Time, error) {
	if len(res) != 5 {
		return Decision{}, time.Time{}, fmt.Errorf("rate limit in redis: script returned %d values, want 5", len(res))
	}
	d := Decision{
		Allowed:    res[0] == 1,
		Limit:      c.Limit,
		Remaining:  int(res[1]),
		Reset:      time.Duration(res[2]) * time.Microsecond,
		RetryAfter: time.Duration(res[3]) * time.Microsecond,
	}
	return d, time.UnixMicro(res[4]), nil
}
