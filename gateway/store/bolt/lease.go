package bolt

import (
	"context"
	"fmt"
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
	var (
		out  []store.Delivery
		snap uint64
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bDue).Bucket([]byte(dest))
		if b == nil {
			return nil
		}
		snap = uint64(tx.ID())
		picked := s.pickDue(b, dest, now, max, snap)
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
	if len(out) == 0 {
		return nil, nil
	}
	return s.holdLeases(dest, out, snap, now.Add(lease)), nil
}

// pickDue walks dest's due index b (read at snapshot snap) from its oldest
// entry and picks up to max due at now that no live lease holds.
func (s *Store) pickDue(b *bbolt.Bucket, dest string, now time.Time, max int, snap uint64) []dueRef {
	picked := make([]dueRef, 0, min(max, 256))
	s.mu.Lock()
	defer s.mu.Unlock()
	held := s.leases[dest]
	s.dropTombstones(dest, held, snap)
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(picked) < max && keyTime(k) <= now.UnixNano(); k, _ = c.Next() {
		if e, ok := held[string(k[8:])]; ok && (e.settled > snap || (e.settled == 0 && e.end.After(now))) {
			continue
		}
		picked = append(picked, dueRef{id: string(k[8:]), at: keyTime(k)})
	}
	return picked
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

// holdLeases leases out (read at snapshot snap) until end, dropping any settled
// since the snapshot (an expired lease's late outcome), and returns what it
// leased.
func (s *Store) holdLeases(dest string, out []store.Delivery, snap uint64, end time.Time) []store.Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	held := s.heldOf(dest)
	kept := out[:0]
	for _, d := range out {
		if e, ok := held[d.ID]; ok && e.settled > snap {
			continue
		}
		held[d.ID] = leaseEntry{end: end}
		kept = append(kept, d)
	}
	if len(kept) == 0 {
		return nil
	}
	return kept
}

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
func (s *Store) tombstone(dest string, ids ...string) {
	held := s.heldOf(dest)
	for _, id := range ids {
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
