package deliver

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"leadgate/gateway/lead"
	"leadgate/gateway/metrics"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/store"
)

// Options wires a Dispatcher. Store is required; the rest have defaults.
type Options struct {
	Store store.Store
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
	// MaxInFlight bounds deliveries in flight across all destinations;
	// default 256.
	MaxInFlight int
	// Grace is how long Run's own stop (on ctx cancel) lets in-flight
	// deliveries finish; default 10s.
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

// Dispatcher drains the store's delivery queue: one loop per destination
// leasing due deliveries, up to its Concurrency in flight, paced by its
// RateLimit, retried on its Schedule, dead-lettered with a notice.
type Dispatcher struct {
	opts   Options
	store  store.Store
	sender Sender
	http   *HTTPSender // the default sender, for notices
	m      *metrics.Metrics
	log    *slog.Logger
	global chan struct{}

	mu      sync.Mutex
	workers map[string]*worker
	// route is the current routing view, read lock-free by Route.
	route atomic.Pointer[[]Destination]

	running  bool
	stopping bool
	loopCtx  context.Context // cancelled to stop leasing
	stopLoop context.CancelFunc
	sendCtx  context.Context // cancelled when the grace runs out
	stopSend context.CancelFunc
	loops    sync.WaitGroup
	inflight sync.WaitGroup
	notices  sync.WaitGroup
	outcomes chan settled
	settleWG sync.WaitGroup
	stopOnce sync.Once
	stopped  chan struct{}
}

// worker is one destination's loop.
type worker struct {
	name     string
	dest     atomic.Pointer[Destination]
	disabled atomic.Bool // a 410, until the config changes
	inflight atomic.Int64
	wake     chan struct{}
	cancel   context.CancelFunc
}

func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// settled is an outcome on its way to the store, with what the dead-letter
// notice needs.
type settled struct {
	out  store.Outcome
	dest *Destination
}

// New builds a Dispatcher; call SetDestinations and Run.
func New(opts Options) *Dispatcher {
	if opts.Metrics == nil {
		opts.Metrics = metrics.New(prometheus.NewRegistry())
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 256
	}
	if opts.Grace <= 0 {
		opts.Grace = 10 * time.Second
	}
	if opts.PollMin <= 0 {
		opts.PollMin = 20 * time.Millisecond
	}
	if opts.PollMax <= 0 {
		opts.PollMax = time.Second
	}
	if opts.Jitter == nil {
		opts.Jitter = func(d time.Duration) time.Duration {
			return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
		}
	}
	if opts.Limiter == nil {
		opts.Limiter = ratelimit.NewLocal(ratelimit.LocalOptions{})
	}
	hs := &HTTPSender{Version: opts.Version, Resolver: opts.Resolver, AllowPrivate: opts.AllowPrivate, Now: opts.Now}
	sender := opts.Sender
	if sender == nil {
		sender = hs
	}
	dp := &Dispatcher{
		opts: opts, store: opts.Store, sender: sender, http: hs,
		m: opts.Metrics, log: opts.Log,
		global:   make(chan struct{}, opts.MaxInFlight),
		workers:  map[string]*worker{},
		outcomes: make(chan settled, opts.MaxInFlight),
		stopped:  make(chan struct{}),
	}
	dp.loopCtx, dp.stopLoop = context.WithCancel(context.Background())
	dp.sendCtx, dp.stopSend = context.WithCancel(context.Background())
	empty := []Destination{}
	dp.route.Store(&empty)
	return dp
}

// SetDestinations swaps the destination set atomically (config reloads and
// subscription changes both come through here). A destination whose config
// changed is re-enabled if a 410 had disabled it; one that left the set
// stops leasing, and its in-flight deliveries finish.
func (dp *Dispatcher) SetDestinations(ds []Destination) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	keep := make(map[string]bool, len(ds))
	for i := range ds {
		d := ds[i]
		if keep[d.Name] {
			dp.log.Warn("duplicate destination name, keeping the first", "destination", d.Name)
			continue
		}
		keep[d.Name] = true
		w, ok := dp.workers[d.Name]
		if !ok {
			w = &worker{name: d.Name, wake: make(chan struct{}, 1)}
			w.dest.Store(&d)
			dp.workers[d.Name] = w
			for _, o := range []string{"success", "retry", "dead"} {
				dp.m.Deliveries.WithLabelValues(d.Name, o)
			}
			dp.m.DeliveryDuration.WithLabelValues(d.Name)
			if dp.running && !dp.stopping {
				dp.startLocked(w)
			}
		} else if !reflect.DeepEqual(*w.dest.Load(), d) {
			w.dest.Store(&d)
			if w.disabled.Swap(false) {
				dp.log.Info("destination re-enabled by a config change", "destination", d.Name)
			}
			w.poke()
		}
		dp.gaugeLocked(w)
	}
	for name, w := range dp.workers {
		if keep[name] {
			continue
		}
		if w.cancel != nil {
			w.cancel()
		}
		delete(dp.workers, name)
		dp.m.DestinationEnabled.DeleteLabelValues(name)
	}
	if hs, ok := dp.sender.(*HTTPSender); ok {
		hs.Forget(keep)
	}
	dp.publishRouteLocked()
}

