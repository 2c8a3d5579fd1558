// Package store is the durable heart of Leadgate: the lead index, the
// duplicate-payload rule, the event log and the per-destination delivery
// queue with its retries and dead letters, and the LeadSquared-compatible
// subscriptions. One interface, two backends: the embedded bbolt store
// (package store/bolt) and Redis (package store/redisstore). Both pass the
// same conformance suite (package store/storetest).
package store

import (
	"context"
	"errors"
	"time"

	"leadgate/gateway/lead"
)

// Errors every backend returns, so callers can branch with errors.Is.
var (
	// ErrNotFound: no event, dead letter or subscription with that id.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable wraps every failure to reach the backing store; the
	// inbound route answers it with 503 and Retry-After.
	ErrUnavailable = errors.New("store unavailable")
	// ErrBadCursor: a paging cursor that no page of this store handed out;
	// the admin API answers it with 400, not as an outage.
	ErrBadCursor = errors.New("bad cursor")
	// ErrFull: PutSubscription would create a subscription beyond its cap.
	ErrFull = errors.New("full")
)

// IngestRequest is one accepted, normalized inbound payload.
type IngestRequest struct {
	Source string
	// DedupeKey identifies the payload (a hash of source, query and body).
	// A second Ingest with the same key within DedupeTTL returns the first
	// one's LeadID with Duplicate set and stores nothing. Empty disables.
	DedupeKey string
	DedupeTTL time.Duration
	// Identity lists the lead index keys, each typed by its kind before
	// the first colon (KeyKind): "email:john@example.com",
	// "phone:+14155550100", "key:leadsie:user1". Resolve says which lead
	// they name (the identity rule of contract section 4); every key is
	// then pointed at that lead. At least one key is required.
	Identity []string
	Lead     lead.Lead
	// Emits lists the events this source may produce (its mapping's
	// declared events); Decide's answer is filtered by it.
	Emits      []string
	ReceivedAt time.Time
	// Route names the destinations that want an event. It is called inside
	// the store's write for each event and must be pure and fast.
	Route func(ev *lead.Event) []string
	// Ordered says whether a destination Route named wants a lead's events
	// in order (its ordered setting); nil means none does. It is called
	// inside the store's write like Route, and its answer is recorded with
	// each delivery, so a delivery keeps the order it was queued under
	// across config reloads, restarts and replicas. See Store.Lease.
	Ordered func(dest string) bool
	// RequestID names the inbound request in logs; it is kept with the
	// events so their deliveries' log lines carry it too. Not part of the
	// canonical event.
	RequestID string
	// Limit, when set, is the inbound rate limit, checked and recorded in
	// the same atomic write as the events by a backend that can (the Redis
	// store; see its LimitsIngest): the limit check and the enqueue are
	// then one script and one round trip. A refused request stores
	// nothing, and IngestResult.Limit says it was refused. Backends that
	// cannot refuse a request that sets it; main tells the server which
	// kind it built.
	Limit *LimitCheck
	// Hold, when set, hands one of the payload's deliveries to the caller,
	// leased, instead of queueing it due: the reverse-proxy answer's send
	// (see Hold). A duplicate holds nothing.
	Hold *Hold
}

// LimitCheck is one request's rate-limit check, prepared by the limiter
// (the Redis limiter's Check) for a backend that runs the limiter's own
// sliding-window script inside Ingest's write. The store only carries it:
// the limiter decides what the fields hold.
type LimitCheck struct {
	// Key is the window's key in the backing store.
	Key string
	// Requests and Per are the limit: at most Requests per Per.
	Requests int
	Per      time.Duration
	// WindowUS is Per in microseconds, as the limiter's script counts it.
	WindowUS int64
	// Member is this admission's unique member of the window.
	Member string
}

