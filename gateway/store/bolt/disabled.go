package bolt

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"
)

// SetDisabled records (or, with fp "", clears) that dest answered 410
// under the config with fingerprint fp.
func (s *Store) SetDisabled(ctx context.Context, dest, fp string) error {
	if dest == "" {
		return fmt.Errorf("set disabled: empty destination")
	}
	return s.submit(ctx, "set disabled", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bDisabled)
		if fp == "" {
			return b.Delete([]byte(dest))
		}
		return b.Put([]byte(dest), []byte(fp))
	}, nil)
}

// Disabled maps each destination a 410 disabled to its config fingerprint.
func (s *Store) Disabled(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bDisabled).ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		return nil, unavailable("disabled destinations", err)
	}
	return out, nil
}
