package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"leadgate/gateway/store"
)

// leaseEntry is a delivery's in-memory lease, or, once settled is set, a
// tombstone: the delivery was settled by the commit with that transaction
// id, and a read snapshot older than it still shows it due.
type leaseEntry struct {
	end     time.Time
	settled uint64
}

// settledRef names one tombstone in settledLog.
type settledRef struct {
	id   string
	txid uint64
}

// Lease seeks the destination's due index from its oldest entry, skipping
// deliveries under a live lease, and leases up to max that are due at now.
// Leases are kept in memory only. Only the choice of deliveries holds mu;
// reading their records and events does not, so a Lease never holds up
// the commit goroutine, which takes mu after each commit.
func (s *Store) Lease(ctx context.Context, dest string, now time.Time, max int, lease time.Duration) ([]store.Delivery, error) {
	if max <= 0 {
		return nil, nil
	}
	lm := s.destLock(dest)
	lm.Lock()
	defer lm.Unlock()
	var (
		out  []store.Delivery
		snap uint64
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		out = out[:0]
		b := tx.Bucket(bDue).Bucket([]byte(dest))
		if b == nil {
			return nil
		}
		snap = uint64(tx.ID())
		type due struct {
			id string
			at int64
		}
		picked := make([]due, 0, min(max, 256))
		s.mu.Lock()
		held := s.leases[dest]
		s.dropTombstones(dest, held, snap)
		c := b.Cursor()
		for k, _ := c.First(); k != nil && len(picked) < max && keyTime(k) <= now.UnixNano(); k, _ = c.Next() {
			if e, ok := held[string(k[8:])]; ok && (e.settled > snap || (e.settled == 0 && e.end.After(now))) {
				continue
			}
			picked = append(picked, due{id: string(k[8:]), at: keyTime(k)})
		}
		s.mu.Unlock()
		events, records := tx.Bucket(bEvents), tx.Bucket(bDeliveries)
		out = make([]store.Delivery, 0, len(picked))
		for _, p := range picked {
			var d store.Delivery
			if records.Get([]byte(p.id)) == nil {
				// Never attempted: everything is in its due key.
				eventID, _, ok := parseDeliveryID(p.id)
				if !ok {
					return fmt.Errorf("due delivery %s: malformed id", p.id)
				}
				d = store.Delivery{ID: p.id, EventID: eventID, Destination: dest, EnqueuedAt: time.Unix(0, p.at).UTC()}
			} else {
				r, err := getRecord(tx, p.id)
				if err != nil {
					return err
				}
				d = store.Delivery{ID: p.id, EventID: r.EventID, Destination: dest, Attempts: r.Tries, EnqueuedAt: r.EnqueuedAt}
			}
			if e, ok := s.recalled(d.EventID); ok {
				d.Event, d.RequestID = *e.ev, e.requestID
			} else {
				rid, err := routesRequestID(tx, d.EventID)
				if err != nil {
					return err
				}
				d.RequestID = rid
				raw := events.Get([]byte(d.EventID))
				if raw == nil {
					return fmt.Errorf("delivery %s: event %s missing", p.id, d.EventID)
				}
				if err := decodeJSON(raw, &d.Event); err != nil {
					return fmt.Errorf("decode event %s: %w", d.EventID, err)
				}
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("lease", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	held := s.leases[dest]
	if held == nil {
		held = make(map[string]leaseEntry)
		s.leases[dest] = held
	}
	end := now.Add(lease)
	kept := out[:0]
	for _, d := range out {
		if e, ok := held[d.ID]; ok && e.settled > snap {
			continue // settled (an expired lease's late outcome) since the snapshot
		}
		held[d.ID] = leaseEntry{end: end}
		kept = append(kept, d)
	}
	if len(kept) == 0 {
		return nil, nil
	}
	return kept, nil
}

// destLock is the mutex that serializes Lease calls of dest.
func (s *Store) destLock(dest string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.leaseMu[dest]
	if m == nil {
		m = new(sync.Mutex)
		s.leaseMu[dest] = m
	}
	return m
}

// dropTombstones forgets dest's tombstones that a snapshot of txid snap
// already reflects. mu must be held.
func (s *Store) dropTombstones(dest string, held map[string]leaseEntry, snap uint64) {
	log := s.settledLog[dest]
	n := 0
	for n < len(log) && log[n].txid <= snap {
		if e, ok := held[log[n].id]; ok && e.settled == log[n].txid {
			delete(held, log[n].id)
		}
		n++
	}
	if n > 0 {
		s.settledLog[dest] = append(log[:0], log[n:]...)
	}
}

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
		// A Lease reading a snapshot from before this commit still sees
		// these deliveries due: leave tombstones until no such read is left.
		for _, o := range outcomes {
			dest := o.Delivery.Destination
			held := s.leases[dest]
			if held == nil {
				held = make(map[string]leaseEntry)
				s.leases[dest] = held
			}
			held[o.Delivery.ID] = leaseEntry{settled: s.txid}
			s.settledLog[dest] = append(s.settledLog[dest], settledRef{id: o.Delivery.ID, txid: s.txid})
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

// Pending names the destinations with queued deliveries, sorted.
func (s *Store) Pending(ctx context.Context) ([]string, error) {
	if err := s.Ping(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.queued))
	for dest, n := range s.queued {
		if n > 0 {
			out = append(out, dest)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Event returns the event and its deliveries, sorted by destination.
func (s *Store) Event(ctx context.Context, eventID string) (store.EventRecord, error) {
	var rec store.EventRecord
	found := false
	err := s.db.View(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bEvents).Get([]byte(eventID))
		if raw == nil {
			return nil
		}
		found = true
		if err := decodeJSON(raw, &rec.Event); err != nil {
			return fmt.Errorf("decode event %s: %w", eventID, err)
		}
		rec.Deliveries = []store.DeliveryStatus{}
		routes := tx.Bucket(bRoutes).Get([]byte(eventID))
		if routes == nil {
			return nil
		}
		_, _, dests, err := decodeRoutes(routes)
		if err != nil {
			return fmt.Errorf("event %s: %w", eventID, err)
		}
		for i := range dests {
			r, err := getRecord(tx, deliveryID(eventID, i))
			if err != nil {
				return err
			}
			attempts := r.Attempts
			if attempts == nil {
				attempts = []store.Attempt{}
			}
			rec.Deliveries = append(rec.Deliveries, store.DeliveryStatus{Destination: r.Dest, Status: r.State, Attempts: attempts})
		}
		sort.Slice(rec.Deliveries, func(i, j int) bool { return rec.Deliveries[i].Destination < rec.Deliveries[j].Destination })
		return nil
	})
	if err != nil {
		return store.EventRecord{}, unavailable("event", err)
	}
	if !found {
		return store.EventRecord{}, fmt.Errorf("event %s: %w", eventID, store.ErrNotFound)
	}
	return rec, nil
}

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

// Depth counts deliveries by state against the wall clock: scheduled ones
// are found by seeking each due index to now (and in the destination's
// lines, see ordered.go), in-flight ones are the live leases, and the rest
// of the queue is due.
func (s *Store) Depth(ctx context.Context) (map[string]int64, error) {
	now := time.Now()
	s.mu.Lock()
	out := map[string]int64{"due": 0, "scheduled": 0, "in_flight": 0, "dead": s.dead}
	queued := make(map[string]int64, len(s.queued))
	inFlight := make(map[string]int64, len(s.queued))
	for dest, n := range s.queued {
		queued[dest] = n
		for id, e := range s.leases[dest] {
			switch {
			case e.settled != 0:
			case e.end.After(now):
				inFlight[dest]++
			default:
				delete(s.leases[dest], id)
			}
		}
	}
	s.mu.Unlock()
	err := s.db.View(func(tx *bbolt.Tx) error {
		due := tx.Bucket(bDue)
		for dest, n := range queued {
			var scheduled int64
			if b := due.Bucket([]byte(dest)); b != nil {
				c := b.Cursor()
				for k, _ := c.Seek(timeKey(now.UnixNano()+1, "")); k != nil; k, _ = c.Next() {
					scheduled++
				}
			}
			// Deliveries waiting in a line are not in the due index: they
			// are queued for later, like a scheduled retry.
			out["scheduled"] += scheduled + waiting(tx, dest)
			out["in_flight"] += inFlight[dest]
			out["due"] += max(n-scheduled-inFlight[dest], 0)
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("depth", err)
	}
	return out, nil
}
