package bolt

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// The in-memory lead and dedupe indexes hold one entry per identity key
// and per recent payload, so their size is the store's memory. They hold
// no pointers (fixed-size hashes and ids instead of strings), which keeps
// an entry near 40 bytes and, more importantly, out of the garbage
// collector's scan: a map of strings was about 460 bytes a lead once the
// collector's headroom (GOGC) multiplied it.

// keyHash is an identity or dedupe key as the in-memory indexes hold it:
// the first 16 bytes of its SHA-256. Two keys share one only by a
// collision of a cryptographic hash in 128 bits, which is not going to
// happen by chance and costs about 2^64 work to arrange, so the identity
// and dedupe rules read it as the key itself.
type keyHash [16]byte

func hashKey(k string) keyHash {
	var buf [128]byte
	sum := sha256.Sum256(append(buf[:0], k...))
	return keyHash(sum[:16])
}

// leadRef is a lead id as the in-memory indexes hold it: the 12 bytes of
// an id of 24 lowercase hex digits (the ids the store mints), or, for any
// other id (written by an older version), its place in the store's table
// of such ids. The zero leadRef is no lead.
type leadRef struct {
	b   [12]byte
	odd uint32 // 1 + index in oddIDs.names; 0 when b is the id
}

// oddIDs interns the lead ids that are not 24 lowercase hex digits. It
// only grows, and it holds only ids of leads stored by older versions.
type oddIDs struct {
	mu     sync.Mutex
	names  []string
	byName map[string]uint32
}