// publishRouteLocked stores the routing view: configured destinations minus
// those a 410 disabled.
func (dp *Dispatcher) publishRouteLocked() {
	view := make([]Destination, 0, len(dp.workers))
	for _, w := range dp.workers {
		d := *w.dest.Load()
		if w.disabled.Load() {
			d.Enabled = false
		}
		view = append(view, d)
	}
	// Map order is random; a stable order keeps Route's answer stable.
	slicesSortByName(view)
	dp.route.Store(&view)
}

func (dp *Dispatcher) gaugeLocked(w *worker) {
	v := 0.0
	if w.dest.Load().Enabled && !w.disabled.Load() {
		v = 1
	}
	dp.m.DestinationEnabled.WithLabelValues(w.name).Set(v)
}

// Route names the current destinations that want ev; pass it as
// store.IngestRequest.Route. Disabled destinations (by config or a 410)
// get nothing.
func (dp *Dispatcher) Route(ev *lead.Event) []string {
	return Route(*dp.route.Load(), ev)
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
	dp.mu.Lock()
	if dp.running || dp.stopping {
		dp.mu.Unlock()
		return errors.New("run dispatcher: already running or stopped")
	}
	dp.running = true
	dp.settleWG.Add(1)
	go dp.settleLoop()
	for _, w := range dp.workers {
		dp.startLocked(w)
	}
	dp.mu.Unlock()
	go dp.reportOrphans()
	select {
	case <-ctx.Done():
		dp.Shutdown(dp.opts.Grace)
	case <-dp.stopped:
	}
	return nil
}

// Shutdown stops leasing, lets in-flight deliveries finish for up to grace,
// then abandons the rest: their leases expire and they are due again (with
// the same webhook-id) after a restart. Outcomes reached are settled before
// it returns. Safe to call more than once and from any goroutine.
func (dp *Dispatcher) Shutdown(grace time.Duration) {
	dp.stopOnce.Do(func() {
		dp.mu.Lock()
		dp.stopping = true
		wasRunning := dp.running
		dp.mu.Unlock()
		dp.stopLoop()
		if wasRunning {
			dp.loops.Wait()
			done := make(chan struct{})
			go func() { dp.inflight.Wait(); close(done) }()
			t := time.NewTimer(grace)
			select {
			case <-done:
			case <-t.C:
				dp.log.Warn("shutdown grace over, leaving in-flight deliveries to their leases", "grace", grace.String())
				dp.stopSend()
				<-done
			}
			t.Stop()
			close(dp.outcomes)
			dp.settleWG.Wait()
			dp.notices.Wait()
		}
		dp.stopSend()
		close(dp.stopped)
	})
	<-dp.stopped
}

func (dp *Dispatcher) startLocked(w *worker) {
	ctx, cancel := context.WithCancel(dp.loopCtx)
	w.cancel = cancel
	dp.loops.Add(1)
	go func() {
		defer dp.loops.Done()
		dp.loop(ctx, w)
	}()
}

