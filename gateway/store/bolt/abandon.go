package bolt

import (
	"context"
	"time"

	"go.etcd.io/bbolt"

	"leadgate/gateway/store"
)

// abandonChunk bounds the deliveries one AbandonQueued transaction buries.
const abandonChunk = 1000

// AbandonQueued empties dest's due index into its dead letters, in
// transactions of a bounded size; a line's head goes with its whole line
// (the deliveries of an ordered destination waiting behind it, see
// ordered.go), in the same transaction.
// Leased deliveries are in the due index too (leases live in memory), so
// they are moved as well; a later Settle of one finds it dead and ignores
// it.
func (s *Store) AbandonQueued(ctx context.Context, dest string, at time.Time, reason string) (int, error) {
	total := 0
	for {
		a := abandoning{dest: dest, at: at, reason: reason}
		fn := func(tx *bbolt.Tx) error {
			a.tx, a.buried, a.removed, a.full = tx, a.buried[:0], 0, false
			return a.chunk()
		}
		after := func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.queued[dest] -= a.removed
			if s.queued[dest] <= 0 {
				delete(s.queued, dest)
			}
			s.dead += int64(len(a.buried))
			s.tombstone(dest, a.buried...)
		}
		if err := s.submit(ctx, "abandon queued", fn, after); err != nil {
			return total, err
		}
		total += len(a.buried)
		if !a.full {
			return total, nil
		}
	}
}

// abandoning is one AbandonQueued transaction: what it buries, as what.
type abandoning struct {
	tx     *bbolt.Tx
	dest   string
	at     time.Time
	reason string
	// buried lists the deliveries made dead; removed counts the due keys
	// deleted; full says the chunk was used up, so another may follow.
	buried  []string
	removed int64
	full    bool
}

// chunk buries up to abandonChunk of the oldest due deliveries, each with
// its line.
func (a *abandoning) chunk() error {
	b := a.tx.Bucket(bDue).Bucket([]byte(a.dest))
	var keys [][]byte
	if b != nil {
		c := b.Cursor()
		for k, _ := c.First(); k != nil && len(keys) < abandonChunk; k, _ = c.Next() {
			keys = append(keys, append([]byte(nil), k...))
		}
	}
	n := 0
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
		a.removed++
		n++
		leadID, err := a.one(string(k[8:]))
		if err != nil {
			return err
		}
		if leadID != "" {
			// Its line goes with it, in this transaction, so no line
			// is ever left without a queued head.
			m, err := a.lines(leadID, -1)
			if err != nil {
				return err
			}
			n += m
		}
	}
	if len(keys) < abandonChunk {
		// Lines whose head is gone (only a damaged file has them).
		m, err := a.lines("", abandonChunk-len(keys))
		if err != nil {
			return err
		}
		n += m
	}
	a.full = n >= abandonChunk
	return nil
}

// one buries one delivery and answers its lead when it was in a line.
func (a *abandoning) one(id string) (string, error) {
	r, err := getRecord(a.tx, id)
	if err != nil {
		return "", err
	}
	// Leaving its line queues nobody: the whole line is buried.
	leadID, err := leaveLine(a.tx, id, nil)
	if err != nil {
		return "", err
	}
	if r == nil || !r.queued() {
		return leadID, nil // a stale key: nothing to bury
	}
	if leadID != "" {
		r.OrderedLead = leadID
	}
	r.Attempts = append(r.Attempts, store.Attempt{At: a.at, Error: a.reason})
	r.State, r.Due, r.DeadAt = stateDead, 0, a.at
	r.Tries++
	if err := bury(a.tx, r, id); err != nil {
		return "", err
	}
	if err := putRecord(a.tx, id, r); err != nil {
		return "", err
	}
	a.buried = append(a.buried, id)
	return leadID, nil
}

// lines buries the deliveries waiting in the destination's lines (of one
// lead, or of any with leadID ""), up to max.
func (a *abandoning) lines(leadID string, max int) (int, error) {
	lineKeys, waiting := lineEntries(a.tx, a.dest, leadID, max)
	for i, id := range waiting {
		if _, err := a.one(id); err != nil {
			return 0, err
		}
		// Gone with its line reference; this also drops an entry that
		// had none.
		if err := a.tx.Bucket(bLines).Bucket([]byte(a.dest)).Delete(lineKeys[i]); err != nil {
			return 0, err
		}
	}
	return len(waiting), nil
}
