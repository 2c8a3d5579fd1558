package redisstore

import (
	"context"
	"fmt"
)

// SetDisabled records (or, with fp "", clears) that dest answered 410
// under the config with fingerprint fp.
func (s *Store) SetDisabled(ctx context.Context, dest, fp string) error {
	if dest == "" {
		return fmt.Errorf("set disabled: empty destination")
	}
	var err error
	if fp == "" {
		err = s.rdb.HDel(ctx, s.keys.disabled, dest).Err()
	} else {
		err = s.rdb.HSet(ctx, s.keys.disabled, dest, fp).Err()
	}
	if err != nil {
		return unavailable("set disabled", err)
	}
	return nil
}

// Disabled maps each destination a 410 disabled to its config fingerprint.
func (s *Store) Disabled(ctx context.Context) (map[string]string, error) {
	all, err := s.rdb.HGetAll(ctx, s.keys.disabled).Result()
	if err != nil {
		return nil, unavailable("disabled destinations", err)
	}
	return all, nil
}
