// Package server is Leadgate's HTTP face: the inbound webhook routes, the
// admin API, health and metrics, behind one Fiber error handler. Handlers
// stay thin: parsing, mapping, limiting, storing and delivering live in
// their own packages.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"

	"leadgate/gateway/adminkeys"
	"leadgate/gateway/deliver"
	"leadgate/gateway/httperr"
	"leadgate/gateway/lead"
	"leadgate/gateway/mapping"
	"leadgate/gateway/metrics"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/requestid"
)

// Runtime is one immutable snapshot of everything a reload can change. The
// server reads it once per request, so a reload never tears a request.
type Runtime struct {
	Mappings *mapping.Set
	// Destinations are those of gateway.yaml and the subscriptions.
	Destinations []deliver.Destination
	// Inbound is the default inbound limit per source and client key.
	Inbound ratelimit.Limit
	// BodyLimit caps a body in bytes (the listener's own cap is fixed at
	// start-up, so raising it needs a restart).
	BodyLimit int
	// AccessKey and SecretKey guard the admin API; empty disables it.
	AccessKey, SecretKey string
}

// Options are the server's collaborators; main builds them.
type Options struct {
	Log     *slog.Logger
	Metrics *metrics.Metrics
	Store   Store
	Limiter ratelimit.Limiter
	// WriteLimiter, when set, has the store check the inbound limit inside
	// its Ingest write (store.IngestRequest.Limit): one round trip for the
	// check and the enqueue. main sets it only for a store that can (the
	// Redis store, with its limiter, when LimitsIngest says so); a store
	// that cannot refuses every request that asks. Nil checks the limit
	// with Limiter before the store is written.
	WriteLimiter WriteLimiter
	// Kick wakes the delivery workers after an ingest; may be nil.
	Kick func()
	// Responder makes the reverse-proxy send of a mapping's respond; nil
	// answers every payload with the gateway's own 200.
	Responder Responder
	// Route names the destinations that want an event; nil routes over
	// the runtime's Destinations.
	Route func(ev *lead.Event) []string
	// Ordered says which of Route's destinations want a lead's events in
	// order; it goes with Route (with Route nil, the runtime's
	// Destinations say; with Route set and Ordered nil, none is ordered).
	Ordered func(dest string) bool
	// MetricsHandler serves /metrics on the main listener; nil leaves the
	// route out (metrics then live on server.metrics_listen).
	MetricsHandler http.Handler
	// Mount adds more routes (the LeadSquared-compatible API); may be nil.
	Mount func(app fiber.Router)
	// BodyLimit is server.body_limit at start-up. The listener's own cap,
	// fixed for the process's life, is well above it (listenerLimit), so
	// the handler answers a body over the runtime's BodyLimit with every
	// header of the route; a body past even the listener's cap gets the
	// same answer from the error handler.
	BodyLimit int
	// TrustedProxies lists the addresses (IPs or CIDRs) of the load
	// balancers in front of the gateway. Only for a peer among them is the
	// client's address read from ProxyHeader; empty trusts no one.
	TrustedProxies []string
	// ProxyHeader carries the client's address through the proxies, such
	// as X-Forwarded-For; empty means X-Forwarded-For.
	ProxyHeader string
	// DedupeTTL is the duplicate-payload window; zero means 10 minutes.
	DedupeTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Guard checks the admin keys and slows down guessing them; nil is one
	// in process, over the client address as ClientIP sees it.
	Guard *adminkeys.Guard
	// Reset reports a Redis found emptied under the gateway, which fails
	// /readyz until acknowledged; nil for the embedded store.
	Reset ResetGuard
}

// Server serves the gateway's routes.
type Server struct {
	app     *fiber.App
	opts    Options
	log     *slog.Logger
	runtime atomic.Pointer[Runtime]
	// deadlines bound the inbound requests' waits.
	deadlines deadlines
	// metricsCache maps a source to its accept-path series; see
	// sourceMetrics. metricsMu serializes its writers.
	metricsCache atomic.Pointer[map[string]*sourceMetrics]
	metricsMu    sync.Mutex
	// proxies are the parsed TrustedProxies.
	proxies []netip.Prefix
	// guard is Options.Guard.
	guard *adminkeys.Guard
	// checker is Options.WriteLimiter: set when the store checks the
	// inbound limit in its own write; nil else.
	checker WriteLimiter
	// refusals are the limiter's recent refusals, for refusing a flood
	// before its body is read when checker decides only in the store.
	refusals refusals
	// probe caches the store's write probe; readiness logs its changes.
	probe     writeProbe
	readiness readinessLog
}

