package deliver

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"leadgate/gateway/lead"
	"leadgate/gateway/metrics"
	"leadgate/gateway/policy"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/store"
)

// The dispatcher is built from stages, as asynq's processor and
// Alertmanager's pipeline are: per destination a worker (worker.go) that
// leases, paces (pace.go) and sends; a pure decide (outcome.go) that turns
// an attempt into delivered, retrying or dead and the effects that asks
// for; a settler (settle.go) that group-commits outcomes to the store; the
// Notifier (notifier.go) that tells of dead letters; and the 410 marks
// (gone.go). This file wires them and runs their lifecycle.

// Options wires a Dispatcher. Store is required; the rest have defaults.
type Options struct {
	Store Queue
	// Limiter paces destinations with a RateLimit, under key
	// "out:<destination>", shared by every replica when it is Redis; nil
	// paces in process.
	Limiter ratelimit.Limiter
	// Metrics records deliveries; nil records to a private registry.
	Metrics *metrics.Metrics
	Log     *slog.Logger
	// Now is the clock for due times, retry schedules, timestamps and lag;
	// tests inject one so a retry of five minutes takes no time.
	Now func() time.Time
	// Version goes into User-Agent.
	Version string
	// NotifyURL is told of dead letters of destinations that have no
	// NotifyOnFailure of their own.
	NotifyURL string
	// AllowPrivate lifts the SSRF guard for every destination.
	AllowPrivate bool
	// Resolver resolves destination hosts; nil is net.DefaultResolver.
	Resolver Resolver
	// Sender replaces the HTTP sender (tests).
	Sender Sender
	// MaxConcurrency caps any one destination's Concurrency; default
	// MaxConcurrency. There is no pool shared between destinations: each
	// has its own slots, so slow, hung or paced destinations hold only
	// their own and can never delay a healthy one.
	MaxConcurrency int
	// Grace is how long Run's own stop (on ctx cancel) lets in-flight
	// deliveries and dead-letter notices finish; default 10s.
	Grace time.Duration
	// PollMin and PollMax bound the idle poll of a destination's queue,
	// which doubles while nothing is due; Kick cuts it short. Defaults
	// 20ms and 1s.
	PollMin, PollMax time.Duration
	// Jitter spreads a scheduled wait; given the wait it returns the one to
	// use. Default: uniformly within ±20%.
	Jitter func(time.Duration) time.Duration
}

// maxBatch caps one Lease so a deep queue is drained in steady bites.
const maxBatch = 64

// MaxConcurrency is the default cap on one destination's Concurrency.
const MaxConcurrency = policy.MaxConcurrency

// defaultPollMax is the longest idle poll of a destination's queue.
const defaultPollMax = time.Second

// Lease bounds. A replica that dies holding a lease has its work picked up
// by another once the lease runs out (plus at most one idle poll, PollMax),
// so MaxLease plus PollMax stays under the contract's 30 s. An attempt gets
// at most MaxAttemptTime (config rejects longer timeouts) and must end
// settleMargin before its lease does, so the outcome is stored before
// anyone else can lease the delivery again.
const (
	MaxLease       = 27 * time.Second
	settleMargin   = 4 * time.Second
	MaxAttemptTime = policy.MaxAttemptTime
)

// Queue is what the dispatcher needs of the store (Options.Store): the
// delivery queue and the 410 marks.
type Queue interface {
	Lease(ctx context.Context, dest string, now time.Time, max int, lease time.Duration) ([]store.Delivery, error)
	// Settle is the settler's (outcomeStore).
	Settle(ctx context.Context, outs []store.Outcome) error
	Pending(ctx context.Context) ([]string, error)
	SetDisabled(ctx context.Context, dest, fp string) error
	Disabled(ctx context.Context) (map[string]string, error)
}

var _ Queue = store.Store(nil)

// clock is the dispatcher's one source of time, its two readings named
// apart. stamp (Options.Now) is what the store keeps and compares: due
// times, lease starts, attempt times, retry times, lag; tests set it.
// now is the monotonic wall clock for what waits or measures in this
// process: a lease's end, a Retry-After hold, pacing, an attempt's
// duration and the shutdown grace. They are not interchangeable: a test's
// stamp clock stands still, and a wait must not stretch with it.
type clock struct {
	stamp func() time.Time
}

