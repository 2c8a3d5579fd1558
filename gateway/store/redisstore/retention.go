package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// sweepBatch bounds the events one sweep script removes, so that it holds
// Redis for about a millisecond and never stalls Ingest's scripts.
const sweepBatch = 200

// sweepScript removes finished events whose last change is before a time:
// the oldest members of the done set, their hashes and their dead letters.
// A member that is queued again (a replay racing its removal from the set)
// is only dropped from the set; settling it adds it again.
// KEYS: done, dead (all). ARGV: prefix, before ms (exclusive), batch.
// Reply: {removed, members examined}.
var sweepScript = redis.NewScript(releaseSnapshot + `
local p = ARGV[1]
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local n = 0
for _, eid in ipairs(ids) do
  local ek = p .. 'ev:' .. eid
  local dead, keep, i = {}, false, 0
  while true do
    local h = redis.call('HMGET', ek, i .. '.d', i .. '.s')
    if not h[1] then break end
    if h[2] ~= 'delivered' and h[2] ~= 'dead' then
      keep = true
      break
    end
    if h[2] == 'dead' then
      dead[#dead + 1] = h[1]
      dead[#dead + 1] = 'dlv_' .. string.sub(eid, 5) .. '_' .. i
    end
    i = i + 1
  end
  redis.call('ZREM', KEYS[1], eid)
  if not keep then
    for j = 1, #dead, 2 do
      redis.call('ZREM', p .. 'dead:' .. dead[j], dead[j + 1])
      redis.call('ZREM', KEYS[2], dead[j + 1])
    end
    -- The last event of an Ingest to go takes its shared snapshot along.
    release(p, redis.call('HGET', ek, 'l'))
    redis.call('DEL', ek)
    n = n + 1
  end
end
return {n, #ids}
`)

// SweepEvents removes up to max finished events last changed before
// before, in scripts of at most sweepBatch events.
func (s *Store) SweepEvents(ctx context.Context, before time.Time, max int) (int, error) {
	removed := 0
	for removed < max {
		batch := min(max-removed, sweepBatch)
		res, err := sweepScript.Run(ctx, s.rdb, []string{s.keys.done, s.keys.dead},
			s.keys.base, before.UnixMilli(), batch).Int64Slice()
		if err != nil {
			return removed, unavailable("sweep events", err)
		}
		if len(res) != 2 {
			return removed, fmt.Errorf("sweep events: unexpected reply of %d values", len(res))
		}
		removed += int(res[0])
		if int(res[1]) < batch {
			break
		}
	}
	return removed, nil
}

// ProbeWrite sets a short-lived key: a Redis that refuses writes (out of
// memory under noeviction, a read-only replica, a full disk with
// stop-writes-on-bgsave-error) fails it.
func (s *Store) ProbeWrite(ctx context.Context) error {
	if err := s.rdb.Set(ctx, s.keys.probe, time.Now().UnixMilli(), 10*time.Second).Err(); err != nil {
		return unavailable("probe write", err)
	}
	return nil
}

// Size is Redis's used_memory: every key of the instance, not only the
// gateway's.
func (s *Store) Size(ctx context.Context) (int64, error) {
	node, err := s.dataNode(ctx)
	if err != nil {
		return 0, err
	}
	info, err := node.Info(ctx, "memory").Result()
	if err != nil {
		return 0, unavailable("redis memory", err)
	}
	v, ok := infoField(info, "used_memory")
	if !ok {
		return 0, errors.New("redis memory: no used_memory in INFO")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redis memory: used_memory %q: %w", v, err)
	}
	return n, nil
}

// dataNode is the server holding the gateway's keys: on a Cluster, the
// primary of their hash tag's slot (INFO and CONFIG name no key, so the
// cluster client would ask any node); else the client itself.
func (s *Store) dataNode(ctx context.Context) (redis.Cmdable, error) {
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return s.rdb, nil
	}
	m, err := cc.MasterForKey(ctx, s.keys.idx)
	if err != nil {
		return nil, unavailable("find the gateway's cluster node", err)
	}
	return m, nil
}

// infoField finds "name:value" among INFO's lines.
func infoField(info, name string) (string, bool) {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v, true
		}
	}
	return "", false
}

// Epoch is what the gateway knows of its Redis's identity (see
// InitEpoch): a Redis that lost its data has lost it too.
type Epoch struct {
	// Current is the epoch key's value, "" when it is missing.
	Current string
	// Acknowledged is the value AcknowledgeEpoch last wrote, "" for none.
	Acknowledged string
}

