package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"leadgate/gateway/store"
)

// bLeadSeen orders the leads by when they were last seen, for SweepLeads:
// last_seen(8) + lead id → nil.
var bLeadSeen = []byte("lead_seen")

// recordFormat starts a lead record; a value that starts with '{' is a
// lead stored before records had a header (its JSON alone), and format
// recordNoSources one written before records kept their sources.
const (
	recordFormat    = 2
	recordNoSources = 1
)

// leadRecord is a lead as the leads bucket keeps it: a header and then the
// merged lead's JSON (the bytes every event of the lead embeds).
type leadRecord struct {
	version     int64
	first, last int64 // Unix nanoseconds
	keys        []string
	// sources are the sources that touched the lead, sorted.
	sources  []string
	leadJSON []byte
}

// appendRecord writes r: format byte, version, first and last seen
// (uvarints), the keys and the sources (each a count, then each
// length-prefixed), the lead JSON.
func appendRecord(b []byte, r *leadRecord) []byte {
	b = append(b, recordFormat)
	b = binary.AppendUvarint(b, uint64(r.version))
	b = binary.AppendUvarint(b, uint64(r.first))
	b = binary.AppendUvarint(b, uint64(r.last))
	for _, list := range [][]string{r.keys, r.sources} {
		b = binary.AppendUvarint(b, uint64(len(list)))
		for _, k := range list {
			b = binary.AppendUvarint(b, uint64(len(k)))
			b = append(b, k...)
		}
	}
	return append(b, r.leadJSON...)
}

// decodeRecord reads a record; its leadJSON aliases raw. A lead stored
// before records had a header is version 1, never seen (0), with no keys:
// the next payload of it gives it all three.
func decodeRecord(raw []byte) (leadRecord, error) {
	if len(raw) > 0 && raw[0] == '{' {
		return leadRecord{version: 1, leadJSON: raw}, nil
	}
	if len(raw) == 0 || (raw[0] != recordFormat && raw[0] != recordNoSources) {
		return leadRecord{}, errors.New("unknown lead record format")
	}
	b := raw[1:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	list := func() ([]string, bool) {
		n, ok := next()
		if !ok || n > uint64(len(b)) {
			return nil, false
		}
		out := make([]string, 0, n)
		for range n {
			l, ok := next()
			if !ok || l > uint64(len(b)) {
				return nil, false
			}
			out = append(out, string(b[:l]))
			b = b[l:]
		}
		return out, true
	}
	var r leadRecord
	v, ok1 := next()
	f, ok2 := next()
	l, ok3 := next()
	if !ok1 || !ok2 || !ok3 {
		return leadRecord{}, errors.New("corrupt lead record")
	}
	r.version, r.first, r.last = int64(v), int64(f), int64(l)
	var ok bool
	if r.keys, ok = list(); !ok {
		return leadRecord{}, errors.New("corrupt lead record")
	}
	if raw[0] == recordFormat {
		if r.sources, ok = list(); !ok {
			return leadRecord{}, errors.New("corrupt lead record")
		}
	}
	r.leadJSON = b
	return r, nil
}

// getRecord reads a lead's record; ok is false when there is none.
func getLeadRecord(tx *bbolt.Tx, leadID string) (r leadRecord, ok bool, err error) {
	raw := tx.Bucket(bLeads).Get([]byte(leadID))
	if raw == nil {
		return leadRecord{}, false, nil
	}
	r, err = decodeRecord(raw)
	if err != nil {
		return leadRecord{}, false, fmt.Errorf("lead %s: %w", leadID, err)
	}
	return r, true, nil
}

// Lead returns a lead's record.
func (s *Store) Lead(ctx context.Context, leadID string) (store.LeadRecord, error) {
	var out store.LeadRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		r, ok, err := getLeadRecord(tx, leadID)
		if err != nil || !ok {
			return err
		}
		out, err = r.export(leadID)
		return err
	})
	if err != nil {
		return store.LeadRecord{}, unavailable("lead", err)
	}
	if out.ID == "" {
		return store.LeadRecord{}, store.ErrNotFound
	}
	return out, nil
}

// LeadCount is the number of leads, counted at Open and kept as leads are
// made and swept.
func (s *Store) LeadCount(context.Context) (int64, error) {
	return s.leads.Load(), nil
}

// SweepLeads removes up to max leads last seen before cutoff, in one
// commit of the group commit.
func (s *Store) SweepLeads(ctx context.Context, cutoff time.Time, max int) (int, error) {
	if max <= 0 {
		return 0, nil
	}
	removed := 0
	err := s.submit(ctx, "sweep leads", func(tx *bbolt.Tx) error {
		removed = 0
		seen := tx.Bucket(bLeadSeen)
		var due [][]byte
		c := seen.Cursor()
		for k, _ := c.First(); k != nil && len(due) < max && keyTime(k) < cutoff.UnixNano(); k, _ = c.Next() {
			due = append(due, bytes.Clone(k))
		}
		leads := tx.Bucket(bLeads)
		for _, k := range due {
			leadID := string(k[8:])
			r, ok, err := getLeadRecord(tx, leadID)
			if err != nil {
				return err
			}
			if ok && r.last == keyTime(k) {
				for _, key := range r.keys {
					if s.lookupIndexTx(key) == leadID {
						if err := s.unpointIndex(tx, key); err != nil {
							return err
						}
					}
				}
				if err := leads.Delete([]byte(leadID)); err != nil {
					return err
				}
				removed++
			}
			if err := seen.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}, func() { s.leads.Add(-int64(removed)) })
	if err != nil {
		return 0, err
	}
	return removed, nil
}

// kLeadRecords, in bMeta, marks a file whose leads all have records.
var kLeadRecords = []byte("lead_records")

// migrateLeads gives every lead stored before leads had records (their
// JSON alone) a record, once per file: version 1, first and last seen now
// (when they were seen is not known; they leave the index
// storage.lead_retention after the upgrade), the index keys that name them,
// and a place in bLeadSeen, so SweepLeads reaches them too. It runs at
// Open, after the index is loaded.
func (s *Store) migrateLeads(tx *bbolt.Tx) error {
	meta := tx.Bucket(bMeta)
	if meta.Get(kLeadRecords) != nil {
		return nil
	}
	leads := tx.Bucket(bLeads)
	var legacy [][]byte
	err := leads.ForEach(func(k, v []byte) error {
		if len(v) > 0 && v[0] == '{' {
			legacy = append(legacy, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(legacy) > 0 {
		// The in-memory index holds hashes, so the keys are read from
		// the file, later entries winning as they do in the index.
		byKey := map[string]string{}
		if err := readIndex(tx, func(key, leadID string, _ uint64) { byKey[key] = leadID }); err != nil {
			return err
		}
		keys := make(map[string][]string, len(legacy))
		for key, leadID := range byKey {
			keys[leadID] = append(keys[leadID], key)
		}
		now := time.Now().UnixNano()
		seen := tx.Bucket(bLeadSeen)
		for _, id := range legacy {
			rec := leadRecord{version: 1, first: now, last: now, keys: keys[string(id)], leadJSON: bytes.Clone(leads.Get(id))}
			if err := leads.Put(id, appendRecord(nil, &rec)); err != nil {
				return err
			}
			if err := seen.Put(timeKey(now, string(id)), nil); err != nil {
				return err
			}
		}
		s.log.Info("lead records made for leads stored by an older version", "count", len(legacy))
	}
	return meta.Put(kLeadRecords, []byte{1})
}
