package leadsquared

import (
	"context"
	"fmt"
)

// List returns every subscription, oldest first, as Retrieve answers them;
// the operations console lists them.
func (a *API) List(ctx context.Context) ([]Subscription, error) {
	return a.list(ctx)
}

// Delete removes one subscription, as POST /v2/Webhook.svc/Delete does, and
// applies the change at once on this replica (Watch tells the others). The
// error wraps store.ErrNotFound when there is no such subscription.
func (a *API) Delete(ctx context.Context, id string) error {
	if err := a.store.DeleteSubscription(ctx, id); err != nil {
		return fmt.Errorf("delete subscription: %w", err)
	}
	a.log.Info("leadsquared subscription deleted", "id", id, "by", "console")
	a.changed(ctx)
	a.abandon(ctx, id)
	return nil
}
