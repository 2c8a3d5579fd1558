package redisstore

import (
	"github.com/redis/go-redis/v9"

	"leadgate/gateway/ratelimit"
)

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
//	b+7 lead id                  frag (see eventParts) or its whole JSON,
//	                             destination count, then per
//	                             destination "1" or "0" and its name (see
//	                             destArg), and "" (queued) or a lease end
//	                             ms (a held delivery, never an ordered
//	                             one: put in flight until then), and
//	                             last the events' mid (eventParts), the
//	                             snapshot's id (SID) and the source's name
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
// Reply: one line per Ingest ("\n" between them) of tab-separated fields
// (no field holds either: the JSON in them is Go's, which escapes control
// characters; a plain string is cheaper than cjson in Redis and in the
// gateway), also kept under KEYS[2] for 30 s, so that a batch
// go-redis sends again after a lost reply answers what its first run did
// instead of running twice (go-redis gives up within about 10 s: 3
// retries after 3 s read timeouts). Per Ingest the fields: its status
// ("OK", "CONFLICT", "DUP:<lead id>" or "LIMIT"), check()'s five numbers
// when it checked its limit (else five ""), and after a CONFLICT the lead
// the identity rule resolves to now ("" for a new one), its snapshot (or
// "") and version, so that Ingest decides again without a read.
var writeScript = redis.NewScript(releaseSnapshot + `
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
local versions, snaps, sids, point, queued, dests, seen, out = {}, {}, {}, {}, {}, {}, {}, {}
-- lead is a lead's snapshot ("" for none) and version ("0" for none),
-- seeing the writes of this batch so far; it notes in sids the snapshot
-- the lead refers to ("": none, or one stored whole in its hash).
local function lead(id)
  local k = p .. 'lead:' .. id
  if versions[k] then return snaps[k], versions[k] end
  local h = redis.call('HMGET', k, 's', 'v', 'l')
  sids[k] = h[3] or ''
  if h[3] then h[1] = redis.call('HGET', p .. 'sn:' .. h[3], 's') end
  return h[1] or '', h[2] or '0'
end
-- share stores an Ingest's snapshot and its events' common members (mid)
-- once, for the lead and its ne events (sn:SID, counted by who refers to
-- it), and lets go of the one the lead referred to before; a lead stored
-- whole loses its own copy.
local function share(lk, sid, snap, mid, ne, known)
  redis.call('HSET', p .. 'sn:' .. sid, 's', snap, 'm', mid, 'n', ne + 1)
  local old = sids[lk]
  if old and old ~= '' then
    release(p, old)
  elseif known then
    redis.call('HDEL', lk, 's')
  end
  sids[lk] = sid
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
    local sid, ne = ARGV[b + tonumber(ARGV[b]) - 2], tonumber(ARGV[b + 16 + ni])
    share(lk, sid, ARGV[b + 8], ARGV[b + tonumber(ARGV[b]) - 3], ne, expected ~= '')
    local h = {'l', sid, 'v', ARGV[b + 9]}
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
    for e = 1, ne do
      local eid, body, nd = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
      i = i + 3
      local ek = p .. 'ev:' .. eid
      local f = {'e', body, 'l', sid, 'q', due}
      if string.sub(body, 1, 1) == '{' then f[1] = '_' end
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
  out[#out + 1] = table.concat(r, '\t')
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
local reply = table.concat(out, '\n')
redis.call('SET', KEYS[2], reply, 'PX', 30000)
return reply
`)
