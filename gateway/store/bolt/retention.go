package bolt

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/tidwall/gjson"
	"go.etcd.io/bbolt"
)

// sweepScanFactor bounds the events one SweepEvents call examines to this
// many times max, so that a pile of old events still queued (a destination
// down for days) cannot make one call read the whole file; the next call
// goes on from where this one stopped.
const sweepScanFactor = 8

// doomed is one event SweepEvents removes: what the read found, so the
// write only checks that nothing changed since (a replay, a late settle).
type doomed struct {
	id string
	// records are the raw delivery records, by delivery id, as read.
	records map[string][]byte
	// deadKeys are the dead-letter index keys and their destinations.
	deadKeys []deadKey
}

type deadKey struct {
	dest string
	key  []byte
}

// SweepEvents removes up to max finished events whose last change is
// before before. It finds them under a read transaction, walking the
// events bucket (keyed in time order) from where the previous call
// stopped, and removes them in one write of the group commit that only
// re-checks and deletes, so the single writer is held for a few deletes
// per event and Ingest is never stalled behind a scan.
func (s *Store) SweepEvents(ctx context.Context, before time.Time, max int) (int, error) {
	if max <= 0 {
		return 0, nil
	}
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	found, err := s.findSweep(before.UnixNano(), max)
	if err != nil {
		return 0, unavailable("sweep events", err)
	}
	if len(found) == 0 {
		return 0, nil
	}
	var removed, dead int64
	fn := func(tx *bbolt.Tx) error {
		var err error
		removed, dead, err = removeDoomed(tx, found)
		return err
	}
	after := func() {
		s.mu.Lock()
		s.dead -= dead
		s.mu.Unlock()
	}
	if err := s.submit(ctx, "sweep events", fn, after); err != nil {
		return 0, err
	}
	return int(removed), nil
}

// findSweep finds up to max events finished before cut, examining at most
// max*sweepScanFactor from sweepFrom on, and moves sweepFrom to where the
// next call goes on. sweepMu must be held.
func (s *Store) findSweep(cut int64, max int) ([]doomed, error) {
	var (
		found []doomed
		from  []byte
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bEvents).Cursor()
		k, v := c.First()
		if s.sweepFrom != nil {
			k, v = c.Seek(s.sweepFrom)
		}
		for scanned := 0; k != nil; k, v = c.Next() {
			if ms, ok := eventIDMillis(k); ok && ms*int64(time.Millisecond) >= cut {
				return nil // younger than the cut, and so is every later id
			}
			if scanned == max*sweepScanFactor || len(found) == max {
				from = bytes.Clone(k)
				return nil
			}
			scanned++
			d, ok, err := finishedBefore(tx, k, v, cut)
			if err != nil {
				return err
			}
			if ok {
				found = append(found, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.sweepFrom = from
	return found, nil
}

// removeDoomed deletes the events found, with their routes, records and
// dead-letter keys, skipping any that changed since they were read; it
// counts the events removed and the dead letters among them.
func removeDoomed(tx *bbolt.Tx, found []doomed) (removed, dead int64, err error) {
	events, routes, records := tx.Bucket(bEvents), tx.Bucket(bRoutes), tx.Bucket(bDeliveries)
next:
	for _, d := range found {
		for id, raw := range d.records {
			if !bytes.Equal(records.Get([]byte(id)), raw) {
				continue next // changed since the read: the next pass judges it again
			}
		}
		if events.Get([]byte(d.id)) == nil {
			continue
		}
		for id := range d.records {
			if err := records.Delete([]byte(id)); err != nil {
				return 0, 0, err
			}
		}
		if err := deleteDeadKeys(tx, d.deadKeys); err != nil {
			return 0, 0, err
		}
		dead += int64(len(d.deadKeys))
		if err := routes.Delete([]byte(d.id)); err != nil {
			return 0, 0, err
		}
		if err := events.Delete([]byte(d.id)); err != nil {
			return 0, 0, err
		}
		removed++
	}
	return removed, dead, nil
}

// deleteDeadKeys removes dead letters from both dead-letter indexes.
func deleteDeadKeys(tx *bbolt.Tx, keys []deadKey) error {
	deadAll, deadDest := tx.Bucket(bDead), tx.Bucket(bDeadDest)
	for _, dk := range keys {
		if err := deadAll.Delete(dk.key); err != nil {
			return err
		}
		if b := deadDest.Bucket([]byte(dk.dest)); b != nil {
			if err := b.Delete(dk.key); err != nil {
				return err
			}
		}
	}
	return nil
}

// finishedBefore says whether the event k (its JSON v) has no delivery
// queued and was last changed before cut, and if so what removing it
// deletes.
func finishedBefore(tx *bbolt.Tx, k, v []byte, cut int64) (doomed, bool, error) {
	id := string(k)
	raw := tx.Bucket(bRoutes).Get(k)
	if raw == nil {
		// Routed nowhere: its receipt is its only change.
		at := gjson.GetBytes(v, "received_at").Time()
		return doomed{id: id}, at.UnixNano() < cut, nil
	}
	at, _, dests, err := decodeRoutes(raw)
	if err != nil {
		return doomed{}, false, fmt.Errorf("event %s: %w", id, err)
	}
	if at >= cut {
		return doomed{}, false, nil
	}
	d := doomed{id: id, records: make(map[string][]byte, len(dests))}
	records := tx.Bucket(bDeliveries)
	for i := range dests {
		did := deliveryID(id, i)
		raw := records.Get([]byte(did))
		if raw == nil {
			return doomed{}, false, nil // never attempted: still queued
		}
		var r record
		if err := json.Unmarshal(raw, &r); err != nil {
			return doomed{}, false, fmt.Errorf("decode delivery %s: %w", did, err)
		}
		if r.queued() {
			return doomed{}, false, nil
		}
		last := r.DeadAt.UnixNano()
		for _, a := range r.Attempts {
			last = max(last, a.At.UnixNano())
		}
		if last >= cut {
			return doomed{}, false, nil
		}
		d.records[did] = bytes.Clone(raw)
		if r.State == stateDead {
			d.deadKeys = append(d.deadKeys, deadKey{dest: r.Dest, key: timeKey(r.DeadAt.UnixNano(), did)})
		}
	}
	return d, true, nil
}

// eventIDMillis reads the Unix milliseconds at the start of an event id
// (lead.NewEventID: "evt_" then 48 bits of time in hex).
func eventIDMillis(k []byte) (int64, bool) {
	if len(k) < 16 || !bytes.HasPrefix(k, []byte("evt_")) {
		return 0, false
	}
	var b [8]byte
	if _, err := hex.Decode(b[2:], k[4:16]); err != nil {
		return 0, false
	}
	var ms int64
	for _, x := range b {
		ms = ms<<8 | int64(x)
	}
	return ms, true
}

// ProbeWrite commits a write of a probe key through the group commit, so
// a file that cannot grow or sync (a full disk) fails it as Ingest would.
func (s *Store) ProbeWrite(ctx context.Context) error {
	now := time.Now().UnixNano()
	return s.submit(ctx, "probe write", func(tx *bbolt.Tx) error {
		return tx.Bucket(bMeta).Put(kProbe, timeKey(now, ""))
	}, nil)
}

// Size is the size of the store's file. A removal frees pages inside the
// file for reuse rather than shrinking it; `gateway compact` gives them
// back to the disk.
func (s *Store) Size(ctx context.Context) (int64, error) {
	fi, err := os.Stat(s.db.Path())
	if err != nil {
		return 0, unavailable("store size", err)
	}
	return fi.Size(), nil
}