// LimitDecision is the answer to a LimitCheck, as the limiter's script
// gave it.
type LimitDecision struct {
	// Allowed says the request was admitted (and counted).
	Allowed bool
	// Remaining is how many more requests the window admits now.
	Remaining int
	// Reset is how long until the window's next slot frees.
	Reset time.Duration
	// RetryAfter is how long until one more request would be admitted;
	// zero when Allowed.
	RetryAfter time.Duration
}

// Hold asks Ingest to lease the delivery to Destination of the first of
// the payload's events routed there (in the order of IngestResult.Events)
// to the caller until Until, in the same atomic write that stores it, as
// Lease would have leased it: no Lease hands it out before Until, and the
// caller sends it and settles it with Settle. A caller that dies first
// (kill -9 mid-send) leaves it to the lease: it is due again at Until, so
// the event still reaches the destination at least once. A destination
// that IngestRequest.Ordered names is never held: its deliveries wait for
// the lead's earlier ones.
type Hold struct {
	Destination string
	Until       time.Time
}

// Answer is the reverse-proxy answer a payload's sender got from a
// destination, kept with the payload's dedupe record (KeepAnswer) so that
// a duplicate of the payload gets the same answer.
type Answer struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	Body        []byte `json:"body"`
}

// IngestResult says what Ingest stored.
type IngestResult struct {
	LeadID    string
	Duplicate bool
	Events    []lead.Event
	// Limit is the decision on IngestRequest.Limit, when it was set. When
	// it is not Allowed, nothing was stored and LeadID is empty.
	Limit *LimitDecision
	// FieldsDropped counts the keys of the payload's fields (or updates of
	// known ones) that the lead's bounds left out (lead.MaxFields,
	// lead.MaxFieldsBytes); 0 for a duplicate.
	FieldsDropped int
	// Held is the delivery IngestRequest.Hold leased to the caller, nil
	// when no event of the payload was routed to its destination (or the
	// payload was a duplicate).
	Held *Delivery
	// Answer is, for a Duplicate, the answer KeepAnswer kept for the
	// first payload; nil when none was kept.
	Answer *Answer
}

// Delivery is one event owed to one destination.
type Delivery struct {
	// ID is the delivery's own id, unique per (event, destination).
	ID          string
	EventID     string
	Destination string
	// Attempts made so far, before this lease.
	Attempts int
	// Body is the canonical event as stored.
	Event lead.Event
	// EnqueuedAt is when the event was first queued for this destination,
	// for the delivery-lag metric.
	EnqueuedAt time.Time
	// RequestID is the IngestRequest's, for log lines ("" for events stored
	// before request ids were kept).
	RequestID string
}

// Attempt is one try at delivering.
type Attempt struct {
	At         time.Time `json:"at"`
	Code       int       `json:"code"`
	DurationMS int64     `json:"duration_ms"`
	Error      string    `json:"error"`
}

// Outcome states after an attempt.
const (
	Delivered = "delivered"
	Retrying  = "retrying"
	Dead      = "dead"
)

// Outcome settles one leased delivery.
type Outcome struct {
	Delivery Delivery
	Attempt  Attempt
	// State is Delivered, Retrying or Dead.
	State string
	// RetryAt is when a Retrying delivery is due again.
	RetryAt time.Time
}

// DeliveryStatus is one destination's view of an event, for the admin API.
type DeliveryStatus struct {
	Destination string `json:"destination"`
	// Status is "pending", "retrying", "delivered" or "dead".
	Status   string    `json:"status"`
	Attempts []Attempt `json:"attempts"`
}

// EventRecord is an event with its deliveries.
type EventRecord struct {
	Event      lead.Event
	Deliveries []DeliveryStatus
}

// DeadLetter is a delivery that will not be retried until replayed.
type DeadLetter struct {
	ID          string    `json:"id"`
	EventID     string    `json:"event_id"`
	Destination string    `json:"destination"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error"`
	DeadAt      time.Time `json:"dead_at"`
}

// Subscription is an opaque, JSON-encoded subscription made through the
// LeadSquared-compatible API; the store only keeps it.
type Subscription struct {
	ID   string
	Body []byte
}

