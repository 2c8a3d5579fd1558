package leadsquared

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"leadgate/gateway/store"
)

// Store is what the API and its watcher need of the store (Options.Store):
// the subscriptions themselves, the version every replica polls, and, for
// a deleted subscription, what is still queued for it.
type Store interface {
	PutSubscription(ctx context.Context, s store.Subscription, max int) error
	UpdateSubscription(ctx context.Context, s store.Subscription) error
	DeleteSubscription(ctx context.Context, id string) error
	Subscriptions(ctx context.Context) ([]store.Subscription, error)
	SubscriptionsVersion(ctx context.Context) (int64, error)
	// Pending and AbandonQueued find and dead-letter the deliveries of
	// subscriptions that are gone (see watch.go and Delete).
	Pending(ctx context.Context) ([]string, error)
	AbandonQueued(ctx context.Context, dest string, at time.Time, reason string) (int, error)
}

var _ Store = store.Store(nil)

// put stores a new subscription, at most MaxSubscriptions of them
// (store.ErrFull beyond).
func (a *API) put(ctx context.Context, s Subscription) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode subscription: %w", err)
	}
	if err := a.store.PutSubscription(ctx, store.Subscription{ID: s.ID, Body: b}, MaxSubscriptions); err != nil {
		return fmt.Errorf("put subscription: %w", err)
	}
	return nil
}

// replace writes s over the stored subscription of its id, only if that
// still exists.
func (a *API) replace(ctx context.Context, s Subscription) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode subscription: %w", err)
	}
	if err := a.store.UpdateSubscription(ctx, store.Subscription{ID: s.ID, Body: b}); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound(s.ID)
		}
		return fmt.Errorf("update subscription: %w", err)
	}
	return nil
}

// abandon dead-letters what is still queued for deleted subscription id:
// nothing would ever deliver it, and it would count in
// gateway_queue_depth for good. The dead letters keep the name lsq-<id>
// and can be read and replayed like any other. A failure is only logged:
// Watch's sweep finds what is left.
func (a *API) abandon(ctx context.Context, id string) {
	n, err := a.store.AbandonQueued(ctx, DestinationName(id), a.now().UTC(), abandonReason)
	if err != nil {
		a.log.Warn("deleted subscription's queued deliveries not dead-lettered yet; the sweep retries", "id", id, "err", err)
		return
	}
	if n > 0 {
		a.log.Info("deleted subscription's queued deliveries dead-lettered", "id", id, "count", n)
	}
}

// get finds one subscription. The store has no single-item read; the list
// is small (one record per subscription) and read on change anyway.
func (a *API) get(ctx context.Context, id string) (Subscription, error) {
	subs, err := a.list(ctx)
	if err != nil {
		return Subscription{}, err
	}
	for _, s := range subs {
		if s.ID == id {
			return s, nil
		}
	}
	return Subscription{}, notFound(id)
}
