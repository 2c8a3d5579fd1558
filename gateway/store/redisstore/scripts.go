package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts. Each one validates everything before its first write,
// because Redis does not roll back a script's writes when it fails midway.
// KEYS[1] always names a key of the gateway's hash tag, so a cluster client
// routes the script to the node that owns every key it builds from the
// prefix (ARGV "p").

// deliveryRef defines ref(prefix, delivery id): the key of the delivery's
// event and the prefix of its fields there, or nil for a malformed id. A
// delivery id is "dlv_<event id without evt_>_<index>", so a delivery is
// found without an index of its own.
const deliveryRef = `
local function ref(p, id)
  local ev, i = string.match(id, '^dlv_(.+)_(%d+)$')
  if not ev then return nil end
  return p .. 'ev:evt_' .. ev, i .. '.', 'evt_' .. ev
end
`

// releaseSnapshot defines release(prefix, snapshot id): one holder (the
// lead or one event of an Ingest) lets go of the shared snapshot sn:SID,
// and the last one to let go deletes it. A nil or empty id is a holder
// from before snapshots were shared, and releases nothing.
const releaseSnapshot = `
local function release(p, sid)
  if not sid or sid == '' then return end
  local sk = p .. 'sn:' .. sid
  if redis.call('HINCRBY', sk, 'n', -1) <= 0 then redis.call('DEL', sk) end
end
`

// eventBody defines body(prefix, event id, whole, frag, snapshot id): an
// event's JSON from its hash's fields _, e and l. An event stored whole in
// _ (as every event written before events shared snapshots) is that; else
// its id and frag (e) joined with the members and the snapshot its
// Ingest's events share (sn:SID, see writeScript and eventParts). Nil
// when the event is gone.
const eventBody = `
local function body(p, eid, whole, frag, sid)
  if whole or not frag then return whole end
  local sn = redis.call('HMGET', p .. 'sn:' .. sid, 'm', 's')
  return '{"id":"' .. eid .. '",' .. frag .. (sn[1] or '') .. ',"lead":' .. (sn[2] or 'null') .. '}'
end
`

// finishedFn defines finished(event key): whether no delivery of the event
// is queued or retrying (each is delivered or dead). Deliveries are
// numbered from 0 with no gap, so it reads them until one is missing.
const finishedFn = `
local function finished(ek)
  local i = 0
  while true do
    local h = redis.call('HMGET', ek, i .. '.d', i .. '.s')
    if not h[1] then return true end
    if h[2] ~= 'delivered' and h[2] ~= 'dead' then return false end
    i = i + 1
  end
end
`

// sweepLeadsScript removes up to max leads last seen before the cutoff:
// the index keys that still name each one, its hash, its last-seen entry
// and its hold on its snapshot (sn:SID, gone with the last holder). KEYS: idx, leads. ARGV: prefix, cutoff ms, max. Reply: how many.
//
// A lead stored before leads kept their keys has no k: fields; its email
// and phone keys are read from its snapshot instead (a mapping's key of
// such a lead stays in the index, naming a lead that is gone: the next
// payload with it is lead.created).
var sweepLeadsScript = redis.NewScript(releaseSnapshot + `
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  local lk = ARGV[1] .. 'lead:' .. id
  local keys, gone = {}, {}
  for _, f in ipairs(redis.call('HKEYS', lk)) do
    if string.sub(f, 1, 2) == 'k:' then keys[#keys + 1] = string.sub(f, 3) end
  end
  if #keys == 0 then
    local ok, l = pcall(cjson.decode, redis.call('HGET', lk, 's') or '')
    if ok and type(l) == 'table' then
      if type(l.email) == 'string' then keys[#keys + 1] = 'email:' .. l.email end
      if type(l.phone) == 'string' then keys[#keys + 1] = 'phone:' .. l.phone end
    end
  end
  for _, key in ipairs(keys) do
    if redis.call('HGET', KEYS[1], key) == id then gone[#gone + 1] = key end
  end
  if #gone > 0 then redis.call('HDEL', KEYS[1], unpack(gone)) end
  release(ARGV[1], redis.call('HGET', lk, 'l'))
  redis.call('DEL', lk)
end
if #ids > 0 then redis.call('ZREM', KEYS[2], unpack(ids)) end
return #ids
`)

