package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"leadgate/gateway/store"
)

// KeepAnswer keeps a under the key of the dedupe record (bAnswers, keyed
// like the dedupe log, so the sweep that removes the record removes the
// answer too).
func (s *Store) KeepAnswer(ctx context.Context, dedupeKey string, a store.Answer) error {
	if dedupeKey == "" || len(dedupeKey) > maxKey {
		return nil
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("keep answer: %w", err)
	}
	now := time.Now().UnixNano()
	return s.submit(ctx, "keep answer", func(tx *bbolt.Tx) error {
		e, ok := s.lookupDedupe(dedupeKey)
		if !ok || e.exp <= now {
			return nil
		}
		return tx.Bucket(bAnswers).Put(timeKey(e.exp, dedupeKey), raw)
	}, nil)
}

// keptAnswer sets res.Answer from the answer kept for the dedupe record
// of key that ends at exp, if any.
func keptAnswer(tx *bbolt.Tx, exp int64, key string, res *store.IngestResult) error {
	raw := tx.Bucket(bAnswers).Get(timeKey(exp, key))
	if raw == nil {
		return nil
	}
	var a store.Answer
	if err := json.Unmarshal(raw, &a); err != nil {
		return fmt.Errorf("decode kept answer: %w", err)
	}
	res.Answer = &a
	return nil
}

// hold leases req.Hold's delivery to the caller. It runs in the commit,
// before the transaction is on disk: a Lease reading a snapshot with the
// delivery in it finds the lease already there (leases are kept in memory
// only, so after a crash the delivery is simply due).
func (s *Store) hold(req *store.IngestRequest, p *plan, res *store.IngestResult) {
	h := req.Hold
	for i := range p.events {
		j := slices.Index(p.dests[i], h.Destination)
		if j < 0 {
			continue
		}
		if p.ordered != nil && p.ordered[i] != nil && p.ordered[i][j] {
			return // its lead's line decides when it goes, not the caller
		}
		id := deliveryID(p.events[i].ID, j)
		s.mu.Lock()
		held := s.leases[h.Destination]
		if held == nil {
			held = make(map[string]leaseEntry)
			s.leases[h.Destination] = held
		}
		held[id] = leaseEntry{end: h.Until}
		s.mu.Unlock()
		res.Held = &store.Delivery{ID: id, EventID: p.events[i].ID, Destination: h.Destination, Event: p.events[i],
			EnqueuedAt: time.Unix(0, req.ReceivedAt.UnixNano()).UTC(), RequestID: req.RequestID}
		return
	}
}
