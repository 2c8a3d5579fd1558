package bolt

import (
	"bytes"
	"context"
	"fmt"
	"math"
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
	// snap is the snapshot the lease was read at. A lease read at or after
	// a Settle's commit is a new one (of a retry due at once), taken before
	// that Settle's after func ran: the tombstone must not replace it.
	snap uint64
}

// settledRef names one tombstone in settledLog.
type settledRef struct {
	id   string
	txid uint64
}

// dueRef is a due-index entry Lease picked: a delivery id and its due time.
type dueRef struct {
	id string
	at int64
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
	from := s.markOf(dest, now)
	var (
		out  []store.Delivery
		snap uint64
		next leaseMark
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bDue).Bucket([]byte(dest))
		if b == nil {
			return nil
		}
		snap = uint64(tx.ID())
		var picked []dueRef
		picked, next = s.pickDue(b, dest, now, max, snap, from, now.Add(lease))
		out = make([]store.Delivery, 0, len(picked))
		for _, p := range picked {
			d, err := s.leased(tx, dest, p)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("lease", err)
	}
	return s.holdLeases(dest, out, snap, now.Add(lease), next), nil
}

// pickDue walks dest's due index b (read at snapshot snap) from its oldest
// entry, or from past the mark from when there is one, and picks up to max
// due at now that no live lease holds, to be leased until end. It returns
// them and the mark of what it walked: every entry up to there is held
// once the picked ones are.
func (s *Store) pickDue(b *bbolt.Bucket, dest string, now time.Time, max int, snap uint64, from *leaseMark, end time.Time) ([]dueRef, leaseMark) {
	// Grown as found: a Lease under load picks one or two, and a slice
	// sized for max was most of its allocations.
	var picked []dueRef
	s.mu.Lock()
	defer s.mu.Unlock()
	held := s.leases[dest]
	s.dropTombstones(dest, held, snap)
	c := b.Cursor()
	k, _ := c.First()
	mark := leaseMark{until: now.Add(markLife)}
	if from != nil {
		mark = *from
		if k, _ = c.Seek(from.key); k != nil && bytes.Equal(k, from.key) {
			k, _ = c.Next()
		}
	}
	var last []byte
	for ; k != nil && len(picked) < max && keyTime(k) <= now.UnixNano(); k, _ = c.Next() {
		last = k
		e, ok := held[string(k[8:])]
		if ok && e.settled > snap {
			continue // settled since the snapshot: gone from the next one
		}
		if ok && e.settled == 0 && e.end.After(now) {
			mark.expire(e.end)
			continue
		}
		mark.expire(end)
		picked = append(picked, dueRef{id: string(k[8:]), at: keyTime(k)})
	}
	if last != nil {
		mark.key = bytes.Clone(last)
	}
	return picked, mark
}

// leased reads the picked delivery p of dest: its record (derived from the
// due key when it was never attempted) and its event, from the recent
// cache when it is there.
func (s *Store) leased(tx *bbolt.Tx, dest string, p dueRef) (store.Delivery, error) {
	var d store.Delivery
	if tx.Bucket(bDeliveries).Get([]byte(p.id)) == nil {
		// Never attempted: everything is in its due key.
		eventID, _, ok := parseDeliveryID(p.id)
		if !ok {
			return d, fmt.Errorf("due delivery %s: malformed id", p.id)
		}
		d = store.Delivery{ID: p.id, EventID: eventID, Destination: dest, EnqueuedAt: time.Unix(0, p.at).UTC()}
	} else {
		r, err := getRecord(tx, p.id)
		if err != nil {
			return d, err
		}
		d = store.Delivery{ID: p.id, EventID: r.EventID, Destination: dest, Attempts: r.Tries, EnqueuedAt: r.EnqueuedAt}
	}
	if e, ok := s.recalled(d.EventID); ok {
		d.Event, d.RequestID = *e.ev, e.requestID
		return d, nil
	}
	rid, err := routesRequestID(tx, d.EventID)
	if err != nil {
		return d, err
	}
	d.RequestID = rid
	raw := tx.Bucket(bEvents).Get([]byte(d.EventID))
	if raw == nil {
		return d, fmt.Errorf("delivery %s: event %s missing", p.id, d.EventID)
	}
	if err := decodeJSON(raw, &d.Event); err != nil {
		return d, fmt.Errorf("decode event %s: %w", d.EventID, err)
	}
	return d, nil
}

