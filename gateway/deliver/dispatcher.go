package deliver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
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
const MaxConcurrency = 256

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
	MaxAttemptTime = 20 * time.Second
)

// Dispatcher drains the store's delivery queue: one loop per destination
// leasing due deliveries, up to its Concurrency in flight, paced by its
// RateLimit, retried on its Schedule, dead-lettered with a notice.
type Dispatcher struct {
	opts   Options
	store  store.Store
	sender Sender
	notify *Notifier
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
	loopCtx  context.Context // cancelled to stop leasing
	stopLoop context.CancelFunc
	sendCtx  context.Context // cancelled when the grace runs out
	stopSend context.CancelFunc
	// settleCtx is cancelled when the shutdown grace is over: settling
	// stops retrying and leaves what is left to the leases.
	settleCtx  context.Context
	stopSettle context.CancelFunc
	loops      sync.WaitGroup
	inflight   sync.WaitGroup
	outcomes   chan settled
	settleWG   sync.WaitGroup
	stopOnce   sync.Once
	stopped    chan struct{}
}

// worker is one destination's loop.
type worker struct {
	name     string
	dest     atomic.Pointer[Destination]
	disabled atomic.Bool // a 410, until the config changes
	// holdUntil (Unix ns) is when the destination may be sent to again
	// after it answered 429 or 503 with Retry-After: the whole queue waits,
	// not only the delivery that was refused.
	holdUntil atomic.Int64
	inflight  atomic.Int64
	wake      chan struct{}
	cancel    context.CancelFunc
	mets      destMetrics

	// What the destination's limiter last said, so the loop leases only
	// what pacing can admit within the lease.
	paceMu    sync.Mutex
	remaining int       // admissions left in the window at the limiter's last answer
	asking    int       // leased deliveries whose first answer is still to come
	known     time.Time // when the limiter last answered; zero: never
	refused   bool      // its last answer was a refusal, until then
	until     time.Time
}

// destMetrics are a destination's delivery series, held by its worker: a
// delivery that ends after a reload removed the destination counts into
// them without bringing the removed series back into every scrape.
type destMetrics struct {
	success, retry, dead prometheus.Counter
	duration             prometheus.Observer
}

// paceRecheck is how often the loop of a paced destination looks again
// while its leased deliveries have yet to ask the limiter.
const paceRecheck = 20 * time.Millisecond

// paceRoom says how many deliveries the loop may lease for a paced
// destination now or, when none, until when to wait: what the limiter last
// left in the window, less the leased deliveries that have yet to ask it
// (the limiter's count does not hold them yet).
func (w *worker) paceRoom(lim ratelimit.Limit, now time.Time) (int, time.Time) {
	w.paceMu.Lock()
	defer w.paceMu.Unlock()
	room := w.remaining
	switch {
	case w.refused && now.Before(w.until):
		return 0, w.until
	case w.refused:
		// One more is admitted by now; the next answer says more.
		w.refused, w.remaining, room = false, 1, 1
	case w.known.IsZero() || now.Sub(w.known) >= lim.Per:
		room = lim.Requests
	}
	if room -= w.asking; room <= 0 {
		return 0, now.Add(paceRecheck)
	}
	return room, time.Time{}
}

// reserve counts n leased deliveries against the room paceRoom gave, until
// each has its first answer from the limiter (answered).
func (w *worker) reserve(n int) {
	w.paceMu.Lock()
	defer w.paceMu.Unlock()
	w.asking += n
}

// answered ends one reserved delivery's wait for its first answer, whether
// the limiter answered (noted first) or it gave up before.
func (w *worker) answered() {
	w.paceMu.Lock()
	defer w.paceMu.Unlock()
	w.asking = max(w.asking-1, 0)
}

func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// forgetPace drops what the limiter last said, so the loop leases as for
// a destination it has not paced yet.
func (w *worker) forgetPace() {
	w.paceMu.Lock()
	defer w.paceMu.Unlock()
	// asking stays: those deliveries are leased and will still ask.
	w.remaining, w.known, w.refused, w.until = 0, time.Time{}, false, time.Time{}
}

// note records the limiter's answer to one delivery. Answers to
// concurrent deliveries can arrive in another order than the limiter gave
// them, so within one window the room only shrinks: a stale, larger
// remaining would let the loop lease more than can be admitted. The room
// grows again when the window has passed (paceRoom).
func (w *worker) note(dec ratelimit.Decision, lim ratelimit.Limit, now time.Time) {
	w.paceMu.Lock()
	defer w.paceMu.Unlock()
	if w.known.IsZero() || now.Sub(w.known) >= lim.Per || dec.Remaining < w.remaining {
		w.remaining = dec.Remaining
	}
	w.known = now
	w.refused = !dec.Allowed
	if w.refused {
		w.until = now.Add(dec.RetryAfter)
	}
}

