package redisstore

// Ordered deliveries wait in lines: one list per (destination, lead),
// lg:{p}:ol:DEST:LEAD, holding delivery ids in the order they were queued,
// which is the lead's version order because the write script decides one
// lead's payloads one after another. Only a line's head is in the
// destination's due or in-flight set, so the lease script needs no change
// and no scan. Settling the head as delivered or dead takes it out of the
// line and queues the next one, due at its event's queue time (it has
// waited longest); a retrying head stays the head. lg:{p}:ols:DEST names
// the leads with a line for DEST, so AbandonQueued finds the deliveries
// waiting behind others. The delivery's field I.o holds its lead id when
// it was queued as ordered: a replay puts it back in that line. Every
// change to a line happens in the script that changes the queue, so a
// line is exactly as durable, and as shared between replicas, as the queue.
// lg:{p}:olwait counts the deliveries waiting behind a line's head (every
// line's length less one), for Depth.

// orderedLines defines the scripts' line functions; it needs deliveryRef.
//
//	lineKey(p, dest, lead)            the line's key
//	joinLine(p, dest, lead, id)       puts id at the back; true when it is
//	                                  the head, which the caller then queues
//	leaveLine(p, dest, lead, id, go)  takes id out; with go, queues the new
//	                                  head unless it is queued or leased
//	dropLine(p, dest, lead)           deletes the line; answers its ids
const orderedLines = `
local function lineKey(p, dest, lead) return p .. 'ol:' .. dest .. ':' .. lead end
local function joinLine(p, dest, lead, id)
  local n = redis.call('RPUSH', lineKey(p, dest, lead), id)
  if n == 1 then
    redis.call('SADD', p .. 'ols:' .. dest, lead)
  else
    redis.call('INCR', p .. 'olwait')
  end
  return n == 1
end
-- shorten counts one entry gone from line k, which held n before.
local function shorten(p, n)
  if n >= 2 then redis.call('DECR', p .. 'olwait') end
end
local function dropLine(p, dest, lead)
  local k = lineKey(p, dest, lead)
  local ids = redis.call('LRANGE', k, 0, -1)
  if #ids >= 2 then redis.call('DECRBY', p .. 'olwait', #ids - 1) end
  redis.call('DEL', k)
  redis.call('SREM', p .. 'ols:' .. dest, lead)
  return ids
end
local function leaveLine(p, dest, lead, id, promote)
  local k = lineKey(p, dest, lead)
  local n = redis.call('LLEN', k)
  if redis.call('LREM', k, 1, id) == 1 then shorten(p, n) end
  while true do
    local head = redis.call('LINDEX', k, 0)
    if not head then
      redis.call('SREM', p .. 'ols:' .. dest, lead)
      return
    end
    if not promote then return end
    local ek, f = ref(p, head)
    local h = ek and redis.call('HMGET', ek, 'q', f .. 's') or {}
    local st = h[2] or 'pending'
    if h[1] and st ~= 'delivered' and st ~= 'dead' then
      if not redis.call('ZSCORE', p .. 'q:' .. dest, head) and not redis.call('ZSCORE', p .. 'fl:' .. dest, head) then
        redis.call('ZADD', p .. 'q:' .. dest, h[1], head)
        redis.call('SADD', p .. 'pending', dest)
      end
      return
    end
    -- A head that is not queued (its event is gone): skip it.
    shorten(p, redis.call('LLEN', k))
    redis.call('LPOP', k)
  end
end
`

// destArg is a destination as the write script takes it: "1" and the name
// for one that wants a lead's events in order, "0" and the name otherwise.
func destArg(dest string, ordered func(string) bool) string {
	if ordered != nil && ordered(dest) {
		return "1" + dest
	}
	return "0" + dest
}