// leaseScript moves ended leases of one destination back to its due set,
// then leases up to max due deliveries until the lease end.
// KEYS: queue, in-flight, pending. ARGV: now ms, max, lease end ms, prefix,
// destination. Reply: flat (delivery id, attempts, enqueued ms, event JSON,
// request id) groups, oldest due first.
var leaseScript = redis.NewScript(deliveryRef + eventBody + `
local now = ARGV[1]
local ended = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1000)
if #ended > 0 then
  local back, gone = {}, {}
  for i = 1, #ended, 2 do
    back[#back + 1] = ended[i + 1]
    back[#back + 1] = ended[i]
    gone[#gone + 1] = ended[i]
  end
  redis.call('ZADD', KEYS[1], unpack(back))
  redis.call('ZREM', KEYS[2], unpack(gone))
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
if #ids == 0 then return {} end
-- The due ones are the lowest scored, so they are ranks 0 .. #ids-1.
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #ids - 1)
local out, held = {}, {}
for _, id in ipairs(ids) do
  local ek, f, eid = ref(ARGV[4], id)
  local h = ek and redis.call('HMGET', ek, '_', 'q', f .. 'n', 'r', 'e', 'l') or {}
  local ev = h[1] or (h[5] and body(ARGV[4], eid, nil, h[5], h[6]))
  if ev then
    held[#held + 1] = ARGV[3]
    held[#held + 1] = id
    out[#out + 1] = id
    out[#out + 1] = h[3] or '0'
    out[#out + 1] = h[2] or '0'
    out[#out + 1] = ev
    out[#out + 1] = h[4] or ''
  end
end
if #held > 0 then redis.call('ZADD', KEYS[2], unpack(held)) end
if redis.call('ZCARD', KEYS[1]) == 0 and redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[5])
end
return out
`)

// settleScript applies outcomes. A delivery already delivered or dead is
// left alone, so a settle repeated by a retry or by a second replica whose
// lease had ended does not count twice. One that leaves its lead's line
// (see orderedLines) lets the next of that line be queued. An event none
// of whose deliveries is queued any more joins the done set, scored by
// this attempt, for SweepEvents.
// KEYS: pending, dead (all destinations). ARGV: prefix, done key, then
// groups of (delivery id, state, retry at ms, attempt JSON, at ms, error).
var settleScript = redis.NewScript(deliveryRef + orderedLines + finishedFn + `
local p = ARGV[1]
local touched = {}
for i = 3, #ARGV, 6 do
  local id, state, retry, att, at, err = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local ek, f, eid = ref(p, id)
  local h = ek and redis.call('HMGET', ek, f .. 'd', f .. 's', f .. 'a', f .. 'n', f .. 't', f .. 'o') or {}
  local dest, status = h[1], h[2] or 'pending'
  if dest and status ~= 'delivered' and status ~= 'dead' then
    local a = h[3]
    if not a then a = '[' .. att .. ']' else a = string.sub(a, 1, -2) .. ',' .. att .. ']' end
    local set = {f .. 'a', a, f .. 's', state, f .. 'e', err,
      f .. 'n', (tonumber(h[4]) or 0) + 1, f .. 't', (tonumber(h[5]) or 0) + 1}
    redis.call('ZREM', p .. 'fl:' .. dest, id)
    if state == 'delivered' then
      redis.call('ZREM', p .. 'q:' .. dest, id)
      redis.call('HSET', ek, unpack(set))
      if finished(ek) then redis.call('ZADD', ARGV[2], at, eid) end
    elseif state == 'retrying' then
      if not h[6] or redis.call('LINDEX', lineKey(p, dest, h[6]), 0) == id then
        redis.call('ZADD', p .. 'q:' .. dest, retry, id)
      end
      redis.call('HSET', ek, unpack(set))
    else
      redis.call('ZREM', p .. 'q:' .. dest, id)
      set[#set + 1] = f .. 'x'
      set[#set + 1] = at
      redis.call('HSET', ek, unpack(set))
      redis.call('ZADD', p .. 'dead:' .. dest, at, id)
      redis.call('ZADD', KEYS[2], at, id)
      if finished(ek) then redis.call('ZADD', ARGV[2], at, eid) end
    end
    -- Delivered or dead, the next of its lead's line may go.
    if h[6] and state ~= 'retrying' then leaveLine(p, dest, h[6], id, true) end
    touched[dest] = true
  end
end
for dest in pairs(touched) do
  if redis.call('ZCARD', p .. 'q:' .. dest) == 0 and redis.call('ZCARD', p .. 'fl:' .. dest) == 0 then
    redis.call('SREM', KEYS[1], dest)
  end
end
return 'OK'
`)