// listenerLimit is the listener's body cap for a body_limit of n: room for
// the limit to be raised by a reload, while a body that is plainly too
// large is still refused before it is read whole.
func listenerLimit(n int) int {
	return 2*n + 64<<10
}

// New builds the server with its first runtime snapshot.
func New(opts Options, rt *Runtime) *Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DedupeTTL == 0 {
		opts.DedupeTTL = 10 * time.Minute
	}
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = rt.BodyLimit
	}
	if opts.ProxyHeader == "" {
		opts.ProxyHeader = fiber.HeaderXForwardedFor
	}
	s := &Server{opts: opts, log: opts.Log}
	s.refusals.now = time.Now
	s.checker = opts.WriteLimiter
	s.runtime.Store(rt)
	cfg := fiber.Config{
		AppName:               "leadgate",
		BodyLimit:             listenerLimit(max(opts.BodyLimit, rt.BodyLimit)),
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           120 * time.Second,
		// fasthttp otherwise parses a multipart body while reading it and
		// then hands out a body written again from the parsed form, with
		// its parts in random (map) order: the duplicate rule and a
		// source's HMAC must see the bytes as sent, and ParseBody parses
		// those itself (within body_limit, file parts skipped).
		DisablePreParseMultipartForm: true,
	}
	for _, p := range opts.TrustedProxies {
		prefix, err := ParseProxy(p)
		if err != nil {
			opts.Log.Warn("trusted proxy ignored", "proxy", p, "error", err.Error())
			continue
		}
		s.proxies = append(s.proxies, prefix)
	}
	if len(s.proxies) > 0 {
		// Fiber's c.IP() then answers the header's address for trusted
		// peers only; the inbound route reads it with clientIP, which
		// also skips the proxies' own entries.
		cfg.EnableTrustedProxyCheck = true
		cfg.TrustedProxies = opts.TrustedProxies
		cfg.ProxyHeader = opts.ProxyHeader
		cfg.EnableIPValidation = true
	}
	s.guard = opts.Guard
	if s.guard == nil {
		var throttled prometheus.Counter
		if opts.Metrics != nil {
			throttled = opts.Metrics.RateLimited.WithLabelValues(metrics.ScopeAPI)
		}
		s.guard = adminkeys.New(adminkeys.Options{ClientIP: s.clientIP, Log: opts.Log, Throttled: throttled})
	}
	s.app = fiber.New(cfg)
	s.routes()
	return s
}

// App is the Fiber app, for app.Test in tests and Listen in main.
func (s *Server) App() *fiber.App { return s.app }

// Swap installs a new runtime snapshot (a reload).
func (s *Server) Swap(rt *Runtime) {
	s.runtime.Store(rt)
	s.metricsCache.Store(nil) // a source the reload removed leaves the cache
}

// Runtime returns the snapshot in use.
func (s *Server) Runtime() *Runtime { return s.runtime.Load() }

// Listen serves on addr until Shutdown.
func (s *Server) Listen(addr string) error { return s.app.Listen(addr) }

// Shutdown stops taking requests and waits for those in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		return s.app.Shutdown()
	}
	return s.app.ShutdownWithTimeout(time.Until(deadline))
}

func (s *Server) routes() {
	app := s.app
	app.Use(requestid.Middleware)
	app.Use(recoverPanic)
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", s.ready)
	if s.opts.MetricsHandler != nil {
		app.Get("/metrics", adaptor.HTTPHandler(s.opts.MetricsHandler))
	}
	app.Post("/hooks/:source", s.inbound)
	app.Post("/api/webhook/website/webhook", s.inbound)

	admin := app.Group("/admin", s.adminAuth)
	admin.Get("/events/:id", s.adminEvent)
	admin.Get("/dead-letters", s.adminDeadLetters)
	admin.Post("/dead-letters/replay", s.adminReplayAll)
	admin.Post("/dead-letters/:id/replay", s.adminReplay)
	admin.Get("/leads.csv", s.adminLeadsCSV)
	admin.Get("/readyz", s.adminReady)
	admin.Post("/store/acknowledge-reset", s.acknowledgeReset)

	if s.opts.Mount != nil {
		s.opts.Mount(app)
	}
	app.Use(func(c *fiber.Ctx) error {
		return &httperr.Error{Code: fiber.StatusNotFound, Msg: "not found", Details: []any{c.Method() + " " + c.Path()}}
	})
}