// reportOrphans warns about destinations with queued deliveries that no
// longer exist: they stay stored and go out if the destination returns.
func (dp *Dispatcher) reportOrphans() {
	ctx, cancel := context.WithTimeout(dp.loopCtx, 10*time.Second)
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

// wait sleeps for d or until the worker is poked or ctx is done.
func wait(ctx context.Context, wake <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
}

// loop leases and launches w's deliveries until ctx is done.
func (dp *Dispatcher) loop(ctx context.Context, w *worker) {
	idle := dp.opts.PollMin
	errWait := dp.opts.PollMin
	failing := false
	for ctx.Err() == nil {
		d := w.dest.Load()
		if !d.Enabled || w.disabled.Load() {
			wait(ctx, w.wake, dp.opts.PollMax)
			continue
		}
		// No destination may hold more than half the shared pool, so a slow
		// one with a large Concurrency still leaves room for the rest.
		conc := min(d.concurrency(), max(1, dp.opts.MaxInFlight/2))
		free := conc - int(w.inflight.Load())
		if free <= 0 {
			wait(ctx, w.wake, dp.opts.PollMax)
			continue
		}
		if d.paced() {
			// A paced batch waits for its turn while leased; keep it
			// within one window so its lease covers the wait.
			free = min(free, d.RateLimit.Requests)
		}
		free = min(free, maxBatch)
		got := dp.acquireGlobal(ctx, free)
		if got == 0 {
			continue
		}
		batch, err := dp.store.Lease(ctx, w.name, dp.opts.Now(), got, leaseFor(d))
		dp.releaseGlobal(got - len(batch))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				dp.log.Warn("lease deliveries", "destination", w.name, "error", err.Error())
				failing = true
			}
			wait(ctx, w.wake, errWait)
			errWait = min(errWait*2, 5*time.Second)
			continue
		}
		if failing {
			dp.log.Info("lease deliveries recovered", "destination", w.name)
			failing = false
		}
		errWait = dp.opts.PollMin
		if len(batch) == 0 {
			wait(ctx, w.wake, idle)
			idle = min(idle*2, dp.opts.PollMax)
			continue
		}
		idle = dp.opts.PollMin
		for _, del := range batch {
			w.inflight.Add(1)
			dp.inflight.Add(1)
			go dp.deliver(w, d, del)
		}
	}
}

// leaseFor is long enough for the attempt (its timeout, and 10 s for the
// store's settle) and, for a paced destination, a window's wait for its
// turn. A batch is leased only up to the free worker slots, so every leased
// delivery starts at once. With the default 15 s timeout a lease is 25 s:
// when a replica dies mid-delivery, another takes its work within 30 s.
func leaseFor(d *Destination) time.Duration {
	l := d.timeout() + 10*time.Second
	if d.paced() {
		l += 2 * d.RateLimit.Per
	}
	return l
}

// acquireGlobal takes up to n slots of the global pool, waiting for the
// first one only.
func (dp *Dispatcher) acquireGlobal(ctx context.Context, n int) int {
	select {
	case dp.global <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	got := 1
	for got < n {
		select {
		case dp.global <- struct{}{}:
			got++
		default:
			return got
		}
	}
	return got
}

func (dp *Dispatcher) releaseGlobal(n int) {
	for range n {
		<-dp.global
	}
}

// deliver makes one attempt at del and queues its outcome for settling.
func (dp *Dispatcher) deliver(w *worker, d *Destination, del store.Delivery) {
	defer func() {
		dp.releaseGlobal(1)
		w.inflight.Add(-1)
		w.poke()
		dp.inflight.Done()
	}()
	ctx := dp.sendCtx
	if d.paced() && !dp.pace(ctx, d) {
		return // stopping: the lease runs out and it is due again
	}
	start := time.Now()
	at := dp.opts.Now()
	res, err := dp.sender.Send(ctx, d, &del.Event)
	elapsed := time.Since(start)
	if err != nil && dp.sendCtx.Err() != nil {
		// We abandoned it, the destination did not fail it: leave it
		// leased so it runs again after the lease, same webhook-id.
		return
	}
	dp.m.DeliveryDuration.WithLabelValues(d.Name).Observe(elapsed.Seconds())
	attempt := del.Attempts + 1
	out := store.Outcome{
		Delivery: del,
		Attempt:  store.Attempt{At: at, Code: res.Code, DurationMS: elapsed.Milliseconds()},
	}
	now := dp.opts.Now()
	// Built lazily: a success logs only at debug level, and building the
	// attributes per delivery costs allocations on the hot path.
	log := func() *slog.Logger {
		return dp.log.With("destination", d.Name, "event_id", del.EventID, "request_id", del.RequestID, "attempt", attempt, "code", res.Code)
	}
	switch {
	case err == nil:
		out.State = store.Delivered
		dp.m.Deliveries.WithLabelValues(d.Name, "success").Inc()
		if !del.EnqueuedAt.IsZero() {
			dp.m.DeliveryLag.Observe(max(now.Sub(del.EnqueuedAt), 0).Seconds())
		}
		if dp.log.Enabled(context.Background(), slog.LevelDebug) {
			log().Debug("delivered", "duration_ms", elapsed.Milliseconds())
		}
	case res.Retry && attempt < d.maxAttempts():
		out.Attempt.Error = err.Error()
		out.State = store.Retrying
		delay := dp.retryDelay(d, attempt, res.RetryAfter)
		out.RetryAt = now.Add(delay)
		dp.m.Deliveries.WithLabelValues(d.Name, "retry").Inc()
		log().Info("delivery failed, will retry", "error", err.Error(), "retry_in", delay.String())
	default:
		out.Attempt.Error = err.Error()
		out.State = store.Dead
		dp.m.Deliveries.WithLabelValues(d.Name, "dead").Inc()
		why := "not retryable"
		if res.Retry {
			why = "attempts used up"
		}
		if res.Code == 410 {
			dp.disable(w, d)
			why = "gone: destination disabled until its config changes"
		}
		log().Warn("delivery dead-lettered", "error", err.Error(), "reason", why)
	}
	dp.outcomes <- settled{out: out, dest: d}
}

// retryDelay is the jittered schedule's wait before attempt+1, or the
// destination's Retry-After (capped at an hour) when that is longer.
func (dp *Dispatcher) retryDelay(d *Destination, attempt int, retryAfter time.Duration) time.Duration {
	s := d.schedule()
	wait := dp.opts.Jitter(s[min(attempt-1, len(s)-1)])
	return max(wait, min(retryAfter, MaxRetryAfter))
}

// disable turns d off after a 410, unless its config has changed since
// the attempt started.
func (dp *Dispatcher) disable(w *worker, d *Destination) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if w.dest.Load() != d || w.disabled.Swap(true) {
		return
	}
	dp.gaugeLocked(w)
	dp.publishRouteLocked()
}