// EventQuery narrows Store.Events, the operations console's event search.
// Every field set must match; none set lists every event.
type EventQuery struct {
	// EventID is one exact event id.
	EventID string
	// LeadID keeps the events of one lead.
	LeadID string
	// Email and Phone name a lead through the lead index ("email:<Email>",
	// "phone:<Phone>"), as normalized by the mappings: a lower-case email,
	// an E.164 phone.
	Email string
	Phone string
	// Cursor is the next of a previous page: only older events follow.
	Cursor string
	// Limit caps the page; zero means 50.
	Limit int
}

// Store is the one interface both backends implement. Every method is safe
// for concurrent use; errors reaching the backing store wrap ErrUnavailable.
type Store interface {
	// Ingest applies the duplicate rule, resolves the lead id, decides the
	// events with lead.Decide, stores the events and queues one delivery
	// per routed destination, all atomically and durably before it returns.
	Ingest(ctx context.Context, req IngestRequest) (IngestResult, error)

	// KeepAnswer keeps a as the answer of the payload whose dedupe record
	// is dedupeKey, for as long as that record lasts: a later duplicate's
	// IngestResult.Answer. With no live record of dedupeKey it keeps
	// nothing and returns nil.
	KeepAnswer(ctx context.Context, dedupeKey string, a Answer) error

	// Lease hands out up to max deliveries of destination dest that are due
	// at now, and hides them from other Lease calls until now+lease. A
	// leased delivery that is never settled becomes due again when its
	// lease runs out (a crashed worker or replica).
	//
	// A delivery queued as ordered (IngestRequest.Ordered) waits in its
	// lead's line for that destination: it is not handed out while an
	// earlier delivery of the same lead to the same destination is queued,
	// leased or retrying (even one not due yet), and becomes due once the
	// one before it is delivered or dead. One lead's events are queued in
	// the order Ingest made them, so the line is lead_version order. Other
	// leads, and deliveries not queued as ordered, are never held back.
	Lease(ctx context.Context, dest string, now time.Time, max int, lease time.Duration) ([]Delivery, error)
	// Settle records attempts and moves each delivery to its new state.
	Settle(ctx context.Context, outcomes []Outcome) error
	// Pending names the destinations that have deliveries queued (due or
	// not), so workers can be started for destinations no longer in config.
	Pending(ctx context.Context) ([]string, error)

	// Event returns an event with every destination's attempts.
	Event(ctx context.Context, eventID string) (EventRecord, error)
	// DeadLetters pages through dead letters, oldest first; dest "" means
	// every destination. next is "" on the last page.
	DeadLetters(ctx context.Context, dest, cursor string, limit int) (items []DeadLetter, next string, err error)
	// Replay queues a dead letter again, due at now, keeping its event id.
	// A dead letter of an ordered delivery joins the back of its lead's
	// line: due at now when the line is empty, else once the deliveries
	// of that lead queued before the replay are settled.
	Replay(ctx context.Context, deadLetterID string, now time.Time) error
	// ReplayAll replays every dead letter of dest and says how many.
	ReplayAll(ctx context.Context, dest string, now time.Time) (int, error)
	// AbandonQueued dead-letters every delivery of dest still queued (due,
	// scheduled for a retry, or leased), for a destination that is gone for
	// good (a deleted subscription), so that nothing waits for it forever.
	// Each gets one more attempt at at, with code 0 and error reason, which
	// becomes its dead letter's last_error. It says how many it moved. An
	// outcome settled later for one of them (an attempt in flight) is
	// ignored, as for any delivery that is no longer queued.
	AbandonQueued(ctx context.Context, dest string, at time.Time, reason string) (int, error)
	// Depth counts deliveries by state: "due", "scheduled", "in_flight", "dead".
	// An ordered delivery waiting behind an earlier one is "scheduled".
	Depth(ctx context.Context) (map[string]int64, error)
	// Events lists stored events newest first, narrowed by q, for the
	// operations console. It reads only (Ingest is never slowed by an
	// index kept for it) and examines a bounded number of events per call:
	// a page may be short, or empty, with next set to go on from; next is
	// "" when nothing older is left. An unknown email, phone or event id
	// is an empty page, not ErrNotFound.
	Events(ctx context.Context, q EventQuery) (events []lead.Event, next string, err error)
	// Leads lists the lead index's leads last seen in q's window, ordered
	// by last seen, oldest first, then by lead id, for the lead export.
	// Each call is one short read (never a transaction held across pages)
	// and examines a bounded number of leads: a page may be short, or
	// empty, with next set to go on from; next is "" when no lead is left.
	// A lead seen again while a caller pages moves to its new place: it
	// may be listed twice (at its old and its new last seen) unless the
	// caller ends the window before that new time. A cursor that no page
	// handed out is ErrBadCursor.
	Leads(ctx context.Context, q LeadQuery) (leads []LeadRecord, next string, err error)

	// PutSubscription creates or replaces a subscription. With max > 0 it
	// creates none when max already exist (ErrFull, and no write), checked
	// in the same step as the write, so replicas racing at the cap cannot
	// pass it; replacing one that exists is always allowed.
	PutSubscription(ctx context.Context, s Subscription, max int) error
	// UpdateSubscription replaces a subscription that exists, in one step:
	// ErrNotFound if there is none, so an Update racing a Delete never
	// brings the subscription back.
	UpdateSubscription(ctx context.Context, s Subscription) error
	// DeleteSubscription removes one; ErrNotFound if there is none.
	DeleteSubscription(ctx context.Context, id string) error
	// Subscriptions lists every subscription, by id.
	Subscriptions(ctx context.Context) ([]Subscription, error)
	// SubscriptionsVersion changes whenever a subscription is put or
	// deleted, so every replica can see a change cheaply.
	SubscriptionsVersion(ctx context.Context) (int64, error)

	// SetDisabled records that dest answered 410 Gone while its config had
	// the fingerprint fp, so every replica, and the next start, holds it
	// disabled until that config changes; fp "" clears it.
	SetDisabled(ctx context.Context, dest, fp string) error
	// Disabled maps each destination a 410 disabled to the fingerprint of
	// the config it answered under.
	Disabled(ctx context.Context) (map[string]string, error)

	// Lead returns the lead index's record of a lead; ErrNotFound when
	// there is none (never stored, or swept).
	Lead(ctx context.Context, leadID string) (LeadRecord, error)
	// SweepLeads removes from the lead index up to max leads last seen
	// before cutoff: their records and the index keys that still name
	// them, so a later payload of that person is a new lead. It says how
	// many it removed; a caller loops while a pass removed max. Its work
	// is bounded by max, so it never holds up Ingest for long.
	SweepLeads(ctx context.Context, cutoff time.Time, max int) (removed int, err error)
	// LeadCount is the number of leads in the lead index, read in O(1).
	LeadCount(ctx context.Context) (int64, error)
	// SweepEvents is retention: it removes up to max finished events
	// (every delivery delivered or dead, or none routed) whose last change
	// (receipt, an attempt, a dead-lettering) is before before, with their
	// attempts and dead letters, and says how many it removed. Nothing
	// queued, retrying or leased is removed; a replayed dead letter is
	// queued again and its clock restarts. One call is a bounded amount of
	// work that never holds up Ingest for long: the caller calls again
	// while a call removes max.
	SweepEvents(ctx context.Context, before time.Time, max int) (removed int, err error)
	// ProbeWrite writes a small probe record, so that a store that can be
	// read but not written (a full disk, Redis out of memory) is found.
	ProbeWrite(ctx context.Context) error
	// Size is how many bytes the store takes: the embedded store's file,
	// Redis's used_memory.
	Size(ctx context.Context) (int64, error)

	// Ping checks the backing store is reachable.
	Ping(ctx context.Context) error
	Close() error
}
