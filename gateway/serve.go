package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"leadgate/config"
	"leadgate/gateway/adminkeys"
	"leadgate/gateway/console"
	"leadgate/gateway/deliver"
	"leadgate/gateway/leadsquared"
	"leadgate/gateway/metrics"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/server"
	"leadgate/gateway/store"
)

// serve runs the gateway until SIGINT or SIGTERM.
func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig(), "config file")
	logFormat := fs.String("log-format", "", "json or text (default: log.format of the config, else json)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if f := *logFormat; f != "" && f != "json" && f != "text" {
		fmt.Fprintf(stderr, "-log-format must be json or text, got %q\n", f)
		return 2
	}
	l, err := load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	format := l.cfg.Log.Format
	if *logFormat != "" {
		format = *logFormat
	}
	log := newLogger(stderr, format, l.cfg.Log.SlogLevel())
	if os.Getenv("GOGC") == "" {
		// The gateway's live heap is small (tens of MB) and churns per
		// request; collecting four times less often bought 25-40% more leads
		// per second end to end in scripts/bench.sh. GOGC still overrides.
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// GOGC=400 lets the heap reach five times what is live; near
		// this soft limit the collector runs more often instead, so the
		// gateway stays under the 150 MB of scripts/bench.sh with room
		// for the store's mapped file. A store whose live heap nears it
		// (millions of leads in the embedded index) should raise it:
		// past it the collector takes up to half the CPU. GOMEMLIMIT
		// overrides.
		debug.SetMemoryLimit(100 << 20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := (&gateway{path: *path, log: log}).run(ctx, l); err != nil {
		log.Error("gateway stopped", "error", err.Error())
		return 1
	}
	return 0
}

func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// gateway is the running process: what reloads swap and what shutdown stops.
type gateway struct {
	path    string
	log     *slog.Logger
	metrics *metrics.Metrics
	srv     *server.Server
	disp    *deliver.Dispatcher
	lsq     *leadsquared.API

	mu      sync.Mutex // guards current and subs
	current *loaded
	subs    []deliver.Destination
}

// run wires the process from l and serves until ctx ends: backend,
// dispatcher, the admin doors, the server, the background loops; then it
// shuts everything down within one grace.
func (g *gateway) run(ctx context.Context, l *loaded) error {
	cfg := l.cfg
	reg := prometheus.NewRegistry()
	g.metrics = metrics.New(reg)
	version, _ := metrics.Build()
	g.current = l

	be, err := openBackend(ctx, cfg, g.log)
	if err != nil {
		return err
	}
	defer be.close()
	st, limiter := be.store, be.limiter
	reset := g.guardReset(ctx, be.epoch)
	g.disp = g.newDispatcher(cfg, st, limiter, version)
	d := g.openDoors(ctx, cfg, st, limiter, reg)
	g.srv = server.New(g.serverOptions(ctx, cfg, be, reset, reg, d), l.runtime(d.subs))
	g.apply(l, d.subs)
	g.warnUnauthenticated(l)

	deliveries, stopDeliveries := context.WithCancel(context.Background())
	defer stopDeliveries()
	go g.disp.Run(deliveries)
	g.startLoops(ctx, st, d)
	listenErr := g.listen(l, version, d.subs)
	select {
	case err := <-listenErr:
		return fmt.Errorf("listen %s: %w", cfg.Server.Listen, err)
	case <-ctx.Done():
	}
	g.shutdown(cfg.Server.ShutdownGrace)
	stopDeliveries()
	return nil
}

// guardReset starts the guard that notices a Redis that lost its data,
// and answers it for the server; nil on the embedded store.
func (g *gateway) guardReset(ctx context.Context, es epochStore) server.ResetGuard {
	var reset server.ResetGuard
	if es != nil {
		rg := newRedisGuard(es, g.log, g.metrics.Store)
		go rg.run(ctx)
		reset = rg
	}
	return reset
}

// newDispatcher builds the delivery dispatcher.
func (g *gateway) newDispatcher(cfg *config.Config, st store.Store, limiter ratelimit.Limiter, version string) *deliver.Dispatcher {
	// server.allow_private_destinations is not passed here: every
	// destination carries it (load's destinations, the subscriptions'
	// settings), so that a reload changes it.
	return deliver.New(deliver.Options{
		Store:     st,
		Limiter:   limiter,
		Metrics:   g.metrics,
		Log:       g.log,
		Version:   version,
		NotifyURL: cfg.NotifyURL,
		Grace:     cfg.Server.ShutdownGrace,
	})
}

// doors are the admin surfaces besides the admin API, the guard they share
// over the admin keys, and the subscriptions loaded at start.
type doors struct {
	guard *adminkeys.Guard
	lsq   *leadsquared.API
	con   *console.Console
	subs  []deliver.Destination
}

// openDoors builds the LeadSquared API and the console, loads the
// subscriptions (into g.subs too) and sets g.lsq.
func (g *gateway) openDoors(ctx context.Context, cfg *config.Config, st store.Store, limiter ratelimit.Limiter, reg *prometheus.Registry) doors {
	// One guard over the admin keys for the admin API, the console and the
	// LeadSquared API, so an address's wrong keys count together whatever
	// the door; its failures live in the gateway's limiter (with Redis,
	// shared by every replica).
	keysLimiter, _ := limiter.(adminkeys.Limiter) // both backends are
	guard := adminkeys.New(adminkeys.Options{Limiter: keysLimiter, Log: g.log,
		ClientIP:  func(c *fiber.Ctx) string { return g.srv.ClientIP(c) },
		Throttled: g.metrics.RateLimited.WithLabelValues(metrics.ScopeAPI)})
	set := subscriptionSettings(cfg)
	lsq := leadsquared.New(leadsquared.Options{
		Store:        st,
		Limiter:      limiter,
		Metrics:      g.metrics,
		Log:          g.log,
		AccessKey:    set.AccessKey,
		SecretKey:    set.SecretKey,
		AllowPrivate: set.AllowPrivate,
		Defaults:     set.Defaults,
		OnChange:     g.setSubscriptions,
		Guard:        guard,
	})
	g.lsq = lsq
	subs, err := lsq.Destinations(ctx)
	if err != nil {
		// The watcher below loads them as soon as the store answers.
		g.log.Warn("subscriptions not loaded yet", "error", err.Error())
	}
	g.subs = subs

	con := console.New(console.Options{Log: g.log, Store: st, Gatherer: reg, Subscriptions: consoleSubscriptions{lsq}, Kick: g.disp.Kick,
		Runtime: func() console.Runtime { return consoleRuntime(g.srv.Runtime()) }, ClientIP: func(c *fiber.Ctx) string { return g.srv.ClientIP(c) },
		Guard: guard, Limiter: keysLimiter})
	return doors{guard: guard, lsq: lsq, con: con, subs: subs}
}

// serverOptions are the inbound server's; when metrics have a listener of
// their own, it starts serving them there.
func (g *gateway) serverOptions(ctx context.Context, cfg *config.Config, be *backend,
	reset server.ResetGuard, reg *prometheus.Registry, d doors) server.Options {
	var metricsHandler http.Handler = metrics.Handler(reg)
	if cfg.Server.MetricsListen != "" {
		go g.serveMetrics(ctx, cfg.Server.MetricsListen, metricsHandler)
		metricsHandler = nil
	}
	return server.Options{
		Log:            g.log,
		Metrics:        g.metrics,
		Store:          be.store,
		Limiter:        be.limiter,
		WriteLimiter:   be.writeLimiter,
		Kick:           g.disp.Kick,
		Route:          g.disp.Route,
		Ordered:        g.disp.Ordered,
		Responder:      g.disp,
		MetricsHandler: metricsHandler,
		Mount:          func(r fiber.Router) { d.lsq.Mount(r); d.con.Mount(r) },
		BodyLimit:      int(cfg.Server.BodyLimit),
		TrustedProxies: cfg.Server.TrustedProxies,
		ProxyHeader:    cfg.Server.ProxyHeader,
		Guard:          d.guard,
		Reset:          reset,
	}
}

// startLoops starts the watchers, reporters and sweepers that run until
// ctx ends.
func (g *gateway) startLoops(ctx context.Context, st store.Store, d doors) {
	go d.lsq.Watch(ctx, time.Second)
	go d.con.Run(ctx)
	go g.watch(ctx)
	go g.reportDepth(ctx, st)
	go g.reportSize(ctx, st)
	go g.sweepLoop(ctx, st)
	go g.srv.WatchReady(ctx, 5*time.Second)
}

// listen starts the server on its listener, logs that it did, and answers
// where the listener's end is sent.
func (g *gateway) listen(l *loaded, version string, subs []deliver.Destination) <-chan error {
	cfg := l.cfg
	listenErr := make(chan error, 1)
	go func() { listenErr <- g.srv.Listen(cfg.Server.Listen) }()
	g.log.Info("gateway listening", "listen", cfg.Server.Listen, "version", version,
		"store", backendName(cfg), "mappings", l.mappings.Names(), "destinations", len(l.destinations)+len(subs))
	return listenErr
}

// shutdown stops the server and the dispatcher within one grace.
func (g *gateway) shutdown(grace time.Duration) {
	g.log.Info("shutting down", "grace", grace.String())
	// One grace for everything, side by side: requests in progress finish
	// while deliveries and dead-letter notices do.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	dispStopped := make(chan struct{})
	go func() { g.disp.Shutdown(grace); close(dispStopped) }()
	if err := g.srv.Shutdown(shutdownCtx); err != nil {
		g.log.Warn("http shutdown", "error", err.Error())
	}
	<-dispStopped
}

func backendName(cfg *config.Config) string {
	if cfg.Redis.URL != "" {
		return "redis"
	}
	return "embedded"
}

// setSubscriptions is called when the subscriptions change on any replica.
func (g *gateway) setSubscriptions(subs []deliver.Destination) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.subs = subs
	g.applyLocked()
}