// settled is an outcome on its way to the store, with what the dead-letter
// notice needs.
type settled struct {
	out  store.Outcome
	dest *Destination
	// disabled: dead-lettered because a 410 disabled the destination.
	disabled bool
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
	hs := &HTTPSender{Version: opts.Version, Resolver: opts.Resolver, AllowPrivate: opts.AllowPrivate, Now: opts.Now}
	sender := opts.Sender
	if sender == nil {
		sender = hs
	}
	dp := &Dispatcher{
		opts: opts, store: opts.Store, sender: sender,
		// A 410 dead-letters a destination's whole backlog in a few
		// batches: its notices go through the Notifier's bounded queue
		// and pool rather than a goroutine and a connection each.
		notify: NewNotifier(NotifierOptions{Resolver: opts.Resolver, AllowPrivate: opts.AllowPrivate,
			Version: opts.Version, Now: opts.Now, Log: opts.Log, Dropped: opts.Metrics.NoticesDropped}),
		m: opts.Metrics, log: opts.Log,
		workers:  map[string]*worker{},
		outcomes: make(chan settled, 256),
		stopped:  make(chan struct{}),
	}
	dp.loopCtx, dp.stopLoop = context.WithCancel(context.Background())
	dp.sendCtx, dp.stopSend = context.WithCancel(context.Background())
	dp.settleCtx, dp.stopSettle = context.WithCancel(context.Background())
	empty := []Destination{}
	dp.route.Store(&empty)
	notifyURL := opts.NotifyURL
	dp.notifyURL.Store(&notifyURL)
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
			w = &worker{name: d.Name, wake: make(chan struct{}, 1), mets: destMetrics{
				success:  dp.m.Deliveries.WithLabelValues(d.Name, "success"),
				retry:    dp.m.Deliveries.WithLabelValues(d.Name, "retry"),
				dead:     dp.m.Deliveries.WithLabelValues(d.Name, "dead"),
				duration: dp.m.DeliveryDuration.WithLabelValues(d.Name),
			}}
			w.dest.Store(&d)
			dp.workers[d.Name] = w
			if dp.running && !dp.stopping {
				dp.startLocked(w)
			}
		} else if old := w.dest.Load(); !reflect.DeepEqual(*old, d) {
			w.dest.Store(&d)
			w.holdUntil.Store(0)
			if old.RateLimit != d.RateLimit {
				// What the limiter said under the old limit (a refusal
				// until its window moves on) no longer holds.
				w.forgetPace()
			}
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
		// Its other series go too, so those of deleted subscriptions
		// (lsq-<id>) do not pile up in every scrape.
		for _, o := range []string{"success", "retry", "dead"} {
			dp.m.Deliveries.DeleteLabelValues(name, o)
		}
		dp.m.DeliveryDuration.DeleteLabelValues(name)
	}
	if hs, ok := dp.sender.(*HTTPSender); ok {
		hs.Forget(keep)
	}
	dp.publishRouteLocked()
}

// SetNotifyURL replaces Options.NotifyURL, for a config reload: notices of
// dead letters settled from now on go to url ("": nobody).
func (dp *Dispatcher) SetNotifyURL(url string) {
	dp.notifyURL.Store(&url)
}

