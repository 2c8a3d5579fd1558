package redisstore

import (
	"github.com/redis/go-redis/v9"

	"leadgate/gateway/ratelimit"
)

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

// writeScript is Ingest's only script: its one round trip for someone new,
// and for someone known the second, after the first answered CONFLICT with
// what it found. One run writes a whole batch of
// concurrent Ingests (group commit, see batcher): each is decided in order,
// as if it ran alone after the ones before it, and the reads and writes
// they share (the identity index, the duplicate keys, a client's rate-limit
// window, a destination's queue, the leads' last-seen set) are one command
// each for the batch.
//
// The script resolves each Ingest's lead itself, by the identity rule
// (store.Resolve; resolve below is the same rule in Lua), seeing the writes
// of the batch so far, and writes only when that is the lead Ingest decided
// on (a new one when it expected none) at the version it decided on.
//
// KEYS: idx, the batch's reply key, pending, leads (last seen).
// ARGV: 1 prefix, 2 the done key, 3 the number of Ingests, then one block
// per Ingest, at b:
//
//	b+0 the block's length       b+8 snapshot
//	b+1 lead key                 b+9 the version it gets
//	b+2 duplicate key ("": none) b+10 request id ("": none)
//	b+3 duplicate key TTL ms     b+11 rate-limit key ("": not checked here)
//	b+4 duplicate key's value    b+12 limit, b+13 window µs, b+14 member
//	b+5 received (and due) ms    b+15 identity count n, then the n identity
//	b+6 expected version ("":    keys ("email:…", "phone:…", "key:…"),
//	    a lead id made just now) then the event count and per event: id,
//	b+7 lead id                  JSON, destination count, then per
//	                             destination "1" or "0" and its name (see
//	                             destArg), and "" (queued) or a lease end
//	                             ms (a held delivery, never an ordered
//	                             one: put in flight until then), and
//	                             last, the source's name
//
// A duplicate key holds "<window end ms> <lead id>", and after KeepAnswer
// " <answer JSON>" more (keepAnswerScript). An Ingest with a rate-
// limit key is admitted (and recorded) or refused before anything else; a
// refused one writes nothing.
// Deciding never fails, so an error reply means Redis refused a command:
// out of memory, which Redis answers only to a script's first write, or a
// key of the wrong type, which the script checks for every key it would
// write before its first write. Either way the batch wrote nothing, and
// the whole batch answers that error and its senders 503.
// Reply: a JSON array, also kept under KEYS[2] for 30 s, so that a batch
// go-redis sends again after a lost reply answers what its first run did
// instead of running twice (go-redis gives up within about 10 s: 3
// retries after 3 s read timeouts). Per Ingest an array of strings: its status
// ("OK", "CONFLICT", "DUP:<lead id>" or "LIMIT"), check()'s five numbers
// when it checked its limit (else five ""), and after a CONFLICT the lead
// the identity rule resolves to now ("" for a new one), its snapshot (or
// "") and version, so that Ingest decides again without a read.
var writeScript = redis.NewScript(`
if redis.replicate_commands then pcall(redis.replicate_commands) end
` + ratelimit.SlidingWindowLua + deliveryRef + orderedLines + `
local done = redis.call('GET', KEYS[2])
if done then return done end
local p, donekey = ARGV[1], ARGV[2]
local finished = {}
local starts, idkeys, dupkeys = {}, {}, {}
local b = 4
for n = 1, tonumber(ARGV[3]) do
  starts[n] = b
  if ARGV[b + 2] ~= '' then dupkeys[#dupkeys + 1] = ARGV[b + 2] end
  for j = 0, tonumber(ARGV[b + 15]) - 1 do idkeys[#idkeys + 1] = ARGV[b + 16 + j] end
  b = b + tonumber(ARGV[b])
end
-- Redis does not roll back a script that fails midway, and a batch's
-- Ingests write one after another: every key a write below could find
-- holding another type is checked before the first write, so that a
-- batch writes all of its Ingests or nothing (else an earlier Ingest's
-- duplicate key could stand while its events were never queued).
local want = {[KEYS[3]] = 'set', [KEYS[4]] = 'zset', [donekey] = 'zset'}
for _, b in ipairs(starts) do
  if ARGV[b + 11] ~= '' then want[ARGV[b + 11]] = 'zset' end
  if ARGV[b + 6] ~= '' then want[ARGV[b + 1]] = 'hash' end
  local ni = tonumber(ARGV[b + 15])
  local i = b + 17 + ni
  for _ = 1, tonumber(ARGV[b + 16 + ni]) do
    local nd = tonumber(ARGV[i + 2])
    i = i + 3
    for _ = 1, nd do
      local dest = string.sub(ARGV[i], 2)
      want[p .. 'q:' .. dest], want[p .. 'fl:' .. dest] = 'zset', 'zset'
      if string.sub(ARGV[i], 1, 1) == '1' then
        want[p .. 'ols:' .. dest], want[lineKey(p, dest, ARGV[b + 7])] = 'set', 'list'
      end
      i = i + 2
    end
  end
end
for k, t in pairs(want) do
  local got = redis.call('TYPE', k).ok
  if got ~= 'none' and got ~= t then
    return redis.error_reply('WRONGTYPE ' .. k .. ' holds a ' .. got .. ', not a ' .. t)
  end
end
local idx, dups = {}, {}
if #idkeys > 0 then
  local v = redis.call('HMGET', KEYS[1], unpack(idkeys))
  for j, k in ipairs(idkeys) do idx[k] = v[j] or '' end
end
if #dupkeys > 0 then
  local v = redis.call('MGET', unpack(dupkeys))
  for j, k in ipairs(dupkeys) do dups[k] = v[j] end
end
local check, flush = limits()
local versions, snaps, point, queued, dests, seen, out = {}, {}, {}, {}, {}, {}, {}
-- lead is a lead's snapshot ("" for none) and version ("0" for none),
-- seeing the writes of this batch so far.
local function lead(id)
  local k = p .. 'lead:' .. id
  if versions[k] then return snaps[k], versions[k] end
  local h = redis.call('HMGET', k, 's', 'v')
  return h[1] or '', h[2] or '0'
end
-- resolve is store.Resolve: the lead the identity keys at b name ("" for
-- a new one). A snapshot has an email when it starts with it (the Lead's
-- first JSON field, left out when empty).
local function resolve(b, ni)
  local email
  for j = 0, ni - 1 do
    local k = ARGV[b + 16 + j]
    if string.sub(k, 1, 6) == 'email:' then
      email = k
      break
    end
  end
  if email and idx[email] ~= '' then return idx[email] end
  for _, kind in ipairs({'phone:', 'key:'}) do
    for j = 0, ni - 1 do
      local k = ARGV[b + 16 + j]
      local id = idx[k]
      if id ~= '' and string.sub(k, 1, #kind) == kind then
        if not email then return id end
        local snap = lead(id)
        if string.sub(snap, 1, 9) ~= '{"email":' then return id end
      end
    end
  end
  return ''
end
for _, b in ipairs(starts) do
  local status, lim = 'OK', nil
  if ARGV[b + 11] ~= '' then
    lim = check(ARGV[b + 11], tonumber(ARGV[b + 12]), tonumber(ARGV[b + 13]), ARGV[b + 14], false)
    if lim[1] == 0 then status = 'LIMIT' end
  end
  local dk = ARGV[b + 2]
  if status == 'OK' and dk ~= '' then
    local d = dups[dk]
    local sp = d and string.find(d, ' ', 1, true)
    if sp and tonumber(string.sub(d, 1, sp - 1)) > tonumber(ARGV[b + 5]) then
      status = 'DUP:' .. string.sub(d, sp + 1)
    end
  end
  local lk, id, expected = ARGV[b + 1], ARGV[b + 7], ARGV[b + 6]
  local ni = tonumber(ARGV[b + 15])
  local rid = ''
  if status == 'OK' then
    rid = resolve(b, ni)
    if expected == '' then
      if rid ~= '' then status = 'CONFLICT' end
    elseif rid ~= id then
      status = 'CONFLICT'
    else
      local _, v = lead(id)
      if v ~= expected then status = 'CONFLICT' end
    end
  end
  if status == 'OK' then
    local due = ARGV[b + 5]
    local h = {'s', ARGV[b + 8], 'v', ARGV[b + 9]}
    if expected == '' then
      h[#h + 1] = 'f'
      h[#h + 1] = due
    end
    h[#h + 1] = 'o:' .. ARGV[b + tonumber(ARGV[b]) - 1]
    h[#h + 1] = '1'
    for j = 0, ni - 1 do
      local k = ARGV[b + 16 + j]
      h[#h + 1] = 'k:' .. k
      h[#h + 1] = '1'
      if idx[k] ~= id then
        idx[k] = id
        point[#point + 1] = k
        point[#point + 1] = id
      end
    end
    redis.call('HSET', lk, unpack(h))
    if expected ~= '' then redis.call('HSETNX', lk, 'f', due) end
    versions[lk], snaps[lk] = ARGV[b + 9], ARGV[b + 8]
    seen[#seen + 1] = due
    seen[#seen + 1] = id
    local rq = ARGV[b + 10]
    local i = b + 17 + ni
    for e = 1, tonumber(ARGV[b + 16 + ni]) do
      local eid, body, nd = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
      i = i + 3
      local ek = p .. 'ev:' .. eid
      local f = {'_', body, 'q', due}
      if rq ~= '' then
        f[#f + 1] = 'r'
        f[#f + 1] = rq
      end
      for d = 0, nd - 1 do
        local dest, ordered = string.sub(ARGV[i], 2), string.sub(ARGV[i], 1, 1) == '1'
        local lease = ARGV[i + 1]
        i = i + 2
        f[#f + 1] = d .. '.d'
        f[#f + 1] = dest
        local did = 'dlv_' .. string.sub(eid, 5) .. '_' .. d
        local head = true
        if ordered then
          f[#f + 1] = d .. '.o'
          f[#f + 1] = id
          head = joinLine(p, dest, id, did)
        end
        if lease ~= '' then
          redis.call('ZADD', p .. 'fl:' .. dest, lease, did)
          redis.call('SADD', KEYS[3], dest)
        elseif head then
          local q = queued[dest]
          if not q then
            q = {}
            queued[dest] = q
            dests[#dests + 1] = dest
          end
          q[#q + 1] = due
          q[#q + 1] = did
        end
      end
      redis.call('HSET', ek, unpack(f))
      if nd == 0 then
        finished[#finished + 1] = due
        finished[#finished + 1] = eid
      end
    end
    if dk ~= '' then
      redis.call('SET', dk, ARGV[b + 4], 'PX', ARGV[b + 3])
      dups[dk] = ARGV[b + 4]
    end
  end
  local r = {status}
  for j = 1, 5 do r[j + 1] = lim and string.format('%d', lim[j]) or '' end
  if status == 'CONFLICT' then
    local snap, ver = '', '0'
    if rid ~= '' then snap, ver = lead(rid) end
    r[7], r[8], r[9] = rid, snap, ver
  end
  out[#out + 1] = r
end
if #point > 0 then redis.call('HSET', KEYS[1], unpack(point)) end
-- One ZADD per destination for all of the batch's events.
for _, dest in ipairs(dests) do redis.call('ZADD', p .. 'q:' .. dest, unpack(queued[dest])) end
if #dests > 0 then redis.call('SADD', KEYS[3], unpack(dests)) end
-- Last seen only grows (GT), whatever order received times come in.
if #seen > 0 then redis.call('ZADD', KEYS[4], 'GT', unpack(seen)) end
-- Events no destination wanted are finished at once.
if #finished > 0 then redis.call('ZADD', donekey, unpack(finished)) end
flush()
local reply = cjson.encode(out)
redis.call('SET', KEYS[2], reply, 'PX', 30000)
return reply
`)

