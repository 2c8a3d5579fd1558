package bolt

import (
	"time"

	"go.etcd.io/bbolt"
)

// Sweep deletes dedupe keys that expired by now and says how many. Open
// starts a loop that calls it; a lookup also ignores expired keys, so the
// sweep only bounds the file's size and the index's memory.
func (s *Store) Sweep(now time.Time) (int, error) {
	const chunk = 10000
	total := 0
	for {
		n := 0
		var gone []dedupeEntryKey
		err := s.db.Update(func(tx *bbolt.Tx) error {
			n, gone = 0, gone[:0]
			legacy, byExp := tx.Bucket(bDedupe), tx.Bucket(bDedupeExp)
			c := byExp.Cursor()
			for k, _ := c.First(); k != nil && n < chunk && keyTime(k) <= now.UnixNano(); k, _ = c.First() {
				key := k[8:]
				if v := legacy.Get(key); len(v) >= 8 && keyTime(v) == keyTime(k) {
					if err := legacy.Delete(key); err != nil {
						return err
					}
				}
				if err := tx.Bucket(bAnswers).Delete(k); err != nil {
					return err
				}
				gone = append(gone, dedupeEntryKey{key: hashKey(string(key)), exp: keyTime(k)})
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, unavailable("sweep dedupe keys", err)
		}
		s.dmu.Lock()
		for _, g := range gone {
			// A key written again since has a later expiry and stays.
			if e, ok := s.dedupe[g.key]; ok && e.exp == g.exp {
				delete(s.dedupe, g.key)
			}
		}
		s.dmu.Unlock()
		total += n
		if n < chunk {
			return total, nil
		}
	}
}

type dedupeEntryKey struct {
	key keyHash
	exp int64
}

func (s *Store) sweepLoop(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if n, err := s.Sweep(now); err != nil {
				s.log.Warn("dedupe sweep failed", "err", err)
			} else if n > 0 {
				s.log.Debug("dedupe keys swept", "count", n)
			}
		}
	}
}
