package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"leadgate/gateway/store"
)

// Lead reads a lead's hash and its last-seen score in one round trip.
func (s *Store) Lead(ctx context.Context, leadID string) (store.LeadRecord, error) {
	hs, err := s.leadHashes(ctx, []string{leadID})
	if err != nil {
		return store.LeadRecord{}, fmt.Errorf("read lead: %w", err)
	}
	h := hs[0]
	if h.fields["s"] == "" {
		return store.LeadRecord{}, store.ErrNotFound
	}
	var lastSeen time.Time
	if h.seen {
		lastSeen = time.UnixMilli(h.lastSeen).UTC()
	}
	return leadFromHash(leadID, h.fields, lastSeen)
}

// leadHashesScript reads leads' hashes with their snapshots: s is the
// one its hash refers to (l, see writeScript) when it holds none itself.
// KEYS: leads. ARGV: prefix, then lead ids. Reply: per lead {its last seen
// ms or "", then its hash's fields and values}.
var leadHashesScript = redis.NewScript(`
local out = {}
for i = 2, #ARGV do
  local h = redis.call('HGETALL', ARGV[1] .. 'lead:' .. ARGV[i])
  for j = 1, #h, 2 do
    if h[j] == 'l' then
      h[#h + 1] = 's'
      h[#h + 1] = redis.call('HGET', ARGV[1] .. 'sn:' .. h[j + 1], 's') or ''
      break
    end
  end
  table.insert(h, 1, redis.call('ZSCORE', KEYS[1], ARGV[i]) or '')
  out[#out + 1] = h
end
return out
`)

// leadHash is one lead's hash, its snapshot in s, and its last seen
// (seen: it has one).
type leadHash struct {
	fields   map[string]string
	lastSeen int64
	seen     bool
}

// leadHashes reads the hashes of ids in one script, an empty one for a
// lead that is gone.
func (s *Store) leadHashes(ctx context.Context, ids []string) ([]leadHash, error) {
	args := make([]any, 0, 1+len(ids))
	args = append(args, s.keys.base)
	for _, id := range ids {
		args = append(args, id)
	}
	reply, err := leadHashesScript.Run(ctx, s.rdb, []string{s.keys.leads}, args...).Slice()
	if err != nil {
		return nil, unavailable("read lead hashes", err)
	}
	if len(reply) != len(ids) {
		return nil, fmt.Errorf("%d lead hashes for %d ids", len(reply), len(ids))
	}
	out := make([]leadHash, len(ids))
	for i, r := range reply {
		vals, _ := r.([]any)
		if len(vals) == 0 {
			return nil, fmt.Errorf("lead %s: empty reply", ids[i])
		}
		h := leadHash{fields: make(map[string]string, len(vals)/2)}
		if sc, _ := vals[0].(string); sc != "" {
			f, err := strconv.ParseFloat(sc, 64)
			if err != nil {
				return nil, fmt.Errorf("lead %s: last seen %q", ids[i], sc)
			}
			h.lastSeen, h.seen = int64(f), true
		}
		for j := 1; j+1 < len(vals); j += 2 {
			k, _ := vals[j].(string)
			v, _ := vals[j+1].(string)
			h.fields[k] = v
		}
		out[i] = h
	}
	return out, nil
}

// SweepLeads removes up to max leads last seen before cutoff in one script.
// Until every lead stored before the last-seen set existed is in it, each
// call first takes one bounded step of that migration (migrateLeadsScript).
func (s *Store) SweepLeads(ctx context.Context, cutoff time.Time, max int) (int, error) {
	if max <= 0 {
		return 0, nil
	}
	if !s.leadsMigrated.Load() {
		n, err := migrateLeadsScript.Run(ctx, s.rdb, []string{s.keys.leads, s.keys.leads + ":scan"}, s.keys.base, time.Now().UnixMilli(), 1000).Int()
		if err != nil {
			return 0, unavailable("sweep leads: migrate", err)
		}
		if n < 0 {
			s.leadsMigrated.Store(true)
		}
	}
	n, err := sweepLeadsScript.Run(ctx, s.rdb, []string{s.keys.idx, s.keys.leads}, s.keys.base, cutoff.UnixMilli(), max).Int()
	if err != nil {
		return 0, unavailable("sweep leads", err)
	}
	return n, nil
}

// LeadCount is the size of the last-seen set: every lead stored or seen
// since it existed.
func (s *Store) LeadCount(ctx context.Context) (int64, error) {
	n, err := s.rdb.ZCard(ctx, s.keys.leads).Result()
	if err != nil {
		return 0, unavailable("count leads", err)
	}
	return n, nil
}
