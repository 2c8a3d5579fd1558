package main

import (
	"context"

	"leadgate/gateway/console"
	"leadgate/gateway/leadsquared"
	"leadgate/gateway/server"
)

// The console is a sibling of the server and the LeadSquared API, not
// their client: it declares what it needs (console.Runtime,
// console.Subscriptions) and main hands it over, so the console imports
// neither (issue 14, point 5).

// consoleRuntime is the console's view of the server's current runtime.
func consoleRuntime(rt *server.Runtime) console.Runtime {
	return console.Runtime{Mappings: rt.Mappings, Destinations: rt.Destinations,
		AccessKey: rt.AccessKey, SecretKey: rt.SecretKey}
}

// consoleSubscriptions lets the console list and delete the
// LeadSquared-compatible API's subscriptions.
type consoleSubscriptions struct{ api *leadsquared.API }

var _ console.Subscriptions = consoleSubscriptions{}

// List returns every subscription, oldest first, as the console shows them.
func (s consoleSubscriptions) List(ctx context.Context) ([]console.Subscription, error) {
	subs, err := s.api.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]console.Subscription, 0, len(subs))
	for _, sub := range subs {
		out = append(out, consoleSubscription(sub))
	}
	return out, nil
}

// Delete removes one subscription through the API, which applies the
// change at once.
func (s consoleSubscriptions) Delete(ctx context.Context, id string) error {
	return s.api.Delete(ctx, id)
}

// consoleSubscription is sub as the console lists it: its delivery name,
// the landing pages only when it is limited to them, and its custom
// headers' names without their values.
func consoleSubscription(sub leadsquared.Subscription) console.Subscription {
	v := console.Subscription{ID: sub.ID, Destination: leadsquared.DestinationName(sub.ID), Description: sub.Description,
		URL: sub.URL, Method: sub.Method, ContentType: sub.ContentType, Event: sub.Event,
		NotifyOnFailure: sub.NotifyOnFailure, CreatedAt: sub.CreatedAt}
	if sub.IsSpecificLandingPage {
		v.LandingPages = append(v.LandingPages, sub.LandingPageUrls...)
	}
	for _, h := range sub.CustomHeaders {
		v.Headers = append(v.Headers, h.Key)
	}
	return v
}