// InitEpoch returns the epoch of this Redis, writing a new one when there
// is none (the first start on an empty Redis). The key has no TTL; a
// Redis that evicts it (maxmemory-policy other than noeviction) evicts
// data the gateway needs as well.
func (s *Store) InitEpoch(ctx context.Context) (string, error) {
	if err := s.rdb.SetNX(ctx, s.keys.epoch, newEpoch(), 0).Err(); err != nil {
		return "", unavailable("write epoch", err)
	}
	v, err := s.rdb.Get(ctx, s.keys.epoch).Result()
	if err != nil {
		return "", unavailable("read epoch", err)
	}
	return v, nil
}

// ReadEpoch reads the epoch and the last acknowledged one.
func (s *Store) ReadEpoch(ctx context.Context) (Epoch, error) {
	vals, err := s.rdb.MGet(ctx, s.keys.epoch, s.keys.epoch+":ack").Result()
	if err != nil {
		return Epoch{}, unavailable("read epoch", err)
	}
	var e Epoch
	e.Current, _ = vals[0].(string)
	e.Acknowledged, _ = vals[1].(string)
	return e, nil
}

// AcknowledgeEpoch writes a new epoch, and the same value as the
// acknowledged one, in one step: every gateway sharing this Redis that
// sees the two equal knows an operator accepted the loss.
func (s *Store) AcknowledgeEpoch(ctx context.Context) (string, error) {
	e := newEpoch()
	if err := s.rdb.MSet(ctx, s.keys.epoch, e, s.keys.epoch+":ack", e).Err(); err != nil {
		return "", unavailable("acknowledge epoch", err)
	}
	return e, nil
}

func newEpoch() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails since Go 1.24
	return strconv.FormatInt(time.Now().Unix(), 10) + "-" + hex.EncodeToString(b[:])
}

// Durability is what Redis says of the settings that keep the gateway's
// data: AOF on and no eviction.
type Durability struct {
	// AppendOnly is appendonly ("yes" or "no").
	AppendOnly string
	// MaxMemoryPolicy is maxmemory-policy, e.g. "noeviction".
	MaxMemoryPolicy string
	// Via says where they were read: "config" (CONFIG GET) or "info"
	// (INFO, when CONFIG is disabled or renamed, as on managed Redis).
	Via string
}

// OK reports AOF on and no eviction.
func (d Durability) OK() bool { return d.AppendOnly == "yes" && d.MaxMemoryPolicy == "noeviction" }

// ErrConfigUnreadable: neither CONFIG GET nor INFO tells the settings.
var ErrConfigUnreadable = errors.New("redis persistence settings unreadable")

// Durability reads appendonly and maxmemory-policy with CONFIG GET, or,
// where CONFIG is refused, from INFO persistence (aof_enabled) and INFO
// memory (maxmemory_policy). It answers ErrConfigUnreadable when neither
// tells them, and an error wrapping store.ErrUnavailable when Redis does
// not answer.
func (s *Store) Durability(ctx context.Context) (Durability, error) {
	node, err := s.dataNode(ctx)
	if err != nil {
		return Durability{}, err
	}
	aof, aofErr := node.ConfigGet(ctx, "appendonly").Result()
	pol, polErr := node.ConfigGet(ctx, "maxmemory-policy").Result()
	if aofErr == nil && polErr == nil && aof["appendonly"] != "" && pol["maxmemory-policy"] != "" {
		return Durability{AppendOnly: aof["appendonly"], MaxMemoryPolicy: pol["maxmemory-policy"], Via: "config"}, nil
	}
	info, err := node.Info(ctx, "persistence", "memory").Result()
	if err != nil {
		if isRefused(err) {
			return Durability{}, ErrConfigUnreadable
		}
		return Durability{}, unavailable("read redis settings", err)
	}
	enabled, ok1 := infoField(info, "aof_enabled")
	policy, ok2 := infoField(info, "maxmemory_policy")
	if !ok1 || !ok2 {
		return Durability{}, ErrConfigUnreadable
	}
	d := Durability{AppendOnly: "no", MaxMemoryPolicy: policy, Via: "info"}
	if enabled == "1" {
		d.AppendOnly = "yes"
	}
	return d, nil
}

// isRefused reports an error reply (unknown or forbidden command), as
// opposed to a network failure.
func isRefused(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}
