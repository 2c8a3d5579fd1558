package redisstore

import (
	"context"
	"encoding/json"
	"fmt"

	"leadgate/gateway/store"
)

// KeepAnswer appends a to the payload's duplicate key, which the write
// script already reads for the duplicate rule: a duplicate gets the answer
// in the same round trip, and it expires with the key.
func (s *Store) KeepAnswer(ctx context.Context, dedupeKey string, a store.Answer) error {
	if dedupeKey == "" {
		return nil
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("keep answer: %w", err)
	}
	if err := keepAnswerScript.Run(ctx, s.rdb, []string{s.keys.dup(dedupeKey)}, raw).Err(); err != nil {
		return unavailable("keep answer", err)
	}
	return nil
}