// holdLeases leases out (read at snapshot snap) until end, dropping any
// settled since the snapshot (an expired lease's late outcome), and returns
// what it leased. It keeps mark for dest's next Lease.
func (s *Store) holdLeases(dest string, out []store.Delivery, snap uint64, end time.Time, mark leaseMark) []store.Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mark.key != nil {
		if s.marks == nil {
			s.marks = map[string]leaseMark{}
		}
		s.marks[dest] = mark
	}
	held := s.heldOf(dest)
	kept := out[:0]
	for _, d := range out {
		if e, ok := held[d.ID]; ok && e.settled > snap {
			continue
		}
		held[d.ID] = leaseEntry{end: end, snap: snap}
		kept = append(kept, d)
	}
	if len(kept) == 0 {
		return nil
	}
	return kept
}

// markLife bounds how long Leases go on from one walk from the oldest
// entry: whatever a mark skips that it should not (a key a damaged file
// holds for a delivery no longer queued) waits at most this long.
const markLife = time.Second

// leaseMark lets a Lease skip the head of a due index that earlier Leases
// found all held. Under load that head is every delivery in flight and
// every outcome waiting for its Settle, and walking it (a cursor step and
// a map lookup each) was most of a Lease's cost.
type leaseMark struct {
	// key is the last due key walked: every key up to it in the due index
	// is held, by a lease or a tombstone.
	key []byte
	// until is the earliest end of the leases among them (from then on
	// one may run out and be due again), and at most markLife after the
	// walk began at the oldest entry.
	until time.Time
}

// expire brings the mark's end forward to end.
func (m *leaseMark) expire(end time.Time) {
	if end.Before(m.until) {
		m.until = end
	}
}

// markOf is dest's mark when it still holds at now, nil otherwise. It is
// read before the Lease's snapshot, and starts collecting the keys queued
// from then on (queuedAt): the snapshot may miss them, so the next Lease
// checks the mark this one leaves against them.
func (s *Store) markOf(dest string, now time.Time) *leaseMark {
	s.mu.Lock()
	defer s.mu.Unlock()
	low, queued := s.lowDue[dest]
	delete(s.lowDue, dest)
	m, ok := s.marks[dest]
	if !ok {
		return nil
	}
	if queued && low <= keyTime(m.key) || !now.Before(m.until) {
		delete(s.marks, dest)
		return nil
	}
	return &m
}

// queuedAt says a key due at due was put into dest's due index, or, for
// unmark, that a lease a mark counts as held is gone: a mark past it no
// longer holds. mu must be held. Callers are the after funcs of the
// commits that queue deliveries, and Depth, which forgets expired leases.
// A Lease whose snapshot has the key but runs before the after func skips
// it at worst once: the next Lease walks from the oldest entry.
func (s *Store) queuedAt(dest string, due int64) {
	if s.lowDue == nil {
		s.lowDue = map[string]int64{}
	}
	if low, ok := s.lowDue[dest]; !ok || due < low {
		s.lowDue[dest] = due
	}
}

// unmark makes the next Lease of dest walk its due index from the oldest
// entry. mu must be held.
func (s *Store) unmark(dest string) { s.queuedAt(dest, math.MinInt64) }

// heldOf is dest's lease map, made on first use. mu must be held.
func (s *Store) heldOf(dest string) map[string]leaseEntry {
	held := s.leases[dest]
	if held == nil {
		held = make(map[string]leaseEntry)
		s.leases[dest] = held
	}
	return held
}

// tombstone marks dest's deliveries ids as settled by the commit being
// made: a Lease reading a snapshot from before it still sees them due, so
// they stay skipped until no such read is left. mu must be held.
//
// A delivery the commit queued again (a retry due at once) may already be
// leased anew by a Lease that read the commit's snapshot and ran before
// this after func: that lease stays. A tombstone over it would be dropped
// by the next Lease (its snapshot is as new) and the delivery, still in
// flight, leased and sent a second time. Leases of one destination are
// serialized and read ever newer snapshots, so no later Lease reads one
// older than the commit, which is all the tombstone was for.
func (s *Store) tombstone(dest string, ids ...string) {
	held := s.heldOf(dest)
	for _, id := range ids {
		if e, ok := held[id]; ok && e.settled == 0 && e.snap >= s.txid {
			continue
		}
		held[id] = leaseEntry{settled: s.txid}
		s.settledLog[dest] = append(s.settledLog[dest], settledRef{id: id, txid: s.txid})
	}
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
