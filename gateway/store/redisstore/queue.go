package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"leadgate/gateway/store"
)

// maxLease caps one Lease call, keeping each script short and within Lua's
// unpack limit; a worker wanting more calls again.
const maxLease = 1000

// replayBatch bounds how many dead letters one ReplayAll script moves, so a
// large replay never blocks Redis for long.
const replayBatch = 500

// Lease hands out up to max due deliveries of dest and hides them until
// now+lease; leases that ended unsettled are due again first.
func (s *Store) Lease(ctx context.Context, dest string, now time.Time, max int, lease time.Duration) ([]store.Delivery, error) {
	if max <= 0 {
		return nil, nil
	}
	max = min(max, maxLease)
	keys := []string{s.keys.queue(dest), s.keys.flight(dest), s.keys.pending}
	reply, err := leaseScript.Run(ctx, s.rdb, keys,
		now.UnixMilli(), max, now.Add(lease).UnixMilli(), s.keys.base, dest).StringSlice()
	if err != nil {
		return nil, unavailable("lease deliveries", err)
	}
	if len(reply)%5 != 0 {
		return nil, fmt.Errorf("lease deliveries: unexpected reply of %d values", len(reply))
	}
	out := make([]store.Delivery, 0, len(reply)/5)
	for i := 0; i < len(reply); i += 5 {
		d := store.Delivery{ID: reply[i], Destination: dest, RequestID: reply[i+4]}
		d.Attempts, _ = strconv.Atoi(reply[i+1])
		ms, _ := strconv.ParseInt(reply[i+2], 10, 64)
		d.EnqueuedAt = time.UnixMilli(ms)
		if err := decodeJSON(reply[i+3], &d.Event); err != nil {
			return nil, fmt.Errorf("lease deliveries: decode event of %s: %w", d.ID, err)
		}
		d.EventID = d.Event.ID
		out = append(out, d)
	}
	return out, nil
}

// Settle records each outcome's attempt and moves its delivery on: gone
// (delivered), due again at RetryAt (retrying) or to the dead letters.
func (s *Store) Settle(ctx context.Context, outcomes []store.Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	args := make([]any, 0, 2+6*len(outcomes))
	args = append(args, s.keys.base, s.keys.done)
	for _, o := range outcomes {
		switch o.State {
		case store.Delivered, store.Retrying, store.Dead:
		default:
			return fmt.Errorf("settle delivery %s: unknown state %q", o.Delivery.ID, o.State)
		}
		att, err := json.Marshal(o.Attempt)
		if err != nil {
			return fmt.Errorf("settle delivery %s: encode attempt: %w", o.Delivery.ID, err)
		}
		at := o.Attempt.At
		if at.IsZero() {
			at = time.Now()
		}
		args = append(args, o.Delivery.ID, o.State, o.RetryAt.UnixMilli(), att, at.UnixMilli(), o.Attempt.Error)
	}
	if err := settleScript.Run(ctx, s.rdb, []string{s.keys.pending, s.keys.dead}, args...).Err(); err != nil {
		return unavailable("settle deliveries", err)
	}
	return nil
}

// Event returns a stored event with each destination's status and attempts,
// sorted by destination.
func (s *Store) Event(ctx context.Context, eventID string) (store.EventRecord, error) {
	reply, err := eventScript.Run(ctx, s.rdb, []string{s.keys.event(eventID)}, s.keys.base, eventID).StringSlice()
	if err != nil {
		return store.EventRecord{}, unavailable("read event", err)
	}
	if len(reply) == 0 || reply[0] == "" {
		return store.EventRecord{}, fmt.Errorf("event %q: %w", eventID, store.ErrNotFound)
	}
	var rec store.EventRecord
	if err := decodeJSON(reply[0], &rec.Event); err != nil {
		return store.EventRecord{}, fmt.Errorf("decode event %s: %w", eventID, err)
	}
	rec.Deliveries = make([]store.DeliveryStatus, 0, (len(reply)-1)/3)
	for i := 1; i+2 < len(reply); i += 3 {
		ds := store.DeliveryStatus{Destination: reply[i], Status: reply[i+1], Attempts: []store.Attempt{}}
		if err := json.Unmarshal([]byte(reply[i+2]), &ds.Attempts); err != nil {
			return store.EventRecord{}, fmt.Errorf("decode attempts of event %s: %w", eventID, err)
		}
		rec.Deliveries = append(rec.Deliveries, ds)
	}
	sort.Slice(rec.Deliveries, func(i, j int) bool {
		return rec.Deliveries[i].Destination < rec.Deliveries[j].Destination
	})
	return rec, nil
}

