package redisstore

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"leadgate/gateway/store"
)

// Lead reads a lead's hash and its last-seen score in one round trip.
func (s *Store) Lead(ctx context.Context, leadID string) (store.LeadRecord, error) {
	var (
		h    *redis.MapStringStringCmd
		last *redis.FloatCmd
	)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		h = p.HGetAll(ctx, s.keys.lead(leadID))
		last = p.ZScore(ctx, s.keys.leads, leadID)
		return nil
	})
	if err != nil && !isNil(err) {
		return store.LeadRecord{}, unavailable("read lead", err)
	}
	if h.Val()["s"] == "" {
		return store.LeadRecord{}, store.ErrNotFound
	}
	var lastSeen time.Time
	if last.Err() == nil {
		lastSeen = time.UnixMilli(int64(last.Val())).UTC()
	}
	return leadFromHash(leadID, h.Val(), lastSeen)
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
