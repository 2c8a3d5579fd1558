// Package server is Leadgate's HTTP face: the inbound webhook routes, the
// admin API, health and metrics, behind one Fiber error handler. Handlers
// stay thin: parsing, mapping, limiting, storing and delivering live in
// their own packages.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"leadgate/gateway/deliver"
	"leadgate/gateway/lead"
	"leadgate/gateway/mapping"
	"leadgate/gateway/metrics"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/store"
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
	Store   store.Store
	Limiter ratelimit.Limiter
	// Kick wakes the delivery workers after an ingest; may be nil.
	Kick func()
	// Route names the destinations that want an event; nil routes over
	// the runtime's Destinations.
	Route func(ev *lead.Event) []string
	// MetricsHandler serves /metrics on the main listener; nil leaves the
	// route out (metrics then live on server.metrics_listen).
	MetricsHandler http.Handler
	// Mount adds more routes (the LeadSquared-compatible API); may be nil.
	Mount func(app fiber.Router)
	// BodyLimit is the listener's cap, fixed for the process's life.
	BodyLimit int
	// DedupeTTL is the duplicate-payload window; zero means 10 minutes.
	DedupeTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
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
	s := &Server{opts: opts, log: opts.Log}
	s.runtime.Store(rt)
	s.app = fiber.New(fiber.Config{
		AppName:               "leadgate",
		BodyLimit:             opts.BodyLimit,
		DisableStartupMessage: true,
		ErrorHandler:          errorHandler(opts.Log),
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           120 * time.Second,
	})
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
	app.Use(withRequestID)
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

	if s.opts.Mount != nil {
		s.opts.Mount(app)
	}
	app.Use(func(c *fiber.Ctx) error {
		return &HTTPError{Code: fiber.StatusNotFound, Msg: "not found", Details: []any{c.Method() + " " + c.Path()}}
	})
}

// ready answers /readyz: the store (and Redis) reachable and mappings loaded.
func (s *Server) ready(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var problems []any
	if err := s.opts.Store.Ping(ctx); err != nil {
		problems = append(problems, "store: "+err.Error())
	}
	rt := s.Runtime()
	if rt.Mappings == nil || len(rt.Mappings.Names()) == 0 {
		problems = append(problems, "mappings: none loaded")
	}
	if len(problems) > 0 {
		return &HTTPError{Code: fiber.StatusServiceUnavailable, Msg: "not ready", Details: problems, RetryAfter: 1}
	}
	return c.JSON(fiber.Map{"status": "ready"})
}