func (clock) now() time.Time { return time.Now() }

// Dispatcher drains the store's delivery queue: one worker per destination
// leasing due deliveries, up to its Concurrency in flight, paced by its
// RateLimit, retried on its Schedule, dead-lettered with a notice.
type Dispatcher struct {
	opts   Options
	store  Queue
	sender Sender
	notify *Notifier
	settle *settler
	clock  clock
	m      *metrics.Metrics
	log    *slog.Logger

	mu      sync.Mutex
	workers map[string]*worker
	// route is the current routing view, read lock-free by Route.
	route atomic.Pointer[[]Destination]
	// notifyURL is Options.NotifyURL until SetNotifyURL replaces it.
	notifyURL atomic.Pointer[string]

	running  bool
	stopping bool
	// stop ends when Shutdown begins: the workers stop leasing and the
	// 410 sync ends.
	stop context.Context
	halt context.CancelFunc
	// abandon ends at the shutdown grace's deadline: sends still going,
	// settles and their retries give up, and the leases take what is left.
	abandon context.Context
	giveUp  context.CancelFunc
	// work counts the workers' loops and the attempts in flight (theirs
	// and Respond's), which Shutdown waits for.
	work     sync.WaitGroup
	stopOnce sync.Once
	stopped  chan struct{}
}

// New builds a Dispatcher; call SetDestinations and Run.
func New(opts Options) *Dispatcher {
	opts = withDefaults(opts)
	hs := &HTTPSender{Version: opts.Version, Resolver: opts.Resolver, AllowPrivate: opts.AllowPrivate, Now: opts.Now}
	sender := opts.Sender
	if sender == nil {
		sender = hs
	}
	dp := &Dispatcher{
		opts: opts, store: opts.Store, sender: sender, clock: clock{stamp: opts.Now},
		// A 410 dead-letters a destination's whole backlog in a few
		// batches: its notices go through the Notifier's bounded queue
		// and pool rather than a goroutine and a connection each.
		notify: NewNotifier(NotifierOptions{Resolver: opts.Resolver, AllowPrivate: opts.AllowPrivate,
			Version: opts.Version, Now: opts.Now, Log: opts.Log, Dropped: opts.Metrics.NoticesDropped}),
		m: opts.Metrics, log: opts.Log,
		workers: map[string]*worker{},
		stopped: make(chan struct{}),
	}
	dp.stop, dp.halt = context.WithCancel(context.Background())
	dp.abandon, dp.giveUp = context.WithCancel(context.Background())
	dp.settle = newSettler(dp.abandon, opts.Store, opts.Log, dp.noticeFor)
	empty := []Destination{}
	dp.route.Store(&empty)
	notifyURL := opts.NotifyURL
	dp.notifyURL.Store(&notifyURL)
	return dp
}

