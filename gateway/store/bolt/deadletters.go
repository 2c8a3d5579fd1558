package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"leadgate/gateway/store"
)

// deadBucket is the dead-letter index of dest, or of every destination.
func deadBucket(tx *bbolt.Tx, dest string) *bbolt.Bucket {
	if dest == "" {
		return tx.Bucket(bDead)
	}
	return tx.Bucket(bDeadDest).Bucket([]byte(dest))
}

// DeadLetters pages through a dead-letter index; the cursor is the last
// key returned.
func (s *Store) DeadLetters(ctx context.Context, dest, cursor string, limit int) ([]store.DeadLetter, string, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var after []byte
	if cursor != "" {
		var err error
		if after, err = base64.RawURLEncoding.DecodeString(cursor); err != nil || len(after) < 8 {
			return nil, "", fmt.Errorf("dead letters: %w %q", store.ErrBadCursor, cursor)
		}
	}
	var (
		items []store.DeadLetter
		next  string
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := deadBucket(tx, dest)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, _ := c.First()
		if after != nil {
			k, _ = c.Seek(after)
			if k != nil && bytes.Equal(k, after) {
				k, _ = c.Next()
			}
		}
		var last []byte
		for ; k != nil; k, _ = c.Next() {
			if len(items) == limit {
				next = base64.RawURLEncoding.EncodeToString(last)
				return nil
			}
			last = append(last[:0], k...)
			id := string(k[8:])
			r, err := getRecord(tx, id)
			if err != nil {
				return err
			}
			if r == nil {
				return fmt.Errorf("dead letter %s has no record", id)
			}
			dl := store.DeadLetter{ID: id, EventID: r.EventID, Destination: r.Dest, Attempts: len(r.Attempts), DeadAt: r.DeadAt}
			if n := len(r.Attempts); n > 0 {
				dl.LastError = r.Attempts[n-1].Error
			}
			items = append(items, dl)
		}
		return nil
	})
	if err != nil {
		return nil, "", unavailable("dead letters", err)
	}
	return items, next, nil
}

// Replay queues one dead letter again, due at now, with its attempt count
// since queueing reset so it gets the whole retry schedule again.
func (s *Store) Replay(ctx context.Context, deadLetterID string, now time.Time) error {
	var (
		found, queued bool
		dest          string
	)
	fn := func(tx *bbolt.Tx) error {
		found = false
		r, err := getRecord(tx, deadLetterID)
		if err != nil || r == nil || r.State != stateDead {
			return err
		}
		found, dest = true, r.Dest
		queued, err = revive(tx, r, deadLetterID, now)
		return err
	}
	after := func() {
		if found {
			s.mu.Lock()
			if queued {
				s.queued[dest]++
				s.unmark(dest)
			}
			s.dead--
			s.mu.Unlock()
		}
	}
	if err := s.submit(ctx, "replay", fn, after); err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("dead letter %s: %w", deadLetterID, store.ErrNotFound)
	}
	return nil
}

// revive moves a dead delivery back into the queue, due at now. One that
// was queued as ordered joins the back of its lead's line instead, and is
// queued only when that line was empty; queued says which.
func revive(tx *bbolt.Tx, r *record, id string, now time.Time) (queued bool, err error) {
	k := timeKey(r.DeadAt.UnixNano(), id)
	if err := tx.Bucket(bDead).Delete(k); err != nil {
		return false, err
	}
	if b := tx.Bucket(bDeadDest).Bucket([]byte(r.Dest)); b != nil {
		if err := b.Delete(k); err != nil {
			return false, err
		}
	}
	r.State, r.Tries, r.Due, r.DeadAt = statePending, 0, now.UnixNano(), time.Time{}
	queued = true
	if r.OrderedLead != "" {
		if queued, err = joinLine(tx, r.Dest, r.OrderedLead, id); err != nil {
			return false, err
		}
	}
	if queued {
		if err := queue(tx, r.Dest, r.Due, id); err != nil {
			return false, err
		}
	}
	return queued, putRecord(tx, id, r)
}

// ReplayAll replays dest's dead letters ("" is every destination) in
// transactions of a bounded size.
func (s *Store) ReplayAll(ctx context.Context, dest string, now time.Time) (int, error) {
	const chunk = 1000
	total := 0
	for {
		var revived, requeued map[string]int64
		n := 0
		fn := func(tx *bbolt.Tx) error {
			revived, requeued, n = map[string]int64{}, map[string]int64{}, 0
			b := deadBucket(tx, dest)
			if b == nil {
				return nil
			}
			var ids []string
			c := b.Cursor()
			for k, _ := c.First(); k != nil && len(ids) < chunk; k, _ = c.Next() {
				ids = append(ids, string(k[8:]))
			}
			for _, id := range ids {
				r, err := getRecord(tx, id)
				if err != nil {
					return err
				}
				if r == nil || r.State != stateDead {
					return fmt.Errorf("dead letter %s has no dead record", id)
				}
				queued, err := revive(tx, r, id, now)
				if err != nil {
					return err
				}
				revived[r.Dest]++
				if queued {
					requeued[r.Dest]++
				}
				n++
			}
			return nil
		}
		after := func() {
			s.mu.Lock()
			for d, k := range revived {
				if q := requeued[d]; q > 0 {
					s.queued[d] += q
					s.unmark(d)
				}
				s.dead -= k
			}
			s.mu.Unlock()
		}
		if err := s.submit(ctx, "replay all", fn, after); err != nil {
			return total, err
		}
		total += n
		if n < chunk {
			return total, nil
		}
	}
}
