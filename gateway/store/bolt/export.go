package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"leadgate/gateway/store"
)

// Leads walks bLeadSeen, whose keys (last seen, then lead id) are the
// export's order, from the cursor (the last key handed out) or from Since,
// in one read transaction per page, so an export of any size never holds
// one open for long. A page examines at most its limit of keys, matching
// the source filter or not.
func (s *Store) Leads(ctx context.Context, q store.LeadQuery) ([]store.LeadRecord, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultLeadPage
	}
	var since []byte
	if !q.Since.IsZero() {
		since = timeKey(q.Since.UnixNano(), "")
	}
	var after []byte
	if q.Cursor != "" {
		k, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(k) <= 8 {
			return nil, "", store.ErrBadCursor
		}
		after = k
	}
	until := int64(math.MaxInt64)
	if !q.Until.IsZero() {
		until = q.Until.UnixNano()
	}
	var (
		out  []store.LeadRecord
		next string
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bLeadSeen).Cursor()
		var k []byte
		switch {
		case after != nil && bytes.Compare(after, since) >= 0:
			if k, _ = c.Seek(after); bytes.Equal(k, after) {
				k, _ = c.Next()
			}
		case since != nil:
			k, _ = c.Seek(since)
		default:
			k, _ = c.First()
		}
		for examined := 0; k != nil; k, _ = c.Next() {
			if len(k) <= 8 || keyTime(k) >= until {
				return nil
			}
			id := string(k[8:])
			r, ok, err := getLeadRecord(tx, id)
			if err != nil {
				return err
			}
			// An entry whose lead has moved on (seen later) or gone is
			// skipped; the lead is listed at its own last seen.
			if ok && r.last == keyTime(k) && (q.Source == "" || slices.Contains(r.sources, q.Source)) {
				rec, err := r.export(id)
				if err != nil {
					return err
				}
				out = append(out, rec)
			}
			if examined++; examined == limit {
				next = base64.RawURLEncoding.EncodeToString(k)
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", unavailable("leads", err)
	}
	return out, next, nil
}

// export is r as the store interface tells it.
func (r *leadRecord) export(leadID string) (store.LeadRecord, error) {
	out := store.LeadRecord{ID: leadID, Version: r.version, Keys: r.keys, Sources: r.sources}
	if r.first != 0 {
		out.FirstSeen = time.Unix(0, r.first).UTC()
	}
	if r.last != 0 {
		out.LastSeen = time.Unix(0, r.last).UTC()
	}
	if err := decodeJSON(r.leadJSON, &out.Lead); err != nil {
		return store.LeadRecord{}, fmt.Errorf("decode lead %s: %w", leadID, err)
	}
	return out, nil
}
