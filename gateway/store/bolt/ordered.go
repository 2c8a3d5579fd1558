package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// Ordered deliveries wait in lines: one per (destination, lead), in the
// order they were queued, which is the lead's version order because one
// lead's events are ingested one commit after another. Only a line's head
// is in the destination's due index, so Lease needs no change and no scan:
// what it cannot see it cannot hand out. Settling the head as delivered or
// dead takes it out of the line and queues the next one, due at its own
// queue time (it has waited longest); a retrying head stays the head.
//
// Both buckets change only with the due index, in the same transactions,
// so they survive a restart exactly as the queue does; an entry leaves
// them when its delivery stops being queued, so retention never has to
// look at them.
var (
	bLines  = []byte("lines")   // dest / line prefix of the lead + sequence(8) → delivery id
	bLineOf = []byte("line_of") // delivery id → destination (length-prefixed) + its key in the line
)

// linePrefix is the start of every key of leadID's line.
func linePrefix(leadID string) []byte {
	b := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(leadID)+8), uint64(len(leadID)))
	return append(b, leadID...)
}

// lineLead reads the lead id back from a line key.
func lineLead(key []byte) (string, error) {
	n, k := binary.Uvarint(key)
	if k <= 0 || uint64(len(key)-k) < n {
		return "", errors.New("corrupt line key")
	}
	return string(key[k : k+int(n)]), nil
}

// lineHead is the first entry of the line whose keys start with prefix.
func lineHead(b *bbolt.Bucket, prefix []byte) (k, v []byte) {
	k, v = b.Cursor().Seek(prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil, nil
	}
	return k, v
}

// joinLine puts delivery id at the back of leadID's line for dest and
// says whether it is the head: then, and only then, the caller queues it.
func joinLine(tx *bbolt.Tx, dest, leadID, id string) (head bool, err error) {
	lines, err := tx.Bucket(bLines).CreateBucketIfNotExists([]byte(dest))
	if err != nil {
		return false, fmt.Errorf("lines bucket %q: %w", dest, err)
	}
	prefix := linePrefix(leadID)
	first, _ := lineHead(lines, prefix)
	seq, err := lines.NextSequence()
	if err != nil {
		return false, err
	}
	key := binary.BigEndian.AppendUint64(prefix, seq)
	if err := lines.Put(key, []byte(id)); err != nil {
		return false, err
	}
	ref := binary.AppendUvarint(nil, uint64(len(dest)))
	ref = append(append(ref, dest...), key...)
	if err := appending(tx.Bucket(bLineOf)).Put([]byte(id), ref); err != nil {
		return false, err
	}
	return first == nil, nil
}

// leaveLine takes delivery id out of its line, when it is in one, and
// answers the lead the line is for ("" when id is in none). With requeued
// set it queues the line's new head, if it has one and it is not queued
// yet, and counts it there by destination.
func leaveLine(tx *bbolt.Tx, id string, requeued map[string]int64) (leadID string, err error) {
	lineOf := tx.Bucket(bLineOf)
	ref := lineOf.Get([]byte(id))
	if ref == nil {
		return "", nil
	}
	n, k := binary.Uvarint(ref)
	if k <= 0 || uint64(len(ref)-k) < n {
		return "", fmt.Errorf("delivery %s: corrupt line reference", id)
	}
	dest := string(ref[k : k+int(n)])
	key := bytes.Clone(ref[k+int(n):])
	if leadID, err = lineLead(key); err != nil {
		return "", fmt.Errorf("delivery %s: %w", id, err)
	}
	if err := lineOf.Delete([]byte(id)); err != nil {
		return "", err
	}
	lines := tx.Bucket(bLines).Bucket([]byte(dest))
	if lines == nil {
		return leadID, nil
	}
	if err := lines.Delete(key); err != nil {
		return "", err
	}
	if requeued == nil {
		return leadID, nil
	}
	return leadID, promote(tx, dest, lines, linePrefix(leadID), requeued)
}

// promote queues the head of the line at prefix. A head that is no longer
// queued (which only a damaged file would hold) leaves the line, and the
// next one is tried.
func promote(tx *bbolt.Tx, dest string, lines *bbolt.Bucket, prefix []byte, requeued map[string]int64) error {
	for {
		k, v := lineHead(lines, prefix)
		if k == nil {
			return nil
		}
		head := string(v)
		r, err := getRecord(tx, head)
		if err != nil {
			return err
		}
		if r != nil && r.queued() {
			if b := tx.Bucket(bDue).Bucket([]byte(dest)); b != nil && b.Get(timeKey(r.Due, head)) != nil {
				return nil // queued already
			}
			if err := queue(tx, dest, r.Due, head); err != nil {
				return err
			}
			requeued[dest]++
			return nil
		}
		if err := lines.Delete(bytes.Clone(k)); err != nil {
			return err
		}
		if err := tx.Bucket(bLineOf).Delete([]byte(head)); err != nil {
			return err
		}
	}
}

// lineEntries lists the entries of leadID's line for dest, or with leadID
// "" of all of dest's lines, up to max (-1: all), as (line key, delivery
// id) pairs, for AbandonQueued.
func lineEntries(tx *bbolt.Tx, dest, leadID string, max int) (keys [][]byte, ids []string) {
	lines := tx.Bucket(bLines).Bucket([]byte(dest))
	if lines == nil {
		return nil, nil
	}
	var prefix []byte
	if leadID != "" {
		prefix = linePrefix(leadID)
	}
	c := lines.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(keys) != max; k, v = c.Next() {
		keys = append(keys, bytes.Clone(k))
		ids = append(ids, string(v))
	}
	return keys, ids
}

// waiting counts the deliveries waiting in dest's lines behind an earlier
// one of their lead: every entry but each line's head. It reads them all,
// as Depth reads the scheduled part of the due index.
func waiting(tx *bbolt.Tx, dest string) int64 {
	lines := tx.Bucket(bLines).Bucket([]byte(dest))
	if lines == nil {
		return 0
	}
	var n int64
	var last []byte
	c := lines.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) < 8 {
			continue
		}
		if p := k[:len(k)-8]; bytes.Equal(p, last) {
			n++
		} else {
			last = append(last[:0], p...)
		}
	}
	return n
}

// behindInLine says whether delivery id waits in a line behind another
// delivery of its lead (a replayed one, settled late by a stale lease).
func behindInLine(tx *bbolt.Tx, id string) (bool, error) {
	ref := tx.Bucket(bLineOf).Get([]byte(id))
	if ref == nil {
		return false, nil
	}
	n, k := binary.Uvarint(ref)
	if k <= 0 || uint64(len(ref)-k) < n {
		return false, fmt.Errorf("delivery %s: corrupt line reference", id)
	}
	dest := string(ref[k : k+int(n)])
	key := ref[k+int(n):]
	lines := tx.Bucket(bLines).Bucket([]byte(dest))
	if lines == nil {
		return false, nil
	}
	leadID, err := lineLead(key)
	if err != nil {
		return false, err
	}
	hk, _ := lineHead(lines, linePrefix(leadID))
	return hk != nil && !bytes.Equal(hk, key), nil
}