// publishRouteLocked stores the routing view: the configured destinations.
// One a 410 disabled stays in it, so its events are stored and go to its
// dead letters, replayable once its config changes, rather than vanish.
func (dp *Dispatcher) publishRouteLocked() {
	view := make([]Destination, 0, len(dp.workers))
	for _, w := range dp.workers {
		view = append(view, *w.dest.Load())
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
	dp.mu.Lock()
	if dp.running || dp.stopping {
		dp.mu.Unlock()
		return errors.New("run dispatcher: already running or stopped")
	}
	dp.running = true
	dp.notify.Start()
	dp.settleWG.Add(1)
	go dp.settleLoop()
	for _, w := range dp.workers {
		dp.startLocked(w)
	}
	dp.mu.Unlock()
	go dp.reportOrphans()
	go dp.syncDisabled(dp.loopCtx, disabledSync)
	select {
	case <-ctx.Done():
		dp.Shutdown(dp.opts.Grace)
	case <-dp.stopped:
	}
	return nil
}

// Shutdown stops leasing, lets in-flight deliveries and dead-letter notices
// finish for up to grace in all, then abandons the rest: their leases
// expire and they are due again (with the same webhook-id) after a restart;
// a notice cut off is logged with its dead letter's id. Outcomes reached
// are settled before it returns. Safe to call more than once and from any
// goroutine.
func (dp *Dispatcher) Shutdown(grace time.Duration) {
	dp.stopOnce.Do(func() {
		deadline := time.Now().Add(grace)
		// At the deadline everything still waiting gives up at once:
		// sends, settling and notices. Without it a store that hangs in
		// Settle would hold shutdown for its retries' timeouts, batch
		// after batch.
		overdue := time.AfterFunc(grace, func() { dp.stopSend(); dp.stopSettle() })
		defer overdue.Stop()
		dp.mu.Lock()
		dp.stopping = true
		wasRunning := dp.running
		dp.mu.Unlock()
		dp.stopLoop()
		if wasRunning {
			dp.loops.Wait()
			if !waitUntil(&dp.inflight, deadline) {
				dp.log.Warn("shutdown grace over, leaving in-flight deliveries to their leases", "grace", grace.String())
				dp.stopSend()
				dp.inflight.Wait()
			}
			close(dp.outcomes)
			dp.settleWG.Wait()
		}
		dp.notify.Stop(deadline)
		dp.stopSend()
		dp.stopSettle()
		close(dp.stopped)
	})
	<-dp.stopped
}

// waitUntil waits for wg until deadline and says whether it finished.
func waitUntil(wg *sync.WaitGroup, deadline time.Time) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
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

// disabledSync is how often the store's 410 marks are read, so a replica
// stops sending to a destination another replica found gone.
const disabledSync = 5 * time.Second

// syncDisabled applies the store's 410 marks now and every period until ctx
// ends: a destination marked under its current config is disabled here
// too; a mark left from an older config is cleared, since the change
// re-enabled it.
func (dp *Dispatcher) syncDisabled(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		dp.applyDisabled(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (dp *Dispatcher) applyDisabled(ctx context.Context) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	marks, err := dp.store.Disabled(qctx)
	if err != nil {
		return // the store is away; the next period tries again
	}
	var stale []string
	dp.mu.Lock()
	for name, fp := range marks {
		w, ok := dp.workers[name]
		if !ok {
			continue // not configured here (yet): keep the mark
		}
		d := w.dest.Load()
		if fingerprint(d) != fp {
			stale = append(stale, name)
			continue
		}
		if !w.disabled.Swap(true) {
			dp.log.Warn("destination disabled: it answered 410 Gone (seen by this or another replica); change its config to re-enable it",
				"destination", name)
			dp.gaugeLocked(w)
			dp.publishRouteLocked()
			w.poke()
		}
	}
	dp.mu.Unlock()
	for _, name := range stale {
		if err := dp.store.SetDisabled(qctx, name, ""); err == nil {
			dp.log.Info("410 mark cleared: the destination's config changed", "destination", name)
		}
	}
}

// fingerprint identifies a destination's config, so a 410 mark holds until
// the config changes. It is a hash: the config's secrets are not stored.
func fingerprint(d *Destination) string {
	b, _ := json.Marshal(d) // plain data: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
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
		if !d.Enabled {
			wait(ctx, w.wake, dp.opts.PollMax)
			continue
		}
		if hold := time.Until(time.Unix(0, w.holdUntil.Load())); hold > 0 && !w.disabled.Load() {
			wait(ctx, w.wake, hold)
			continue
		}
		// Each destination has its own slots and nothing shared: a hung or
		// paced destination fills only its own.
		conc := min(d.concurrency(), dp.opts.MaxConcurrency)
		free := conc - int(w.inflight.Load())
		disabled, heldBack := w.disabled.Load(), false
		if disabled {
			free = maxBatch
		}
		if free <= 0 {
			wait(ctx, w.wake, dp.opts.PollMax)
			continue
		}
		if d.paced() && !disabled {
			// Lease only what pacing can admit now: a delivery waits for
			// its turn inside its lease, so the wait must stay short.
			room, until := w.paceRoom(paceLimit(d), time.Now())
			if room == 0 {
				wait(ctx, w.wake, time.Until(until))
				continue
			}
			if room < free {
				free, heldBack = room, true
			}
		}
		if free > maxBatch {
			free, heldBack = maxBatch, false
		}
		lease := leaseFor(d)
		leasedAt := time.Now()
		batch, err := dp.store.Lease(ctx, w.name, dp.opts.Now(), free, lease)
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
		if disabled {
			dp.deadLetterDisabled(w, d, batch)
			continue
		}
		if d.paced() {
			w.reserve(len(batch))
			if heldBack && len(batch) == free {
				// Pacing, not the queue or the slots, bounded this lease.
				dp.m.RateLimited.WithLabelValues("outbound").Inc()
			}
		}
		// The attempt, and any wait for pacing before it, must be over
		// settleMargin before the lease runs out.
		end := leasedAt.Add(lease - settleMargin)
		for _, del := range batch {
			w.inflight.Add(1)
			dp.inflight.Add(1)
			go dp.deliver(w, d, del, end)
		}
	}
}

// disabledError is the last_error of a delivery dead-lettered because its
// destination answered 410 Gone earlier.
const disabledError = "not sent: destination disabled after a 410 Gone; change its config to re-enable it, then replay"

// deadLetterDisabled dead-letters a leased batch of a destination a 410
// disabled, without sending: contract §5 wants every accepted event to
// reach its destination or its dead letters, and a replay after the config
// changes sends them.
func (dp *Dispatcher) deadLetterDisabled(w *worker, d *Destination, batch []store.Delivery) {
	now := dp.opts.Now()
	for _, del := range batch {
		w.mets.dead.Inc()
		dp.outcomes <- settled{
			out:      store.Outcome{Delivery: del, State: store.Dead, Attempt: store.Attempt{At: now, Error: disabledError}},
			dest:     d,
			disabled: true,
		}
	}
	dp.log.Warn("dead-lettered deliveries of a destination disabled by a 410", "destination", d.Name, "count", len(batch))
}

// holdFor stops leasing for d when it answered 429 or 503 with a
// Retry-After: it asked every sender to slow down, so the rest of its queue
// waits too instead of spending attempts on refusals. Deliveries already in
// flight finish; a config change lifts the hold.
func (dp *Dispatcher) holdFor(w *worker, d *Destination, res Result) {
	if res.RetryAfter <= 0 || (res.Code != http.StatusTooManyRequests && res.Code != http.StatusServiceUnavailable) {
		return
	}
	until := time.Now().Add(min(res.RetryAfter, MaxRetryAfter)).UnixNano()
	for {
		cur := w.holdUntil.Load()
		if cur >= until {
			return
		}
		if w.holdUntil.CompareAndSwap(cur, until) {
			break
		}
	}
	dp.log.Info("destination asked to slow down; its deliveries wait", "destination", d.Name,
		"code", res.Code, "retry_after", min(res.RetryAfter, MaxRetryAfter).String())
}

// attemptTime is how long one attempt at d may take: its timeout, capped so
// the attempt fits in a lease of at most MaxLease.
func attemptTime(d *Destination) time.Duration {
	return min(d.timeout(), MaxAttemptTime)
}

// leaseFor is long enough for the attempt and the store's settle after it,
// and for a paced destination also a wait for its turn (what is left of
// MaxLease). It never exceeds MaxLease: when a replica dies mid-delivery,
// another takes its work within MaxLease plus one idle poll, under 30 s.
func leaseFor(d *Destination) time.Duration {
	if d.paced() {
		return MaxLease
	}
	return attemptTime(d) + settleMargin
}

// deliver makes one attempt at del, over by end (settleMargin before its
// lease runs out), and queues its outcome for settling.
func (dp *Dispatcher) deliver(w *worker, d *Destination, del store.Delivery, end time.Time) {
	defer func() {
		w.inflight.Add(-1)
		w.poke()
		dp.inflight.Done()
	}()
	ctx, cancel := context.WithDeadline(dp.sendCtx, end)
	defer cancel()
	if d.paced() {
		// Admitted late enough that the attempt would outlive the lease,
		// it is not sent: the lease runs out and it is due again, so no
		// other replica can send it at the same time.
		pctx, pcancel := context.WithDeadline(ctx, end.Add(-attemptTime(d)))
		ok := dp.pace(pctx, w, d)
		pcancel()
		if !ok {
			if dp.sendCtx.Err() == nil {
				dp.log.Info("pacing did not admit a delivery within its lease; it is due again when the lease runs out",
					"destination", d.Name, "event_id", del.EventID, "request_id", del.RequestID)
			}
			return
		}
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
	dp.outcomes <- dp.judge(w, d, del, res, err, at, elapsed)
}

// judge turns one attempt's answer into the delivery's outcome, counting
// and logging it, and holds or disables d as its answer asks.
func (dp *Dispatcher) judge(w *worker, d *Destination, del store.Delivery, res Result, err error, at time.Time, elapsed time.Duration) settled {
	w.mets.duration.Observe(elapsed.Seconds())
	attempt := del.Attempts + 1
	out := store.Outcome{
		Delivery: del,
		Attempt:  store.Attempt{At: at, Code: res.Code, DurationMS: elapsed.Milliseconds()},
	}
	now := dp.opts.Now()
	// Built lazily: with log.level warn a success logs nothing, and
	// building the attributes per delivery costs allocations.
	log := func() *slog.Logger {
		return dp.log.With("destination", d.Name, "event_id", del.EventID, "request_id", del.RequestID, "attempt", attempt, "code", res.Code)
	}
	if err != nil {
		dp.holdFor(w, d, res)
	}
	switch {
	case err == nil:
		out.State = store.Delivered
		w.mets.success.Inc()
		if !del.EnqueuedAt.IsZero() {
			dp.m.DeliveryLag.Observe(max(now.Sub(del.EnqueuedAt), 0).Seconds())
		}
		if dp.log.Enabled(context.Background(), slog.LevelInfo) {
			log().Info("delivered", "duration_ms", elapsed.Milliseconds())
		}
	case res.Retry && attempt < d.maxAttempts():
		out.Attempt.Error = err.Error()
		out.State = store.Retrying
		delay := dp.retryDelay(d, attempt, res.RetryAfter)
		out.RetryAt = now.Add(delay)
		w.mets.retry.Inc()
		log().Info("delivery failed, will retry", "error", err.Error(), "retry_in", delay.String())
	default:
		out.Attempt.Error = err.Error()
		out.State = store.Dead
		w.mets.dead.Inc()
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
	return settled{out: out, dest: d}
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
	if !dp.disableLocal(w, d) {
		return
	}
	// Kept in the store, so every replica and the next start hold it
	// disabled too, until its config changes.
	ctx, cancel := context.WithTimeout(dp.settleCtx, 10*time.Second)
	defer cancel()
	if err := dp.store.SetDisabled(ctx, w.name, fingerprint(d)); err != nil {
		dp.log.Warn("could not record the 410 in the store; other replicas and the next start keep sending until they see their own",
			"destination", w.name, "error", err.Error())
	}
}

// disableLocal marks w disabled for d in this process and says whether
// that changed anything.
func (dp *Dispatcher) disableLocal(w *worker, d *Destination) bool {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	// A worker whose destination left (or left and came back as a new
	// worker) must not touch the live one's state or series.
	if dp.workers[w.name] != w || w.dest.Load() != d || w.disabled.Swap(true) {
		return false
	}
	dp.gaugeLocked(w)
	dp.publishRouteLocked()
	return true
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
		ctx, cancel := context.WithTimeout(dp.settleCtx, 10*time.Second)
		err = dp.store.Settle(ctx, outs)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-time.After(pause):
		case <-dp.settleCtx.Done(): // the shutdown grace is over
		}
		if dp.settleCtx.Err() != nil {
			break
		}
	}
	if err != nil {
		// The leases run out and these deliveries go again: at least once.
		dp.log.Error("settle deliveries; they will be attempted again", "count", len(outs), "error", err.Error())
		return
	}
	for _, s := range batch {
		if s.out.State == store.Dead {
			dp.noticeFor(s)
		}
	}
}

// noticeFor tells the destination's notify_on_failure, or the gateway's
// notify_url, about a dead letter, through the Notifier: in the background,
// once. One that cannot be sent is counted and logged with the dead
// letter's id, which the admin API lists.
func (dp *Dispatcher) noticeFor(s settled) {
	if s.dest.NoNotify {
		return
	}
	target, allowPrivate := s.dest.NotifyOnFailure, s.dest.AllowPrivate
	if target == "" {
		// The gateway's own notify_url comes from the trusted config.
		target, allowPrivate = *dp.notifyURL.Load(), true
	}
	if target == "" {
		return
	}
	del := s.out.Delivery
	dp.notify.Notify(target, allowPrivate, Notice{
		Type: NoticeType, Destination: del.Destination, DeliveryID: del.ID, EventID: del.EventID,
		Event: del.Event.Event, Source: del.Event.Source, LeadID: del.Event.LeadID,
		Attempts: del.Attempts + 1, Code: s.out.Attempt.Code, Error: s.out.Attempt.Error,
		DeadAt: s.out.Attempt.At, Disabled: s.disabled || s.out.Attempt.Code == 410,
		requestID: del.RequestID,
	})
}