// DeadLetters pages through dead letters oldest first. The cursor is the
// last item of the previous page, so replays between pages skip nothing.
func (s *Store) DeadLetters(ctx context.Context, dest, cursor string, limit int) ([]store.DeadLetter, string, error) {
	if limit <= 0 {
		limit = 100
	}
	score, id := "", ""
	if cursor != "" {
		sc, cid, ok := strings.Cut(cursor, "-")
		if _, err := strconv.ParseInt(sc, 10, 64); !ok || err != nil || cid == "" {
			return nil, "", fmt.Errorf("dead letters: %w %q", store.ErrBadCursor, cursor)
		}
		score, id = sc, cid
	}
	reply, err := deadScript.Run(ctx, s.rdb, []string{s.keys.deadOf(dest)}, s.keys.base, score, id, limit).StringSlice()
	if err != nil {
		return nil, "", unavailable("list dead letters", err)
	}
	if len(reply) == 0 || (len(reply)-1)%6 != 0 {
		return nil, "", fmt.Errorf("list dead letters: unexpected reply of %d values", len(reply))
	}
	items := make([]store.DeadLetter, 0, (len(reply)-1)/6)
	for i := 1; i < len(reply); i += 6 {
		dl := store.DeadLetter{ID: reply[i], EventID: reply[i+1], Destination: reply[i+2], LastError: reply[i+4]}
		dl.Attempts, _ = strconv.Atoi(reply[i+3])
		ms, _ := strconv.ParseInt(reply[i+5], 10, 64)
		dl.DeadAt = time.UnixMilli(ms)
		items = append(items, dl)
	}
	next := ""
	if reply[0] == "1" && len(items) > 0 {
		last := items[len(items)-1]
		next = strconv.FormatInt(last.DeadAt.UnixMilli(), 10) + "-" + last.ID
	}
	return items, next, nil
}

// Replay queues one dead letter again, due at now, with a fresh attempt
// count; its event id and attempts log stay.
func (s *Store) Replay(ctx context.Context, deadLetterID string, now time.Time) error {
	if deadLetterID == "" {
		return fmt.Errorf("dead letter %q: %w", deadLetterID, store.ErrNotFound)
	}
	n, err := replayScript.Run(ctx, s.rdb, []string{s.keys.pending, s.keys.dead, s.keys.dead},
		s.keys.base, now.UnixMilli(), deadLetterID, 1).Int()
	if err != nil {
		return unavailable("replay dead letter", err)
	}
	if n == 0 {
		return fmt.Errorf("dead letter %q: %w", deadLetterID, store.ErrNotFound)
	}
	return nil
}

// ReplayAll replays every dead letter of dest ("" means every destination)
// in batches and says how many.
func (s *Store) ReplayAll(ctx context.Context, dest string, now time.Time) (int, error) {
	keys := []string{s.keys.pending, s.keys.dead, s.keys.deadOf(dest)}
	total := 0
	for {
		n, err := replayScript.Run(ctx, s.rdb, keys, s.keys.base, now.UnixMilli(), "", replayBatch).Int()
		if err != nil {
			return total, unavailable("replay dead letters", err)
		}
		total += n
		// A batch can replay fewer than it read when it dropped stale
		// entries, so stop only when the set is empty.
		left, err := s.rdb.ZCard(ctx, keys[2]).Result()
		if err != nil {
			return total, unavailable("replay dead letters", err)
		}
		if left == 0 {
			return total, nil
		}
	}
}