func withDefaults(opts Options) Options {
	if opts.Metrics == nil {
		opts.Metrics = metrics.New(prometheus.NewRegistry())
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxConcurrency <= 0 {
		opts.MaxConcurrency = MaxConcurrency
	}
	if opts.Grace <= 0 {
		opts.Grace = 10 * time.Second
	}
	if opts.PollMin <= 0 {
		opts.PollMin = 20 * time.Millisecond
	}
	if opts.PollMax <= 0 {
		opts.PollMax = defaultPollMax
	}
	if opts.Jitter == nil {
		opts.Jitter = func(d time.Duration) time.Duration {
			return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
		}
	}
	if opts.Limiter == nil {
		opts.Limiter = ratelimit.NewLocal(ratelimit.LocalOptions{})
	}
	return opts
}

// SetNotifyURL replaces Options.NotifyURL, for a config reload: notices of
// dead letters settled from now on go to url ("": nobody).
func (dp *Dispatcher) SetNotifyURL(url string) {
	dp.notifyURL.Store(&url)
}

// Route names the current destinations that want ev; pass it as
// store.IngestRequest.Route. A destination disabled by config gets
// nothing; one disabled by a 410 gets its events dead-lettered.
func (dp *Dispatcher) Route(ev *lead.Event) []string {
	return Route(*dp.route.Load(), ev)
}

// Ordered says whether the current destination named name wants a lead's
// events in order; pass it as store.IngestRequest.Ordered, with Route.
func (dp *Dispatcher) Ordered(name string) bool {
	return Ordered(*dp.route.Load(), name)
}

// Kick wakes every destination's loop, so an event just ingested goes out
// without waiting for the idle poll.
func (dp *Dispatcher) Kick() {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	for _, w := range dp.workers {
		w.poke()
	}
}

// Run delivers until ctx is done, then stops as Shutdown does with
// Options.Grace. It returns once everything has stopped.
func (dp *Dispatcher) Run(ctx context.Context) error {
	if err := dp.begin(); err != nil {
		return err
	}
	go dp.reportOrphans()
	go dp.syncDisabled(dp.stop, disabledSync)
	select {
	case <-ctx.Done():
		dp.Shutdown(dp.opts.Grace)
	case <-dp.stopped:
	}
	return nil
}

// begin starts the notifier, the settler and every worker, once.
func (dp *Dispatcher) begin() error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if dp.running || dp.stopping {
		return errors.New("run dispatcher: already running or stopped")
	}
	dp.running = true
	dp.notify.Start()
	go dp.settle.run()
	for _, w := range dp.workers {
		dp.startLocked(w)
	}
	return nil
}

func (dp *Dispatcher) startLocked(w *worker) {
	ctx, cancel := context.WithCancel(dp.stop)
	w.cancel = cancel
	dp.work.Add(1)
	go func() {
		defer dp.work.Done()
		dp.loop(ctx, w)
	}()
}

// Shutdown stops leasing, lets in-flight deliveries and dead-letter notices
// finish for up to grace in all, then abandons the rest: their leases
// expire and they are due again (with the same webhook-id) after a restart;
// a notice cut off is logged with its dead letter's id. Outcomes reached
// are settled before it returns. Safe to call more than once and from any
// goroutine.
func (dp *Dispatcher) Shutdown(grace time.Duration) {
	dp.stopOnce.Do(func() {
		dp.shutdown(grace)
		close(dp.stopped)
	})
	<-dp.stopped
}

// shutdown is Shutdown's one run. Its grace has one deadline, for the
// attempts in flight, the settles and the notices alike.
func (dp *Dispatcher) shutdown(grace time.Duration) {
	deadline := dp.clock.now().Add(grace)
	// At the deadline everything still waiting gives up at once: sends,
	// settling and notices. Without it a store that hangs in Settle would
	// hold shutdown for its retries' timeouts, batch after batch.
	overdue := time.AfterFunc(grace, dp.giveUp)
	defer overdue.Stop()
	dp.mu.Lock()
	dp.stopping = true
	wasRunning := dp.running
	dp.mu.Unlock()
	dp.halt()
	if wasRunning {
		if !drained(&dp.work, deadline.Sub(dp.clock.now())) {
			dp.log.Warn("shutdown grace over, leaving in-flight deliveries to their leases",
				"grace", grace.String())
			dp.giveUp()
			dp.work.Wait()
		}
		// Nothing sends outcomes any more: the settler drains and ends.
		dp.settle.close()
	}
	dp.notify.Stop(deadline)
	dp.giveUp()
}

// drained waits for wg up to d and says whether it finished.
func drained(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// reportOrphans warns about destinations with queued deliveries that no
// longer exist: they stay stored and go out if the destination returns.
func (dp *Dispatcher) reportOrphans() {
	ctx, cancel := context.WithTimeout(dp.stop, 10*time.Second)
	defer cancel()
	names, err := dp.store.Pending(ctx)
	if err != nil {
		if ctx.Err() == nil {
			dp.log.Warn("list pending destinations", "error", err.Error())
		}
		return
	}
	dp.mu.Lock()
	defer dp.mu.Unlock()
	for _, n := range names {
		if _, ok := dp.workers[n]; !ok {
			dp.log.Warn("deliveries queued for a destination that is not configured; they wait for it", "destination", n)
		}
	}
}
