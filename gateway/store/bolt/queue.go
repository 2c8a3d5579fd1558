package bolt

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"go.etcd.io/bbolt"

	"leadgate/gateway/store"
)

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
				s.unmark(dest)
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