// ref is leadID as a leadRef.
func (o *oddIDs) ref(leadID string) leadRef {
	var r leadRef
	if leadID == "" {
		return r
	}
	if len(leadID) == 24 && lowerHex(leadID) {
		_, _ = hex.Decode(r.b[:], []byte(leadID))
		if r.b != ([12]byte{}) {
			return r
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	n, ok := o.byName[leadID]
	if !ok {
		if o.byName == nil {
			o.byName = map[string]uint32{}
		}
		o.names = append(o.names, leadID)
		n = uint32(len(o.names))
		o.byName[leadID] = n
	}
	return leadRef{odd: n}
}

// name is r as a lead id, "" for the zero leadRef.
func (o *oddIDs) name(r leadRef) string {
	switch {
	case r.odd > 0:
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.names[r.odd-1]
	case r.b == [12]byte{}:
		return ""
	default:
		return hex.EncodeToString(r.b[:])
	}
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// indexEntry is where an identity key points: its lead (zero in
// indexPending for a key the batch removed) and the sequence of its log
// entry (0 for one in the legacy bucket), so that pointing the key
// elsewhere, or removing it, deletes the entry it replaces and the log
// holds only what the index holds.
type indexEntry struct {
	lead leadRef
	seq  uint64
}

// dedupeEntry is one payload's dedupe record: when the rule stops
// applying (Unix nanoseconds) and the lead it named.
type dedupeEntry struct {
	exp  int64
	lead leadRef
}

// loadDedupe rebuilds the dedupe index from the log, skipping what has
// expired. Later entries of a key win, as they were written later. Keys in
// the legacy dedupe bucket (files written before the log held lead ids)
// are read too; the sweep deletes them when they expire.
func (s *Store) loadDedupe(tx *bbolt.Tx) error {
	now := time.Now().UnixNano()
	err := tx.Bucket(bDedupe).ForEach(func(k, v []byte) error {
		if len(v) >= 8 && keyTime(v) > now {
			s.dedupe[hashKey(string(k))] = dedupeEntry{exp: keyTime(v), lead: s.odd.ref(string(v[8:]))}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c := tx.Bucket(bDedupeExp).Cursor()
	for k, v := c.Seek(timeKey(now+1, "")); k != nil; k, v = c.Next() {
		if len(k) >= 8 && v != nil {
			s.dedupe[hashKey(string(k[8:]))] = dedupeEntry{exp: keyTime(k), lead: s.odd.ref(string(v))}
		}
	}
	return nil
}

// loadIndex rebuilds the lead index from the file.
func (s *Store) loadIndex(tx *bbolt.Tx) error {
	return readIndex(tx, func(key, leadID string, seq uint64) {
		s.index[hashKey(key)] = indexEntry{lead: s.odd.ref(leadID), seq: seq}
	})
}

// readIndex calls fn with every stored lead index entry: the legacy
// bucket (files written before the index was a log) first, with seq 0,
// then the log in order, so that a later call for a key wins.
func readIndex(tx *bbolt.Tx, fn func(key, leadID string, seq uint64)) error {
	err := tx.Bucket(bIndex).ForEach(func(k, v []byte) error {
		fn(string(k), string(v), 0)
		return nil
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bIndexLog).ForEach(func(k, v []byte) error {
		key, leadID, err := decodeIndexEntry(v)
		if err != nil {
			return fmt.Errorf("lead index entry %x: %w", k, err)
		}
		if len(k) != 8 {
			return fmt.Errorf("lead index entry key %x", k)
		}
		fn(key, leadID, binary.BigEndian.Uint64(k))
		return nil
	})
}

// encodeIndexEntry is a log entry: the identity key, length-prefixed, then
// the lead id.
func encodeIndexEntry(key, leadID string) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(key)+len(leadID))
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	return append(b, leadID...)
}

func decodeIndexEntry(b []byte) (key, leadID string, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return "", "", errors.New("corrupt lead index entry")
	}
	return string(b[k : k+int(n)]), string(b[k+int(n):]), nil
}

// lookupIndex reads the committed lead index.
func (s *Store) lookupIndex(key string) string {
	h := hashKey(key)
	s.imu.RLock()
	r := s.index[h].lead
	s.imu.RUnlock()
	return s.odd.name(r)
}

// entryTx reads a key's index entry as the batch being committed sees it.
// Only the commit goroutine calls it.
func (s *Store) entryTx(h keyHash) indexEntry {
	if e, ok := s.indexPending[h]; ok {
		return e
	}
	s.imu.RLock()
	defer s.imu.RUnlock()
	return s.index[h]
}

// lookupIndexTx reads the lead index as the batch being committed sees it.
// Only the commit goroutine calls it.
func (s *Store) lookupIndexTx(key string) string {
	return s.odd.name(s.entryTx(hashKey(key)).lead)
}

// pointIndex points key at leadID in the batch being committed, deleting
// the log entry that pointed it elsewhere.
func (s *Store) pointIndex(tx *bbolt.Tx, key, leadID string) error {
	h := hashKey(key)
	if err := s.dropIndexEntry(tx, h, key); err != nil {
		return err
	}
	b := appending(tx.Bucket(bIndexLog))
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), encodeIndexEntry(key, leadID)); err != nil {
		return err
	}
	s.indexPending[h] = indexEntry{lead: s.odd.ref(leadID), seq: seq}
	return nil
}

// unpointIndex removes key from the lead index in the batch being
// committed.
func (s *Store) unpointIndex(tx *bbolt.Tx, key string) error {
	h := hashKey(key)
	if err := s.dropIndexEntry(tx, h, key); err != nil {
		return err
	}
	s.indexPending[h] = indexEntry{}
	return nil
}

// dropIndexEntry deletes the stored entry that points key (hashed h) now,
// if any.
func (s *Store) dropIndexEntry(tx *bbolt.Tx, h keyHash, key string) error {
	e := s.entryTx(h)
	switch {
	case e.lead == leadRef{}:
		return nil
	case e.seq == 0:
		return tx.Bucket(bIndex).Delete([]byte(key))
	default:
		return tx.Bucket(bIndexLog).Delete(binary.BigEndian.AppendUint64(nil, e.seq))
	}
}

// lookupDedupe finds a dedupe key in the batch being committed, then in
// the committed index. Only the commit goroutine calls it.
func (s *Store) lookupDedupe(key string) (dedupeEntry, bool) {
	h := hashKey(key)
	if e, ok := s.pending[h]; ok {
		return e, true
	}
	s.dmu.Lock()
	e, ok := s.dedupe[h]
	s.dmu.Unlock()
	return e, ok
}

// holdDedupe records key's dedupe entry in the batch being committed.
func (s *Store) holdDedupe(key string, exp int64, leadID string) {
	s.pending[hashKey(key)] = dedupeEntry{exp: exp, lead: s.odd.ref(leadID)}
}

// publish moves the committed batch's dedupe and lead index keys into
// their indexes.
func (s *Store) publish() {
	if len(s.indexPending) > 0 {
		s.imu.Lock()
		for k, e := range s.indexPending {
			if e.lead == (leadRef{}) {
				delete(s.index, k)
			} else {
				s.index[k] = e
			}
		}
		s.imu.Unlock()
		clear(s.indexPending)
	}
	if len(s.pending) == 0 {
		return
	}
	s.dmu.Lock()
	for k, e := range s.pending {
		s.dedupe[k] = e
	}
	s.dmu.Unlock()
	clear(s.pending)
}
