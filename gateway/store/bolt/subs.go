package bolt

import (
	"context"
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"

	"leadgate/gateway/store"
)

// PutSubscription creates or replaces a subscription and bumps the
// version; ErrFull, and no write, when it would create one beyond max.
func (s *Store) PutSubscription(ctx context.Context, sub store.Subscription, max int) error {
	if sub.ID == "" {
		return fmt.Errorf("put subscription: empty id")
	}
	body := append([]byte(nil), sub.Body...)
	full := false
	err := s.submit(ctx, "put subscription", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bSubs)
		// The cap is judged in the single writer's transaction, so no
		// concurrent put can slip past it.
		full = max > 0 && b.Get([]byte(sub.ID)) == nil && countKeys(b) >= max
		if full {
			return nil
		}
		if err := b.Put([]byte(sub.ID), body); err != nil {
			return err
		}
		return bumpVersion(tx)
	}, nil)
	if err == nil && full {
		return fmt.Errorf("put subscription: %d exist: %w", max, store.ErrFull)
	}
	return err
}

// UpdateSubscription replaces an existing subscription and bumps the
// version; ErrNotFound, and no write, when there is none.
func (s *Store) UpdateSubscription(ctx context.Context, sub store.Subscription) error {
	body := append([]byte(nil), sub.Body...)
	found := false
	err := s.submit(ctx, "update subscription", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bSubs)
		found = sub.ID != "" && b.Get([]byte(sub.ID)) != nil
		if !found {
			return nil
		}
		if err := b.Put([]byte(sub.ID), body); err != nil {
			return err
		}
		return bumpVersion(tx)
	}, nil)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("subscription %s: %w", sub.ID, store.ErrNotFound)
	}
	return nil
}

// DeleteSubscription removes a subscription and bumps the version.
func (s *Store) DeleteSubscription(ctx context.Context, id string) error {
	found := false
	err := s.submit(ctx, "delete subscription", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bSubs)
		found = b.Get([]byte(id)) != nil
		if !found {
			return nil
		}
		if err := b.Delete([]byte(id)); err != nil {
			return err
		}
		return bumpVersion(tx)
	}, nil)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("subscription %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// Subscriptions lists every subscription by id.
func (s *Store) Subscriptions(ctx context.Context) ([]store.Subscription, error) {
	var out []store.Subscription
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bSubs).ForEach(func(k, v []byte) error {
			out = append(out, store.Subscription{ID: string(k), Body: append([]byte(nil), v...)})
			return nil
		})
	})
	if err != nil {
		return nil, unavailable("subscriptions", err)
	}
	return out, nil
}

// SubscriptionsVersion returns a counter bumped by every put and delete.
func (s *Store) SubscriptionsVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		v = version(tx)
		return nil
	})
	if err != nil {
		return 0, unavailable("subscriptions version", err)
	}
	return v, nil
}

func version(tx *bbolt.Tx) int64 {
	raw := tx.Bucket(bMeta).Get(kSubsVer)
	if len(raw) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(raw))
}

func bumpVersion(tx *bbolt.Tx) error {
	v := make([]byte, 8)
	binary.BigEndian.PutUint64(v, uint64(version(tx)+1))
	return tx.Bucket(bMeta).Put(kSubsVer, v)
}

// countKeys counts a bucket's keys as this transaction sees them (Stats
// reads only what earlier transactions committed).
func countKeys(b *bbolt.Bucket) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}