func (g *gateway) apply(l *loaded, subs []deliver.Destination) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.current, g.subs = l, subs
	g.applyLocked()
}

func (g *gateway) applyLocked() {
	rt := g.current.runtime(g.subs)
	g.srv.Swap(rt)
	g.disp.SetDestinations(rt.Destinations)
	names := make([]string, 0, len(rt.Destinations))
	for _, d := range rt.Destinations {
		names = append(names, d.Name)
	}
	g.metrics.Precreate(g.current.mappings.Names(), names)
}

func (g *gateway) warnUnauthenticated(l *loaded) {
	for _, name := range l.mappings.Names() {
		if m, _ := l.mappings.Get(name); !m.HasAuth() {
			g.log.Warn("source accepts unauthenticated webhooks; set auth in its mapping", "source", name)
		}
	}
}

func (g *gateway) serveMetrics(ctx context.Context, addr string, h http.Handler) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	hs := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	if err := hs.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		g.log.Error("metrics listener stopped", "listen", addr, "error", err.Error())
	}
}

// depthReader is what the queue-depth metric needs of the store.
type depthReader interface {
	Depth(ctx context.Context) (map[string]int64, error)
}

// reportDepth refreshes gateway_queue_depth.
func (g *gateway) reportDepth(ctx context.Context, st depthReader) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		depth, err := st.Depth(qctx)
		cancel()
		if err == nil {
			g.metrics.SetQueueDepth(depth)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
