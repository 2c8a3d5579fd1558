package bolt

import (
	"context"
	"time"

	"go.etcd.io/bbolt"

	"leadgate/gateway/store"
)

// AbandonQueued empties dest's due index into its dead letters, in
// transactions of a bounded size; a line's head goes with its whole line
// (the deliveries of an ordered destination waiting behind it, see
// ordered.go), in the same transaction.
// Leased deliveries are in the due index too (leases live in memory), so
// they are moved as well; a later Settle of one finds it dead and ignores
// it.
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
			var keys [][]byte
			if b != nil {
				c := b.Cursor()
				for k, _ := c.First(); k != nil && len(keys) < chunk; k, _ = c.Next() {
					keys = append(keys, append([]byte(nil), k...))
				}
			}
			// abandon buries one delivery and answers its lead when it
			// was in a line.
			abandon := func(id string) (string, error) {
				r, err := getRecord(tx, id)
				if err != nil {
					return "", err
				}
				// Leaving its line queues nobody: the whole line is buried.
				leadID, err := leaveLine(tx, id, nil)
				if err != nil {
					return "", err
				}
				if r == nil || !r.queued() {
					return leadID, nil // a stale key: nothing to bury
				}
				if leadID != "" {
					r.OrderedLead = leadID
				}
				r.Attempts = append(r.Attempts, store.Attempt{At: at, Error: reason})
				r.State, r.Due, r.DeadAt = stateDead, 0, at
				r.Tries++
				if err := bury(tx, r, id); err != nil {
					return "", err
				}
				if err := putRecord(tx, id, r); err != nil {
					return "", err
				}
				buried = append(buried, id)
				return leadID, nil
			}
			// abandonLines buries the deliveries waiting in dest's lines
			// (of one lead, or of any with leadID ""), up to max.
			abandonLines := func(leadID string, max int) (int, error) {
				lineKeys, waiting := lineEntries(tx, dest, leadID, max)
				for i, id := range waiting {
					if _, err := abandon(id); err != nil {
						return 0, err
					}
					// Gone with its line reference; this also drops an
					// entry that had none.
					if err := tx.Bucket(bLines).Bucket([]byte(dest)).Delete(lineKeys[i]); err != nil {
						return 0, err
					}
				}
				return len(waiting), nil
			}
			n := 0
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
				removed++
				n++
				leadID, err := abandon(string(k[8:]))
				if err != nil {
					return err
				}
				if leadID != "" {
					// Its line goes with it, in this transaction, so no line
					// is ever left without a queued head.
					m, err := abandonLines(leadID, -1)
					if err != nil {
						return err
					}
					n += m
				}
			}
			if len(keys) < chunk {
				// Lines whose head is gone (only a damaged file has them).
				m, err := abandonLines("", chunk-len(keys))
				if err != nil {
					return err
				}
				n += m
			}
			full = n >= chunk
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