// sweepLeadsScript removes up to max leads last seen before the cutoff:
// the index keys that still name each one, its hash and its last-seen
// entry. KEYS: idx, leads. ARGV: prefix, cutoff ms, max. Reply: how many.
//
// A lead stored before leads kept their keys has no k: fields; its email
// and phone keys are read from its snapshot instead (a mapping's key of
// such a lead stays in the index, naming a lead that is gone: the next
// payload with it is lead.created).
var sweepLeadsScript = redis.NewScript(`
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
var leaseScript = redis.NewScript(deliveryRef + `
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
  local ek, f = ref(ARGV[4], id)
  local h = ek and redis.call('HMGET', ek, '_', 'q', f .. 'n', 'r') or {}
  if h[1] then
    held[#held + 1] = ARGV[3]
    held[#held + 1] = id
    out[#out + 1] = id
    out[#out + 1] = h[3] or '0'
    out[#out + 1] = h[2] or '0'
    out[#out + 1] = h[1]
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
// KEYS: event key. Reply: {event JSON or "", then groups of (destination,
// status, attempts JSON)}.
var eventScript = redis.NewScript(`
local h = redis.call('HGETALL', KEYS[1])
local body = ''
local by = {}
local order = {}
for i = 1, #h, 2 do
  local f = h[i]
  if f == '_' then
    body = h[i + 1]
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
local out = {body}
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
