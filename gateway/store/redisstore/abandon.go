package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"leadgate/gateway/store"
)

// subUpdateScript replaces a subscription only if it exists, and bumps the
// version. KEYS: subs, version. ARGV: id, body. Replies 0 when there was no
// such subscription.
var subUpdateScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('INCR', KEYS[2])
`)

// abandonScript dead-letters up to batch deliveries of one destination,
// queued ones first, then leased ones, each with one more attempt (as
// settleScript records a dead outcome), and with each one queued as
// ordered the rest of its lead's line (see orderedLines); once none is
// queued or leased, what is left in lines, up to batch leads' worth.
// Entries whose delivery is already settled, or whose event is gone, are
// only dropped from the sets.
// KEYS: queue, in-flight, pending, dead (all), dead of the destination.
// ARGV: prefix, at ms, attempt JSON, error, batch, destination.
// Reply: {dead-lettered, entries left in queue, in-flight and lines}.
var abandonScript = redis.NewScript(deliveryRef + orderedLines + finishedFn + `
local p, at, att, err, dest = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[6]
local lim = tonumber(ARGV[5])
local ids = redis.call('ZRANGE', KEYS[1], 0, lim - 1)
if #ids < lim then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, lim - #ids - 1)) do ids[#ids + 1] = id end
end
local n = 0
-- kill dead-letters one delivery and answers its lead when it was queued
-- as ordered.
local function kill(id)
  local ek, f, eid = ref(p, id)
  local h = ek and redis.call('HMGET', ek, f .. 'd', f .. 's', f .. 'a', f .. 'n', f .. 't', f .. 'o') or {}
  local status = h[2] or 'pending'
  if h[1] and status ~= 'delivered' and status ~= 'dead' then
    local a = h[3]
    if not a or a == '[]' then a = '[' .. att .. ']' else a = string.sub(a, 1, -2) .. ',' .. att .. ']' end
    redis.call('HSET', ek, f .. 'a', a, f .. 's', 'dead', f .. 'e', err,
      f .. 'n', (tonumber(h[4]) or 0) + 1, f .. 't', (tonumber(h[5]) or 0) + 1, f .. 'x', at)
    redis.call('ZADD', KEYS[5], at, id)
    redis.call('ZADD', KEYS[4], at, id)
    if finished(ek) then redis.call('ZADD', p .. 'done', at, eid) end
    n = n + 1
  end
  return h[6]
end
-- killLine dead-letters every delivery waiting in lead's line.
local function killLine(lead)
  for _, id in ipairs(dropLine(p, dest, lead)) do kill(id) end
end
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  local lead = kill(id)
  if lead then
    leaveLine(p, dest, lead, id, false)
    killLine(lead)
  end
end
local left = redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2])
if left == 0 then
  for _, lead in ipairs(redis.call('SRANDMEMBER', p .. 'ols:' .. dest, lim)) do killLine(lead) end
  left = redis.call('SCARD', p .. 'ols:' .. dest)
end
if left == 0 then redis.call('SREM', KEYS[3], dest) end
return {n, left}
`)

// AbandonQueued dead-letters dest's queued and leased deliveries in
// batches until none is left. A replica still settling one of them later
// finds it dead and leaves it alone.
func (s *Store) AbandonQueued(ctx context.Context, dest string, at time.Time, reason string) (int, error) {
	if dest == "" {
		return 0, errors.New("abandon queued: empty destination")
	}
	att, err := json.Marshal(store.Attempt{At: at, Error: reason})
	if err != nil {
		return 0, fmt.Errorf("abandon queued: encode attempt: %w", err)
	}
	keys := []string{s.keys.queue(dest), s.keys.flight(dest), s.keys.pending, s.keys.dead, s.keys.deadOf(dest)}
	total := 0
	for {
		res, err := abandonScript.Run(ctx, s.rdb, keys, s.keys.base, at.UnixMilli(), att, reason, replayBatch, dest).Int64Slice()
		if err != nil {
			return total, unavailable("abandon queued deliveries", err)
		}
		if len(res) != 2 {
			return total, fmt.Errorf("abandon queued deliveries: unexpected reply of %d values", len(res))
		}
		total += int(res[0])
		if res[1] == 0 {
			return total, nil
		}
	}
}
