package bolt

import (
	"bytes"
	"context"
	"fmt"

	"go.etcd.io/bbolt"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// searchScan bounds the events one Events call examines, so a search for a
// rare lead over a large log cannot hold a read transaction for long; the
// caller goes on from next.
const searchScan = 50_000

// Events lists events newest first. Event ids are time-ordered keys of the
// events bucket, so the listing walks it backwards from the cursor; an email
// or phone is turned into a lead id through the lead index, and a lead id
// filters the walk (a cheap byte check before any decoding).
func (s *Store) Events(ctx context.Context, q store.EventQuery) ([]lead.Event, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	var (
		out  []lead.Event
		next string
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		leadID, ok := s.resolveLead(q)
		if !ok {
			return nil
		}
		events := tx.Bucket(bEvents)
		if q.EventID != "" {
			var err error
			out, err = eventOf(events, q.EventID, leadID)
			return err
		}
		var needle []byte
		if leadID != "" {
			needle = []byte(`"lead_id":"` + leadID + `"`)
		}
		c := events.Cursor()
		k, v := c.Last()
		if q.Cursor != "" {
			k, v = c.Seek([]byte(q.Cursor))
			if k == nil {
				k, v = c.Last()
			}
			if k != nil && bytes.Compare(k, []byte(q.Cursor)) >= 0 {
				k, v = c.Prev()
			}
		}
		for scanned := 0; k != nil; k, v = c.Prev() {
			if scanned == searchScan {
				// k is unexamined: the next page starts at it.
				next = string(k) + "~" // ids are of one length: just above k, below the next id
				break
			}
			scanned++
			if scanned%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if needle != nil && !bytes.Contains(v, needle) {
				continue
			}
			var ev lead.Event
			if err := decodeJSON(v, &ev); err != nil {
				return fmt.Errorf("decode event %s: %w", k, err)
			}
			if leadID != "" && ev.LeadID != leadID {
				continue
			}
			out = append(out, ev)
			if len(out) == limit {
				if pk, _ := c.Prev(); pk != nil {
					next = ev.ID
				}
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", unavailable("search events", err)
	}
	return out, next, nil
}

// eventOf looks one event up by id; it lists it only when it is there and
// belongs to leadID (any lead for "").
func eventOf(events *bbolt.Bucket, eventID, leadID string) ([]lead.Event, error) {
	raw := events.Get([]byte(eventID))
	if raw == nil {
		return nil, nil
	}
	var ev lead.Event
	if err := decodeJSON(raw, &ev); err != nil {
		return nil, fmt.Errorf("decode event %s: %w", eventID, err)
	}
	if leadID != "" && ev.LeadID != leadID {
		return nil, nil
	}
	return []lead.Event{ev}, nil
}

// resolveLead turns the query's lead id, email and phone into one lead id
// through the in-memory lead index; ok is false when they name no lead or
// different leads.
func (s *Store) resolveLead(q store.EventQuery) (leadID string, ok bool) {
	leadID = q.LeadID
	for _, key := range []string{keyIf("email:", q.Email), keyIf("phone:", q.Phone)} {
		if key == "" {
			continue
		}
		id := s.lookupIndex(key)
		if id == "" || (leadID != "" && leadID != id) {
			return "", false
		}
		leadID = id
	}
	return leadID, true
}

func keyIf(prefix, v string) string {
	if v == "" {
		return ""
	}
	return prefix + v
}