// replayScript queues dead letters again, due at now, with a fresh attempt
// count (the attempts log is kept); one queued as ordered joins the back
// of its lead's line instead, queued only when that line was empty. With a
// delivery id it replays that one; without, up to batch dead letters from
// the source set.
// KEYS: pending, dead (all), source dead set. ARGV: prefix, now ms, delivery
// id or "", batch. Reply: how many were replayed.
var replayScript = redis.NewScript(deliveryRef + orderedLines + `
local p, now = ARGV[1], ARGV[2]
local ids
if ARGV[3] ~= '' then ids = {ARGV[3]} else ids = redis.call('ZRANGE', KEYS[3], 0, tonumber(ARGV[4]) - 1) end
local n = 0
for _, id in ipairs(ids) do
  local ek, f, eid = ref(p, id)
  local h = ek and redis.call('HMGET', ek, f .. 's', f .. 'd', f .. 'o') or {}
  if h[1] == 'dead' then
    redis.call('ZREM', p .. 'done', eid)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', p .. 'dead:' .. h[2], id)
    if not h[3] or joinLine(p, h[2], h[3], id) then redis.call('ZADD', p .. 'q:' .. h[2], now, id) end
    redis.call('HSET', ek, f .. 's', 'pending', f .. 'n', 0)
    redis.call('HDEL', ek, f .. 'x')
    redis.call('SADD', KEYS[1], h[2])
    n = n + 1
  elseif ARGV[3] == '' then
    -- A stale entry (its event is gone or it is not dead): drop it so
    -- ReplayAll cannot loop on it.
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZREM', KEYS[2], id)
    if h[2] then redis.call('ZREM', p .. 'dead:' .. h[2], id) end
  end
end
return n
`)

// deadScript pages a dead-letter set oldest first. The cursor is the last
// item returned (score and id); when that item has since been replayed its
// place is found by score, then by the set's byte order among ties.
// KEYS: the dead set. ARGV: prefix, cursor score or "", cursor id, limit.
// Reply: {more ("0"/"1"), then groups of (id, event id, destination,
// attempts, last error, dead ms)}.
var deadScript = redis.NewScript(deliveryRef + `
local function le(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a <= #b
end
local start = 0
if ARGV[2] ~= '' then
  local r = redis.call('ZRANK', KEYS[1], ARGV[3])
  if r then
    start = r + 1
  else
    start = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[2])
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2])) do
      if le(m, ARGV[3]) then start = start + 1 end
    end
  end
end
local lim = tonumber(ARGV[4])
local page = redis.call('ZRANGE', KEYS[1], start, start + lim - 1, 'WITHSCORES')
local out = {'0'}
if start + lim < redis.call('ZCARD', KEYS[1]) then out[1] = '1' end
for i = 1, #page, 2 do
  local ek, f, eid = ref(ARGV[1], page[i])
  local h = ek and redis.call('HMGET', ek, f .. 'd', f .. 't', f .. 'e') or {}
  out[#out + 1] = page[i]
  out[#out + 1] = eid or ''
  out[#out + 1] = h[1] or ''
  out[#out + 1] = h[2] or '0'
  out[#out + 1] = h[3] or ''
  out[#out + 1] = page[i + 1]
end
return out
`)

