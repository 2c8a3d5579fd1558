package bolt

import (
	"context"
	"time"

	"go.etcd.io/bbolt"

	"leadgate/gateway/store"
)

// AbandonQueued empties dest's due index into its dead letters, in
// transactions of a bounded size. Leased deliveries are in the due index
// too (leases live in memory), so they are moved as well; a later Settle
// of one finds it dead and ignores it.
func (s *Store) AbandonQueued(ctx context.Context, dest string, at time.Time, reason string) (int, error) {
	const chunk = 1000
	total := 0
	for {
		var (
			buried  []string
			removed int64
			full    bool
		)
		fn := func(tx *bbolt.Tx) error {
			buried, removed, full = buried[:0], 0, false
			b := tx.Bucket(bDue).Bucket([]byte(dest))
			if b == nil {
				return nil
			}
			var keys [][]byte
			c := b.Cursor()
			for k, _ := c.First(); k != nil && len(keys) < chunk; k, _ = c.Next() {
				keys = append(keys, append([]byte(nil), k...))
			}
			full = len(keys) == chunk
			for _, k := range keys {
				id := string(k[8:])
				r, err := getRecord(tx, id)
				if err != nil {
					return err
				}
				if err := b.Delete(k); err != nil {
					return err
				}
				removed++
				if r == nil || !r.queued() {
					continue // a stale key: nothing to bury
				}
				r.Attempts = append(r.Attempts, store.Attempt{At: at, Error: reason})
				r.State, r.Due, r.DeadAt = stateDead, 0, at
				r.Tries++
				if err := bury(tx, r, id); err != nil {
					return err
				}
				if err := putRecord(tx, id, r); err != nil {
					return err
				}
				buried = append(buried, id)
			}
			return nil
		}
		after := func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.queued[dest] -= removed
			if s.queued[dest] <= 0 {
				delete(s.queued, dest)
			}
			s.dead += int64(len(buried))
			// As after Settle: a Lease reading an older snapshot still sees
			// these due, so leave tombstones until no such read is left.
			held := s.leases[dest]
			if held == nil {
				held = make(map[string]leaseEntry)
				s.leases[dest] = held
			}
			for _, id := range buried {
				held[id] = leaseEntry{settled: s.txid}
				s.settledLog[dest] = append(s.settledLog[dest], settledRef{id: id, txid: s.txid})
			}
		}
		if err := s.submit(ctx, "abandon queued", fn, after); err != nil {
			return total, err
		}
		total += len(buried)
		if !full {
			return total, nil
		}
	}
}
