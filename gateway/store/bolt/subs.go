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
	wrote, err := s.changeSubs(ctx, "put subscription", func(b *bbolt.Bucket) (bool, error) {
		// The cap is judged in the single writer's transaction, so no
		// concurrent put can slip past it.
		if max > 0 && b.Get([]byte(sub.ID)) == nil && countKeys(b) >= max {
			return false, nil
		}
		return true, b.Put([]byte(sub.ID), body)
	})
	if err == nil && !wrote {
		return fmt.Errorf("put subscription: %d exist: %w", max, store.ErrFull)
	}
	return err
}

// UpdateSubscription replaces an existing subscription and bumps the
// version; ErrNotFound, and no write, when there is none.
func (s *Store) UpdateSubscription(ctx context.Context, sub store.Subscription) error {
	body := append([]byte(nil), sub.Body...)
	wrote, err := s.changeSubs(ctx, "update subscription", func(b *bbolt.Bucket) (bool, error) {
		if sub.ID == "" || b.Get([]byte(sub.ID)) == nil {
			return false, nil
		}
		return true, b.Put([]byte(sub.ID), body)
	})
	if err == nil && !wrote {
		return fmt.Errorf("subscription %s: %w", sub.ID, store.ErrNotFound)
	}
	return err
}

// DeleteSubscription removes a subscription and bumps the version.
func (s *Store) DeleteSubscription(ctx context.Context, id string) error {
	wrote, err := s.changeSubs(ctx, "delete subscription", func(b *bbolt.Bucket) (bool, error) {
		if b.Get([]byte(id)) == nil {
			return false, nil
		}
		return true, b.Delete([]byte(id))
	})
	if err == nil && !wrote {
		return fmt.Errorf("subscription %s: %w", id, store.ErrNotFound)
	}
	return err
}

// changeSubs runs change on the subscriptions in the single writer's
// transaction and bumps the version when it wrote; false from change means
// it found nothing to do, and nothing is written.
func (s *Store) changeSubs(ctx context.Context, op string, change func(*bbolt.Bucket) (bool, error)) (bool, error) {
	wrote := false
	err := s.submit(ctx, op, func(tx *bbolt.Tx) error {
		ok, err := change(tx.Bucket(bSubs))
		if err != nil || !ok {
			return err
		}
		wrote = true
		return bumpVersion(tx)
	}, nil)
	return wrote, err
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
