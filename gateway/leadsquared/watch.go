package leadsquared

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"leadgate/gateway/deliver"
)

// list reads and decodes every stored subscription, oldest first. A record
// that does not decode (written by a newer or broken build) is logged and
// left out rather than hiding every other subscription.
func (a *API) list(ctx context.Context) ([]Subscription, error) {
	stored, err := a.store.Subscriptions(ctx)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	subs := make([]Subscription, 0, len(stored))
	for _, st := range stored {
		var s Subscription
		if err := json.Unmarshal(st.Body, &s); err != nil {
			a.log.Error("leadsquared subscription unreadable; skipped", "id", st.ID, "err", err)
			continue
		}
		name, ok := EventName(s.WebhookEvent)
		if !ok {
			a.log.Error("leadsquared subscription has an unsupported event; skipped", "id", st.ID, "webhook_event", s.WebhookEvent)
			continue
		}
		s.ID = st.ID
		s.Event = name
		subs = append(subs, s)
	}
	sort.Slice(subs, func(i, j int) bool {
		if !subs[i].CreatedAt.Equal(subs[j].CreatedAt) {
			return subs[i].CreatedAt.Before(subs[j].CreatedAt)
		}
		return subs[i].ID < subs[j].ID
	})
	return subs, nil
}

// Destinations converts every stored subscription into a destination named
// DestinationName(id): canonical format, the subscription's content type
// and custom headers (order and repeated keys kept), its one event, its
// landing pages when IsSpecificLandingPage, the gateway's private-address
// rule and the Defaults. NotifyOnFailure is left empty so that dead letters
// go to the gateway's notify_url (see destination).
func (a *API) Destinations(ctx context.Context) ([]deliver.Destination, error) {
	subs, err := a.list(ctx)
	if err != nil {
		return nil, err
	}
	return a.build(subs), nil
}

// build turns subscriptions into destinations with the current settings.
func (a *API) build(subs []Subscription) []deliver.Destination {
	cur := a.cur.Load()
	out := make([]deliver.Destination, len(subs))
	for i, s := range subs {
		out[i] = s.destination(cur.defaults, cur.allowPrivate)
	}
	return out
}

// sweepEvery is how often Watch looks for deliveries queued for deleted
// subscriptions.
const sweepEvery = time.Minute

// Watch calls Options.OnChange at once with the current subscriptions'
// destinations, then again whenever the store's SubscriptionsVersion
// changes, polled every every (a cheap read, so a second or less keeps every
// replica within a second of another replica's change). At start and every
// minute it also sweeps: deliveries queued for a subscription that no
// longer exists (a replica routed to it in the second before it learnt of
// the Delete, or the Delete's own clean-up failed) are dead-lettered.
// Watch returns when ctx ends; run at most one per API. Without OnChange it
// returns at once.
func (a *API) Watch(ctx context.Context, every time.Duration) {
	if a.onChange == nil {
		return
	}
	a.poll(ctx, true)
	a.sweep(ctx)
	t := time.NewTicker(every)
	defer t.Stop()
	sw := time.NewTicker(sweepEvery)
	defer sw.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.poll(ctx, false)
		case <-sw.C:
			a.sweep(ctx)
		}
	}
}

// sweep dead-letters the queued deliveries of subscription destinations
// that are not stored. Pending is read before the subscriptions: a
// subscription is stored before anything is queued for it, so one that is
// pending and missing from the later list is deleted, not just created.
func (a *API) sweep(ctx context.Context) {
	pending, err := a.store.Pending(ctx)
	if err != nil {
		return // the poll reports an unreachable store
	}
	var orphans []string
	for _, dest := range pending {
		if id, ok := strings.CutPrefix(dest, destinationPrefix); ok {
			orphans = append(orphans, id)
		}
	}
	if len(orphans) == 0 {
		return
	}
	stored, err := a.store.Subscriptions(ctx)
	if err != nil {
		return
	}
	have := make(map[string]bool, len(stored))
	for _, s := range stored {
		have[s.ID] = true
	}
	for _, id := range orphans {
		if !have[id] {
			a.abandon(ctx, id)
		}
	}
}

// changed applies this replica's own change at once.
func (a *API) changed(ctx context.Context) { a.poll(ctx, true) }

// poll calls the change callback when the version moved (or force), reading
// the version before the list so that a change racing the read is seen
// again on the next poll rather than missed. A failing store is logged once
// per outage and the last destinations stay in force.
func (a *API) poll(ctx context.Context, force bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.onChange == nil {
		return
	}
	v, err := a.store.SubscriptionsVersion(ctx)
	if err == nil && a.loaded && v == a.version && !force {
		return
	}
	var subs []Subscription
	if err == nil {
		subs, err = a.list(ctx)
	}
	if err != nil {
		if !a.pollFailing && ctx.Err() == nil {
			a.log.Warn("leadsquared subscriptions unreadable; keeping the last ones", "err", err)
		}
		a.pollFailing = true
		return
	}
	if a.pollFailing {
		a.log.Info("leadsquared subscriptions readable again")
	}
	a.pollFailing = false
	a.version = v
	a.loaded = true
	a.subs = subs
	a.onChange(a.build(subs))
}
