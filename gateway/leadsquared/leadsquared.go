// Package leadsquared is Leadgate's LeadSquared-compatible webhook API
// (contract section 6): tools written for LeadSquared's
// /v2/Webhook.svc/Create can subscribe to Leadgate's lead events unchanged.
// Subscriptions live in the store, so they survive restarts and every
// replica sees them; each becomes a deliver.Destination delivered by the
// same workers, formats, signatures and retries as gateway.yaml's.
package leadsquared

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"leadgate/gateway/adminkeys"
	"leadgate/gateway/deliver"
	"leadgate/gateway/httperr"
	"leadgate/gateway/metrics"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/store"
)

// DefaultLimit is LeadSquared's published API limit: 25 calls in 5 seconds
// per access key.
var DefaultLimit = ratelimit.Limit{Requests: 25, Per: 5 * time.Second}

// requestTimeout bounds the store calls of one API request; fiber.Ctx is
// never cancelled, so the handler makes its own deadline.
const requestTimeout = 10 * time.Second

// MaxSubscriptions caps how many subscriptions the gateway keeps. Each is a
// destination named lsq-<id> in metric labels, so the cap keeps those
// labels bounded; a Create over it is a 400.
const MaxSubscriptions = 100

// abandonReason is the last error of the dead letters a deleted
// subscription leaves.
const abandonReason = "not sent: subscription deleted"

// limiterTimeout is shorter: a hung shared limiter should cost a call little
// before it is admitted anyway.
const limiterTimeout = 2 * time.Second

// Options are New's arguments. Store, Limiter and Metrics are required.
type Options struct {
	Store   Store
	Limiter ratelimit.Limiter
	Metrics *metrics.Metrics
	// Log defaults to discarding.
	Log *slog.Logger
	// AccessKey, SecretKey, AllowPrivate and Defaults are the first
	// Settings (see there); SetSettings replaces them on a config reload.
	AccessKey    string
	SecretKey    string
	AllowPrivate bool
	Defaults     Defaults
	// Limit is the API's own rate limit per access key; zero means
	// DefaultLimit.
	Limit ratelimit.Limit
	// OnChange, when set, receives every subscription's destination (see
	// Destinations) after this replica's own Create, Update and Delete,
	// before the call is answered, and from Watch when another replica
	// changed them. Calls never overlap and arrive in the order the store
	// was read; OnChange should return quickly.
	OnChange func([]deliver.Destination)
	// Now defaults to time.Now; tests pin it.
	Now func() time.Time
	// Guard checks the admin keys and slows down guessing them; pass the
	// server's, so that every door counts one address's failures together.
	// Nil is one in process over the peer address.
	Guard *adminkeys.Guard
}

// Settings are the parts of gateway.yaml the API reads on every call, so
// that a config reload changes them at once, without a restart.
type Settings struct {
	// AccessKey and SecretKey are admin.access_key and admin.secret_key.
	// When either is empty every call is refused with 401.
	AccessKey string
	SecretKey string
	// AllowPrivate is server.allow_private_destinations: subscriptions may
	// then reach loopback, private, link-local and metadata addresses.
	AllowPrivate bool
	// Defaults fill the delivery settings LeadSquared has no attribute for
	// (gateway.yaml's subscriptions block).
	Defaults Defaults
}

// settings is Settings ready for use.
type settings struct {
	accessKey    string
	secretKey    string
	allowPrivate bool
	defaults     Defaults
}

func prepare(s Settings) *settings {
	return &settings{
		accessKey:    s.AccessKey,
		secretKey:    s.SecretKey,
		allowPrivate: s.AllowPrivate,
		defaults:     s.Defaults.withZeroesFilled(),
	}
}

// API serves the LeadSquared-compatible routes and turns the stored
// subscriptions into destinations. It is safe for concurrent use.
type API struct {
	store   Store
	limiter ratelimit.Limiter
	metrics *metrics.Metrics
	log     *slog.Logger
	limit   ratelimit.Limit
	now     func() time.Time
	guard   *adminkeys.Guard
	// cur is read by every call and swapped by SetSettings.
	cur atomic.Pointer[settings]

	onChange func([]deliver.Destination)

	// mu serializes change callbacks so that destinations are applied in
	// the order they were read; it guards the fields below.
	mu          sync.Mutex
	version     int64
	loaded      bool
	pollFailing bool
	// subs are the subscriptions last read, so that SetSettings can
	// rebuild their destinations without reading the store.
	subs []Subscription
}

