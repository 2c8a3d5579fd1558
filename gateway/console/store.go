package console

import (
	"context"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/leadexport"
	"leadgate/gateway/store"
	"leadgate/gateway/storehttp"
)

// Store is what the console needs of the store (Options.Store), page by
// page; the lead export needs leadexport.Lister. Nothing in the console
// writes a lead.
type Store interface {
	eventReader
	deadLetterQueue
	leadexport.Lister
	depthReader
}

var _ Store = store.Store(nil)

// eventReader is what the events page needs: the search and one event.
type eventReader interface {
	Events(ctx context.Context, q store.EventQuery) ([]lead.Event, string, error)
	Event(ctx context.Context, eventID string) (store.EventRecord, error)
}

// deadLetterQueue is what the dead-letters page needs: listing
// (storehttp.DeadLetterPage), replaying.
type deadLetterQueue interface {
	storehttp.DeadLetterLister
	Replay(ctx context.Context, deadLetterID string, now time.Time) error
	ReplayAll(ctx context.Context, dest string, now time.Time) (int, error)
}

// depthReader is what the overview needs: the queue's depth by state.
type depthReader interface {
	Depth(ctx context.Context) (map[string]int64, error)
}
