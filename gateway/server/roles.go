package server

import (
	"context"
	"time"

	"leadgate/gateway/leadexport"
	"leadgate/gateway/store"
	"leadgate/gateway/storehttp"
)

// The server's needs of the store, one role per route family, so that a
// route's fake in a test is a handful of methods and store.Store stays
// only the union the backends implement.

// Ingester is what the inbound route needs: the atomic write of one
// payload, and keeping the reverse-proxy answer a duplicate gets again.
type Ingester interface {
	Ingest(ctx context.Context, req store.IngestRequest) (store.IngestResult, error)
	KeepAnswer(ctx context.Context, dedupeKey string, a store.Answer) error
}

// EventReader is what GET /admin/events/{id} needs.
type EventReader interface {
	Event(ctx context.Context, eventID string) (store.EventRecord, error)
}

// DeadLetters is what the dead-letter routes need: listing and replaying.
type DeadLetters interface {
	storehttp.DeadLetterLister
	Replay(ctx context.Context, deadLetterID string, now time.Time) error
	ReplayAll(ctx context.Context, dest string, now time.Time) (int, error)
}

// Prober is what /readyz needs: the store reachable, and writable.
type Prober interface {
	Ping(ctx context.Context) error
	ProbeWrite(ctx context.Context) error
}

// Store is everything the server needs of the store (Options.Store): its
// routes' roles together.
type Store interface {
	Ingester
	EventReader
	DeadLetters
	leadexport.Lister
	Prober
}

var _ Store = store.Store(nil)
