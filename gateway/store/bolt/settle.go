package bolt

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"leadgate/gateway/store"
)

// settled is what one Settle changed, applied to the in-memory state after
// its commit.
type settled struct {
	unqueued map[string]int64
	// requeued counts the deliveries that became their line's head and
	// were queued (see ordered.go).
	requeued map[string]int64
	dead     int64
}

// Settle records each attempt and moves each delivery to its new state in
// one transaction shared with other writes. Outcomes for deliveries that
// are no longer queued (settled twice after a lease ran out) are ignored.
func (s *Store) Settle(ctx context.Context, outcomes []store.Outcome) error {
	for _, o := range outcomes {
		switch o.State {
		case store.Delivered, store.Retrying, store.Dead:
		default:
			return fmt.Errorf("settle %s: unknown state %q", o.Delivery.ID, o.State)
		}
	}
	if len(outcomes) == 0 {
		return nil
	}
	var ch settled
	fn := func(tx *bbolt.Tx) error {
		ch = settled{unqueued: map[string]int64{}, requeued: map[string]int64{}}
		for i := range outcomes {
			if err := settleTx(tx, &outcomes[i], &ch); err != nil {
				return err
			}
		}
		return nil
	}
	after := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for dest, n := range ch.requeued {
			s.queued[dest] += n
		}
		for dest, n := range ch.unqueued {
			s.queued[dest] -= n
			if s.queued[dest] <= 0 {
				delete(s.queued, dest)
			}
		}
		s.dead += ch.dead
		for _, o := range outcomes {
			s.tombstone(o.Delivery.Destination, o.Delivery.ID)
			if o.State == store.Retrying {
				s.unmark(o.Delivery.Destination) // queued again, maybe due already
			}
		}
		for dest := range ch.requeued {
			s.unmark(dest) // the next of a line
		}
	}
	return s.submit(ctx, "settle", fn, after)
}

func settleTx(tx *bbolt.Tx, o *store.Outcome, ch *settled) error {
	id := o.Delivery.ID
	r, err := getRecord(tx, id)
	if err != nil || r == nil || !r.queued() {
		return err
	}
	wasQueued := false
	if b := tx.Bucket(bDue).Bucket([]byte(r.Dest)); b != nil && b.Get(timeKey(r.Due, id)) != nil {
		wasQueued = true
	}
	if err := unqueue(tx, r.Dest, r.Due, id); err != nil {
		return err
	}
	r.Attempts = append(r.Attempts, o.Attempt)
	if o.State != store.Retrying {
		// Done with, one way or the other: the next of its lead's line,
		// if it is in one, may go.
		leadID, err := leaveLine(tx, id, ch.requeued)
		if err != nil {
			return err
		}
		if leadID != "" {
			r.OrderedLead = leadID
		}
	}
	switch o.State {
	case store.Delivered:
		r.State, r.Due = stateDelivered, 0
		if wasQueued {
			ch.unqueued[r.Dest]++
		}
	case store.Retrying:
		due := o.RetryAt
		if due.IsZero() {
			due = o.Attempt.At
		}
		r.State, r.Due = stateRetrying, due.UnixNano()
		r.Tries++
		if waiting, err := behindInLine(tx, id); err != nil {
			return err
		} else if !waiting {
			if err := queue(tx, r.Dest, r.Due, id); err != nil {
				return err
			}
			if !wasQueued {
				ch.requeued[r.Dest]++
			}
		} else if wasQueued {
			ch.unqueued[r.Dest]++
		}
	case store.Dead:
		r.State, r.Due, r.DeadAt = stateDead, 0, o.Attempt.At
		if r.DeadAt.IsZero() {
			r.DeadAt = time.Now()
		}
		r.Tries++
		if wasQueued {
			ch.unqueued[r.Dest]++
		}
		ch.dead++
		if err := bury(tx, r, id); err != nil {
			return err
		}
	}
	return putRecord(tx, id, r)
}

// bury puts a dead delivery into both dead-letter indexes.
func bury(tx *bbolt.Tx, r *record, id string) error {
	k := timeKey(r.DeadAt.UnixNano(), id)
	if err := appending(tx.Bucket(bDead)).Put(k, nil); err != nil {
		return err
	}
	b, err := tx.Bucket(bDeadDest).CreateBucketIfNotExists([]byte(r.Dest))
	if err != nil {
		return fmt.Errorf("dead bucket %q: %w", r.Dest, err)
	}
	return appending(b).Put(k, nil)
}
