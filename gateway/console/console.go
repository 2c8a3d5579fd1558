// Package console is Leadgate's operations console: pages served by the
// gateway itself under /ui/ that answer the two questions ops people ask
// most, "what would this payload become?" (the mapping playground, running
// the same code as `gateway map`) and "what happened to that lead?" (event
// search, delivery attempts, dead letters and their replay), plus a live
// overview and the LeadSquared-compatible subscriptions.
//
// The pages, styles and script are embedded in the binary: no CDN, no build
// step, and they work offline. Every console call needs a session cookie
// that the sign-in form sets after checking the admin keys once; the same
// calls are also mounted under /admin for scripts, behind the admin key
// headers like the rest of the admin API.
package console

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/prometheus/client_golang/prometheus"

	"leadgate/gateway/adminkeys"
	"leadgate/gateway/deliver"
	"leadgate/gateway/httperr"
	"leadgate/gateway/mapping"
	"leadgate/gateway/ratelimit"
)

//go:embed assets
var assetsFS embed.FS

// callTimeout bounds one console call's store work; fiber.Ctx is never
// cancelled, so handlers make their own deadline.
const callTimeout = 10 * time.Second

// Runtime is what the console needs of the gateway's current snapshot
// (Options.Runtime): main builds it from the server's runtime.
type Runtime struct {
	// Mappings are the sources the playground runs and the pages list.
	Mappings *mapping.Set
	// Destinations are those of gateway.yaml and the subscriptions.
	Destinations []deliver.Destination
	// AccessKey and SecretKey are the admin keys the sign-in checks; empty
	// disables the sign-in.
	AccessKey, SecretKey string
}

// Subscription is an API subscription as the console lists it.
type Subscription struct {
	// ID is the API's id; Destination is the delivery name its queue,
	// dead letters and metrics go by.
	ID, Destination string
	// Description, URL, Method, ContentType and Event are as the API
	// keeps them; the console redacts the URL before showing it.
	Description, URL, Method, ContentType, Event string
	// LandingPages are the pages it is limited to; none means every page.
	LandingPages []string
	// Headers are its custom headers' names; the values stay unseen.
	Headers         []string
	NotifyOnFailure bool
	CreatedAt       time.Time
}

// Subscriptions is what the console needs of the LeadSquared-compatible
// API; main adapts *leadsquared.API to it.
type Subscriptions interface {
	List(ctx context.Context) ([]Subscription, error)
	// Delete's error wraps store.ErrNotFound when there is no such
	// subscription.
	Delete(ctx context.Context, id string) error
}

// Options are New's arguments. Store and Runtime are required.
type Options struct {
	Log   *slog.Logger
	Store Store
	// Runtime returns the gateway's current snapshot (mappings,
	// destinations, admin keys), so a reload reaches the console at once.
	Runtime func() Runtime
	// Gatherer is the registry the gateway's metrics live on, sampled for
	// the overview's rates; nil leaves the rates at zero.
	Gatherer prometheus.Gatherer
	// Subscriptions lists and deletes API subscriptions; nil hides them.
	Subscriptions Subscriptions
	// Kick wakes the delivery workers after a replay; may be nil.
	Kick func()
	// SessionTTL is how long a sign-in lasts; zero means 12 hours.
	SessionTTL time.Duration
	// SampleEvery is the overview's sampling period; zero means 5 seconds.
	SampleEvery time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ClientIP is the client's address as the server judges it behind
	// trusted proxies (main passes the server's ClientIP), for the
	// sign-in logs; nil means the peer's address.
	ClientIP func(*fiber.Ctx) string
	// Guard checks the admin keys of the sign-in and the /admin twins and
	// slows down guessing them; pass the server's, so that every door
	// counts one address's failures together. Nil is one in process.
	Guard *adminkeys.Guard
	// Limiter keeps sign-outs (see Console.session): the gateway's, with
	// Redis shared by every replica. Nil is one in process.
	Limiter adminkeys.Limiter
}

// Console serves the /ui/ pages and their API. It is safe for concurrent
// use.
type Console struct {
	opts   Options
	log    *slog.Logger
	static fs.FS

	mu      sync.Mutex // guards samples and history
	samples []sample
	history history
}

// New builds the console. It panics when Store or Runtime is nil, which is
// a wiring mistake rather than a runtime condition.
func New(opts Options) *Console {
	if opts.Store == nil || opts.Runtime == nil {
		panic("console.New: Store and Runtime are required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ClientIP == nil {
		opts.ClientIP = func(c *fiber.Ctx) string { return c.Context().RemoteIP().String() }
	}
	if opts.Guard == nil {
		opts.Guard = adminkeys.New(adminkeys.Options{ClientIP: opts.ClientIP, Log: opts.Log})
	}
	if opts.Limiter == nil {
		opts.Limiter = ratelimit.NewLocal(ratelimit.LocalOptions{})
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.SampleEvery <= 0 {
		opts.SampleEvery = 5 * time.Second
	}
	static, err := fs.Sub(assetsFS, "assets/static")
	if err != nil {
		panic("console: embedded assets missing: " + err.Error())
	}
	return &Console{opts: opts, log: opts.Log, static: static}
}

// Mount registers the console on r: the pages under /ui, their API under
// /ui/api (session cookie and the X-Leadgate-Console header), and the
// script-friendly twins under /admin (X-Access-Key and X-Secret-Key).
func (c *Console) Mount(r fiber.Router) {
	ui := r.Group("/ui", c.headers)
	ui.Get("/", c.index)
	ui.Post("/login", c.login)
	ui.Use("/assets", filesystem.New(filesystem.Config{Root: http.FS(c.static), MaxAge: 300}))

	ui.Get("/export/leads.csv", c.requireSignIn, c.exportLeads)

	api := ui.Group("/api", c.requireSession)
	api.Post("/logout", c.logout)
	c.calls(api)
	api.Get("/events/:id", c.eventDetail)
	api.Get("/dead-letters", c.deadLetters)
	api.Post("/dead-letters/replay", c.replayAll)
	api.Post("/dead-letters/:id/replay", c.replayOne)
	api.Get("/subscriptions", c.subscriptions)
	api.Delete("/subscriptions/:id", c.deleteSubscription)
	api.Get("/meta", c.meta)
	api.Use(func(*fiber.Ctx) error { return &httperr.Error{Code: fiber.StatusNotFound, Msg: "not found"} })

	c.calls(r.Group("/admin", c.requireKeys))
}

// calls registers the calls that both the console and scripts use.
func (c *Console) calls(r fiber.Router) {
	r.Get("/events", c.searchEvents)
	r.Get("/overview", c.overview)
	r.Get("/overview/history", c.overviewHistory)
	r.Post("/preview", c.preview)
}

// headers keeps the console's pages and answers out of caches and frames,
// and allows only its own scripts and styles.
func (c *Console) headers(ctx *fiber.Ctx) error {
	ctx.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	ctx.Set("X-Content-Type-Options", "nosniff")
	ctx.Set("Referrer-Policy", "no-referrer")
	ctx.Set("X-Frame-Options", "DENY")
	if err := ctx.Next(); err != nil {
		return err
	}
	if ctx.Response().Header.Peek(fiber.HeaderCacheControl) == nil {
		ctx.Set(fiber.HeaderCacheControl, "no-store")
	}
	return nil
}

func (c *Console) runtime() Runtime { return c.opts.Runtime() }

func (c *Console) kick() {
	if c.opts.Kick != nil {
		c.opts.Kick()
	}
}

func callContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}