// New builds the API. It panics when Store, Limiter or Metrics is nil, which
// is a wiring mistake rather than a runtime condition.
func New(opts Options) *API {
	if opts.Store == nil || opts.Limiter == nil || opts.Metrics == nil {
		panic("leadsquared.New: Store, Limiter and Metrics are required")
	}
	a := &API{
		store:    opts.Store,
		limiter:  opts.Limiter,
		metrics:  opts.Metrics,
		log:      opts.Log,
		onChange: opts.OnChange,
		limit:    opts.Limit,
		now:      opts.Now,
		guard:    opts.Guard,
	}
	if a.guard == nil {
		a.guard = adminkeys.New(adminkeys.Options{Log: opts.Log, Throttled: opts.Metrics.RateLimited.WithLabelValues(metrics.ScopeAPI)})
	}
	a.cur.Store(prepare(Settings{AccessKey: opts.AccessKey, SecretKey: opts.SecretKey,
		AllowPrivate: opts.AllowPrivate, Defaults: opts.Defaults}))
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.limit.Requests <= 0 || a.limit.Per <= 0 {
		a.limit = DefaultLimit
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a
}

// SetSettings replaces the keys, the private-address rule and the
// subscriptions' defaults, for a config reload: the next call is checked
// against the new keys. When the rule or the defaults changed, OnChange
// gets the subscriptions' destinations rebuilt with them (from the last
// read of the store, which is not read again).
func (a *API) SetSettings(s Settings) {
	next := prepare(s)
	a.mu.Lock()
	defer a.mu.Unlock()
	prev := a.cur.Swap(next)
	if !a.loaded || a.onChange == nil ||
		(prev.allowPrivate == next.allowPrivate && reflect.DeepEqual(prev.defaults, next.defaults)) {
		return
	}
	a.onChange(a.build(a.subs))
}

// Mount registers the API under /v2 on r: the four Webhook.svc calls, and a
// 404 in LeadSquared's error shape for any other path under /v2/. Every
// route, the 404 included, is rate limited per access key.
func (a *API) Mount(r fiber.Router) {
	g := r.Group("/v2", a.rateLimit)
	g.Post("/Webhook.svc/Create", a.authed(a.create))
	g.Get("/Webhook.svc/Retrieve", a.authed(a.retrieve))
	g.Post("/Webhook.svc/Update", a.authed(a.update))
	g.Post("/Webhook.svc/Delete", a.authed(a.remove))
	g.All("/*", func(c *fiber.Ctx) error {
		return a.fail(c, &httperr.Error{Code: fiber.StatusNotFound, Type: httperr.TypeInvalidAPI,
			Msg: "The API could not be found. Please check the API signature."})
	})
}

// success is LeadSquared's success envelope.
type success struct {
	Status  string `json:"Status"`
	Message any    `json:"Message"`
}

// idMessage is the Message of Create, Update and Delete.
type idMessage struct {
	ID           string `json:"Id"`
	AffectedRows int    `json:"AffectedRows,omitempty"`
}

func (a *API) create(c *fiber.Ctx) error {
	// The body as sent: c.Body() would unpack a compressed one whole.
	s, err := parseBody(c.Request().Body(), a.cur.Load().allowPrivate)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	s.ID = uuid.NewString()
	s.CreatedAt = a.now().UTC()
	s.UpdatedAt = s.CreatedAt
	// The store judges the cap in the same step as the write, so replicas
	// racing at it cannot pass it.
	if err := a.put(ctx, s); errors.Is(err, store.ErrFull) {
		return &httperr.Error{Code: fiber.StatusBadRequest, Type: httperr.TypeInvalidInput,
			Msg: fmt.Sprintf("The gateway already holds %d webhooks, its limit; delete one before creating another.", MaxSubscriptions)}
	} else if err != nil {
		return err
	}
	a.log.Info("leadsquared subscription created", "id", s.ID, "event", s.Event, "host", hostOf(s.URL))
	a.changed(ctx)
	return c.JSON(success{Status: "Success", Message: idMessage{ID: s.ID}})
}

func (a *API) update(c *fiber.Ctx) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	s, err := parseBody(c.Request().Body(), a.cur.Load().allowPrivate)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	old, err := a.get(ctx, id)
	if err != nil {
		return err
	}
	s.ID = old.ID
	s.CreatedAt = old.CreatedAt
	s.UpdatedAt = a.now().UTC()
	// Conditional: a Delete since the read above wins, rather than this
	// write bringing the subscription back.
	if err := a.replace(ctx, s); err != nil {
		return err
	}
	a.log.Info("leadsquared subscription updated", "id", s.ID, "event", s.Event, "host", hostOf(s.URL))
	a.changed(ctx)
	return c.JSON(success{Status: "Success", Message: idMessage{ID: s.ID, AffectedRows: 1}})
}

func (a *API) remove(c *fiber.Ctx) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if err := a.store.DeleteSubscription(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound(id)
		}
		return fmt.Errorf("delete subscription: %w", err)
	}
	a.log.Info("leadsquared subscription deleted", "id", id)
	a.changed(ctx)
	a.abandon(ctx, id)
	return c.JSON(success{Status: "Success", Message: idMessage{ID: id, AffectedRows: 1}})
}

// retrieve answers a JSON array of every subscription, oldest first, or of
// the one named by ?id=.
func (a *API) retrieve(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if id := strings.TrimSpace(c.Query("id")); id != "" {
		s, err := a.get(ctx, id)
		if err != nil {
			return err
		}
		return c.JSON([]Subscription{s})
	}
	subs, err := a.list(ctx)
	if err != nil {
		return err
	}
	return c.JSON(subs)
}

func idParam(c *fiber.Ctx) (string, error) {
	id := strings.TrimSpace(c.Query("id"))
	if id == "" {
		return "", missing("id")
	}
	return id, nil
}

func notFound(id string) error {
	return &httperr.Error{Code: fiber.StatusNotFound, Type: httperr.TypeDoesNotExist,
		Msg: fmt.Sprintf("No webhook with Id %q exists.", id)}
}

// hostOf is what the logs say about a subscription's URL: its query may hold
// the subscriber's own secrets.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