// settleLoop writes outcomes to the store in batches: whatever has
// gathered while the previous Settle ran goes in the next one.
func (dp *Dispatcher) settleLoop() {
	defer dp.settleWG.Done()
	batch := make([]settled, 0, 128)
	for first := range dp.outcomes {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < cap(batch) {
			select {
			case s, ok := <-dp.outcomes:
				if !ok {
					break drain
				}
				batch = append(batch, s)
			default:
				break drain
			}
		}
		dp.settle(batch)
	}
}

func (dp *Dispatcher) settle(batch []settled) {
	outs := make([]store.Outcome, len(batch))
	for i, s := range batch {
		outs[i] = s.out
	}
	var err error
	for try, pause := 0, 100*time.Millisecond; try < 5; try, pause = try+1, pause*2 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = dp.store.Settle(ctx, outs)
		cancel()
		if err == nil {
			break
		}
		time.Sleep(pause)
	}
	if err != nil {
		// The leases run out and these deliveries go again: at least once.
		dp.log.Error("settle deliveries; they will be attempted again", "count", len(outs), "error", err.Error())
		return
	}
	for _, s := range batch {
		if s.out.State == store.Dead {
			dp.notify(s)
		}
	}
}

// notify tells the destination's notify_on_failure, or the gateway's
// notify_url, about a dead letter, in the background and once.
func (dp *Dispatcher) notify(s settled) {
	if s.dest.NoNotify {
		return
	}
	target, allowPrivate := s.dest.NotifyOnFailure, s.dest.AllowPrivate
	if target == "" {
		// The gateway's own notify_url comes from the trusted config.
		target, allowPrivate = dp.opts.NotifyURL, true
	}
	if target == "" {
		return
	}
	del := s.out.Delivery
	n := Notice{
		Type: NoticeType, Destination: del.Destination, DeliveryID: del.ID, EventID: del.EventID,
		Event: del.Event.Event, Source: del.Event.Source, LeadID: del.Event.LeadID,
		Attempts: del.Attempts + 1, Code: s.out.Attempt.Code, Error: s.out.Attempt.Error,
		DeadAt: s.out.Attempt.At, Disabled: s.out.Attempt.Code == 410,
	}
	dp.notices.Add(1)
	go func() {
		defer dp.notices.Done()
		ctx, cancel := context.WithTimeout(dp.sendCtx, 10*time.Second)
		defer cancel()
		if err := dp.http.Notify(ctx, target, allowPrivate, n); err != nil {
			dp.log.Warn("dead-letter notice failed", "destination", del.Destination, "event_id", del.EventID, "request_id", del.RequestID, "error", err.Error())
		}
	}()
}
