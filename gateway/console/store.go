package console

import (
	"context"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// Store is what the console needs of the store (Options.Store), page by
// page. Nothing in the console writes a lead.
type Store interface {
	eventReader
	deadLetterQueue
	leadLister
	depthReader
}

var _ Store = store.Store(nil)

// eventReader is what the events page needs: the search and one event.
type eventReader interface {
	Events(ctx context.Context, q store.EventQuery) ([]lead.Event, string, error)
	Event(ctx context.Context, eventID string) (store.EventRecord, error)
}

// deadLetterQueue is what the dead-letters page needs: listing, replaying.
type deadLetterQueue interface {
	DeadLetters(ctx context.Context, dest, cursor string, limit int) ([]store.DeadLetter, string, error)
	Replay(ctx context.Context, deadLetterID string, now time.Time) error
	ReplayAll(ctx context.Context, dest string, now time.Time) (int, error)
}

// leadLister is what the lead export needs (server.LeadsCSV).
type leadLister interface {
	Leads(ctx context.Context, q store.LeadQuery) ([]store.LeadRecord, string, error)
}

// depthReader is what the overview needs: the queue's depth by state.
type depthReader interface {
	Depth(ctx context.Context) (map[string]int64, error)
}
