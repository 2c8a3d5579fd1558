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

// orderedLines defines the scripts' line functions; it needs deliveryRef.
//
//	lineKey(p, dest, lead)            the line's key
//	joinLine(p, dest, lead, id)       puts id at the back; true when it is
//	                                  the head, which the caller then queues
//	leaveLine(p, dest, lead, id, go)  takes id out; with go, queues the new
//	                                  head unless it is queued or leased
const orderedLines = `
local function lineKey(p, dest, lead) return p .. 'ol:' .. dest .. ':' .. lead end
local function joinLine(p, dest, lead, id)
  local n = redis.call('RPUSH', lineKey(p, dest, lead), id)
  if n == 1 then redis.call('SADD', p .. 'ols:' .. dest, lead) end
  return n == 1
end
local function leaveLine(p, dest, lead, id, promote)
  local k = lineKey(p, dest, lead)
  redis.call('LREM', k, 1, id)
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
