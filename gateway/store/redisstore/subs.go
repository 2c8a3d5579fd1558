package redisstore

import (
	"context"
	"fmt"
	"sort"

	"leadgate/gateway/store"
)

// PutSubscription creates or replaces a subscription and bumps the version
// in the same script, so no replica can see one without the other; the
// script also judges max, so replicas racing at the cap cannot pass it.
func (s *Store) PutSubscription(ctx context.Context, sub store.Subscription, max int) error {
	n, err := subPutScript.Run(ctx, s.rdb, []string{s.keys.subs, s.keys.subsVer}, sub.ID, sub.Body, max).Int64()
	if err != nil {
		return unavailable("put subscription", err)
	}
	if n < 0 {
		return fmt.Errorf("put subscription: %d exist: %w", max, store.ErrFull)
	}
	return nil
}

// UpdateSubscription replaces an existing subscription and bumps the
// version in one script; ErrNotFound, and no write, when there is none.
func (s *Store) UpdateSubscription(ctx context.Context, sub store.Subscription) error {
	n, err := subUpdateScript.Run(ctx, s.rdb, []string{s.keys.subs, s.keys.subsVer}, sub.ID, sub.Body).Int64()
	if err != nil {
		return unavailable("update subscription", err)
	}
	if n == 0 {
		return fmt.Errorf("subscription %q: %w", sub.ID, store.ErrNotFound)
	}
	return nil
}

// DeleteSubscription removes a subscription; ErrNotFound if there is none.
func (s *Store) DeleteSubscription(ctx context.Context, id string) error {
	n, err := subDelScript.Run(ctx, s.rdb, []string{s.keys.subs, s.keys.subsVer}, id).Int64()
	if err != nil {
		return unavailable("delete subscription", err)
	}
	if n == 0 {
		return fmt.Errorf("subscription %q: %w", id, store.ErrNotFound)
	}
	return nil
}

// Subscriptions lists every subscription, by id.
func (s *Store) Subscriptions(ctx context.Context) ([]store.Subscription, error) {
	all, err := s.rdb.HGetAll(ctx, s.keys.subs).Result()
	if err != nil {
		return nil, unavailable("list subscriptions", err)
	}
	out := make([]store.Subscription, 0, len(all))
	for id, body := range all {
		out = append(out, store.Subscription{ID: id, Body: []byte(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// SubscriptionsVersion is a counter bumped by every put and delete; 0 before
// the first.
func (s *Store) SubscriptionsVersion(ctx context.Context) (int64, error) {
	v, err := s.rdb.Get(ctx, s.keys.subsVer).Int64()
	if isNil(err) {
		return 0, nil
	}
	if err != nil {
		return 0, unavailable("read subscriptions version", err)
	}
	return v, nil
}