// eventScript reads an event and each destination's delivery.
// KEYS: event key. ARGV: prefix, event id. Reply: {event JSON or "", then groups of
// (destination, status, attempts JSON)}.
var eventScript = redis.NewScript(eventBody + `
local h = redis.call('HGETALL', KEYS[1])
local parts = {}
local by = {}
local order = {}
for i = 1, #h, 2 do
  local f = h[i]
  if f == '_' or f == 'e' or f == 'l' then
    parts[f] = h[i + 1]
  else
    local n, k = string.match(f, '^(%d+)%.(%a)$')
    if n then
      if not by[n] then
        by[n] = {}
        order[#order + 1] = n
      end
      by[n][k] = h[i + 1]
    end
  end
end
local out = {body(ARGV[1], ARGV[2], parts['_'], parts.e, parts.l) or ''}
for _, n in ipairs(order) do
  local d = by[n]
  if d.d then
    out[#out + 1] = d.d
    out[#out + 1] = d.s or 'pending'
    out[#out + 1] = d.a or '[]'
  end
end
return out
`)

// depthScript counts deliveries by state over every pending destination;
// those waiting in a line behind an earlier one of their lead (see
// orderedLines) are scheduled.
// KEYS: pending, dead (all). ARGV: prefix, now ms.
// Reply: {due, scheduled, in flight, dead}.
var depthScript = redis.NewScript(`
local p, now = ARGV[1], ARGV[2]
local due, sched, fl = 0, math.max(0, tonumber(redis.call('GET', p .. 'olwait') or '0')), 0
for _, d in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  due = due + redis.call('ZCOUNT', p .. 'q:' .. d, '-inf', now) + redis.call('ZCOUNT', p .. 'fl:' .. d, '-inf', now)
  sched = sched + redis.call('ZCOUNT', p .. 'q:' .. d, '(' .. now, '+inf')
  fl = fl + redis.call('ZCOUNT', p .. 'fl:' .. d, '(' .. now, '+inf')
end
return {due, sched, fl, redis.call('ZCARD', KEYS[2])}
`)

// subPutScript and subDelScript change a subscription and bump the version
// in one step. KEYS: subs, version. ARGV: id[, body, cap (0: none)]. subPut
// replies -1, and writes nothing, when it would create one beyond the cap;
// subDel replies 0 when there was no such subscription.
var subPutScript = redis.NewScript(`
local max = tonumber(ARGV[3])
if max > 0 and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= max then
  return -1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('INCR', KEYS[2])
`)

var subDelScript = redis.NewScript(`
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
return redis.call('INCR', KEYS[2])
`)

// migrateLeadsScript takes one SCAN step over the lead hashes, putting each
// lead not yet in the last-seen set there at now (when leads stored before
// the set existed were last seen is not known; they leave the index
// storage.lead_retention after the upgrade) and giving it a first seen.
// The SCAN cursor is kept in KEYS[2], "done" once the scan is complete.
// KEYS: leads, cursor. ARGV: prefix, now ms, SCAN count. Reply: -1 when
// done before this call, else how many keys the step saw.
var migrateLeadsScript = redis.NewScript(`
if redis.replicate_commands then pcall(redis.replicate_commands) end
local cur = redis.call('GET', KEYS[2])
if cur == 'done' then return -1 end
local prefix = ARGV[1] .. 'lead:'
local r = redis.call('SCAN', cur or '0', 'MATCH', prefix .. '*', 'COUNT', tonumber(ARGV[3]))
for _, k in ipairs(r[2]) do
  if redis.call('TYPE', k).ok == 'hash' then
    redis.call('ZADD', KEYS[1], 'NX', ARGV[2], string.sub(k, #prefix + 1))
    redis.call('HSETNX', k, 'f', ARGV[2])
  end
end
if r[1] == '0' then redis.call('SET', KEYS[2], 'done') else redis.call('SET', KEYS[2], r[1]) end
return #r[2]
`)

// keepAnswerScript appends an answer to a duplicate key's value, keeping
// its expiry (an answer kept before replaces the old one). KEYS: the
// duplicate key. ARGV: the answer JSON. Reply: 1 kept, 0 no live key.
var keepAnswerScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local t = redis.call('PTTL', KEYS[1])
if t <= 0 then return 0 end
local a = string.find(v, ' ', 1, true)
if not a then return 0 end
local b = string.find(v, ' ', a + 1, true)
if b then v = string.sub(v, 1, b - 1) end
redis.call('SET', KEYS[1], v .. ' ' .. ARGV[1], 'PX', t)
return 1
`)
