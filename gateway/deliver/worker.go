package deliver

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"leadgate/gateway/metrics"
	"leadgate/gateway/store"
)

// worker is one destination's loop: it leases the destination's due
// deliveries, as many as its free slots and its pacer admit, and sends
// each in a goroutine of its own.
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
	pace      pacer
}

// destMetrics are a destination's delivery series, held by its worker: a
// delivery that ends after a reload removed the destination counts into
// them without bringing the removed series back into every scrape.
type destMetrics struct {
	success, retry, dead prometheus.Counter
	duration             prometheus.Observer
}

func newWorker(d Destination, m *metrics.Metrics) *worker {
	w := &worker{name: d.Name, wake: make(chan struct{}, 1), mets: destMetrics{
		success:  m.Deliveries.WithLabelValues(d.Name, metrics.OutcomeSuccess),
		retry:    m.Deliveries.WithLabelValues(d.Name, metrics.OutcomeRetry),
		dead:     m.Deliveries.WithLabelValues(d.Name, metrics.OutcomeDead),
		duration: m.DeliveryDuration.WithLabelValues(d.Name),
	}}
	w.dest.Store(&d)
	return w
}

func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// held is how long a Retry-After still holds w's queue at now; not
// positive: it is not held.
func (w *worker) held(now time.Time) time.Duration {
	return time.Unix(0, w.holdUntil.Load()).Sub(now)
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
	idle := newBackoff(dp.opts.PollMin, dp.opts.PollMax)
	errs := newBackoff(dp.opts.PollMin, 5*time.Second)
	failing := false
	for ctx.Err() == nil {
		d := w.dest.Load()
		p := dp.plan(w, d)
		if p.n == 0 {
			wait(ctx, w.wake, p.pause)
			continue
		}
		lease := leaseFor(d)
		leasedAt := dp.clock.now()
		batch, err := dp.store.Lease(ctx, w.name, dp.clock.stamp(), p.n, lease)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				dp.log.Warn("lease deliveries", "destination", w.name, "error", err.Error())
				failing = true
			}
			wait(ctx, w.wake, errs.next())
			continue
		}
		if failing {
			dp.log.Info("lease deliveries recovered", "destination", w.name)
			failing = false
		}
		errs.reset()
		if len(batch) == 0 {
			wait(ctx, w.wake, idle.next())
			continue
		}
		idle.reset()
		// The attempt, and any wait for pacing before it, must be over
		// settleMargin before the lease runs out.
		dp.launch(w, d, batch, p, leasedAt.Add(lease-settleMargin))
	}
}

// leasePlan is what one turn of a worker's loop leases.
type leasePlan struct {
	// n is how many deliveries to lease; 0: none, wait pause first.
	n     int
	pause time.Duration
	// heldBack: pacing, not the slots, made n smaller.
	heldBack bool
	// disabled: a 410 disabled the destination; what is leased is
	// dead-lettered without a send.
	disabled bool
}

// plan says how many of d's deliveries w may lease now: as many as it has
// free slots (each destination has its own and nothing shared, so a hung or
// paced destination fills only its own), no more than pacing can admit
// within the lease, and at most maxBatch.
func (dp *Dispatcher) plan(w *worker, d *Destination) leasePlan {
	if !d.Enabled {
		return leasePlan{pause: dp.opts.PollMax}
	}
	disabled := w.disabled.Load()
	if hold := w.held(dp.clock.now()); hold > 0 && !disabled {
		return leasePlan{pause: hold}
	}
	p := leasePlan{disabled: disabled}
	p.n = min(d.concurrency(), dp.opts.MaxConcurrency) - int(w.inflight.Load())
	if disabled {
		p.n = maxBatch
	}
	if p.n <= 0 {
		return leasePlan{pause: dp.opts.PollMax}
	}
	if d.paced() && !disabled {
		// Lease only what pacing can admit now: a delivery waits for its
		// turn inside its lease, so the wait must stay short.
		now := dp.clock.now()
		room, until := w.pace.room(paceLimit(d), now)
		if room == 0 {
			return leasePlan{pause: until.Sub(now)}
		}
		if room < p.n {
			p.n, p.heldBack = room, true
		}
	}
	if p.n > maxBatch {
		p.n, p.heldBack = maxBatch, false
	}
	return p
}

// launch starts a send for each delivery of batch, to be over by end, or
// dead-letters them all when the plan found d disabled.
func (dp *Dispatcher) launch(w *worker, d *Destination, batch []store.Delivery, p leasePlan, end time.Time) {
	if p.disabled {
		dp.deadLetterDisabled(w, d, batch)
		return
	}
	if d.paced() {
		w.pace.reserve(len(batch))
		if p.heldBack && len(batch) == p.n {
			// Pacing, not the queue or the slots, bounded this lease.
			dp.m.RateLimited.WithLabelValues(metrics.ScopeOutbound).Inc()
		}
	}
	for _, del := range batch {
		w.inflight.Add(1)
		dp.work.Add(1)
		go dp.deliver(w, d, del, end)
	}
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
// lease runs out), and hands its outcome to the settler.
func (dp *Dispatcher) deliver(w *worker, d *Destination, del store.Delivery, end time.Time) {
	defer func() {
		w.inflight.Add(-1)
		w.poke()
		dp.work.Done()
	}()
	ctx, cancel := context.WithDeadline(dp.abandon, end)
	defer cancel()
	if d.paced() && !dp.admit(ctx, w, d, del, end) {
		return
	}
	s := dp.attempt(func() (Result, error) { return dp.sender.Send(ctx, d, &del.Event) })
	if s.err != nil && dp.abandon.Err() != nil {
		// We abandoned it, the destination did not fail it: leave it
		// leased so it runs again after the lease, same webhook-id.
		return
	}
	dp.settle.in <- dp.judge(w, d, del, s)
}

// admit waits for pacing to admit del, early enough for its attempt to
// end by end. One admitted later would outlive the lease: it is not sent,
// the lease runs out and it is due again, so no other replica can send it
// at the same time.
func (dp *Dispatcher) admit(ctx context.Context, w *worker, d *Destination, del store.Delivery, end time.Time) bool {
	pctx, cancel := context.WithDeadline(ctx, end.Add(-attemptTime(d)))
	defer cancel()
	if dp.pace(pctx, w, d) {
		return true
	}
	if dp.abandon.Err() == nil {
		dp.log.Info("pacing did not admit a delivery within its lease; it is due again when the lease runs out",
			"destination", d.Name, "event_id", del.EventID, "request_id", del.RequestID)
	}
	return false
}

// sent is one attempt as it went.
type sent struct {
	res Result
	err error
	// at is when it began, on the stamp clock; took is how long it took.
	at   time.Time
	took time.Duration
}

// attempt runs send, timing it.
func (dp *Dispatcher) attempt(send func() (Result, error)) sent {
	start := dp.clock.now()
	s := sent{at: dp.clock.stamp()}
	s.res, s.err = send()
	s.took = dp.clock.now().Sub(start)
	return s
}

// judge turns attempt s at del into the outcome to settle, as decide
// rules, and carries out what the verdict asks: it counts and logs it,
// holds d's queue after a Retry-After, disables d after a 410.
func (dp *Dispatcher) judge(w *worker, d *Destination, del store.Delivery, s sent) settled {
	w.mets.duration.Observe(s.took.Seconds())
	attempt := del.Attempts + 1
	v := decide(attemptResult{Res: s.res, Err: s.err, Number: attempt}, policyOf(d, dp.opts.Jitter))
	out := store.Outcome{Delivery: del, State: v.State,
		Attempt: store.Attempt{At: s.at, Code: s.res.Code, DurationMS: s.took.Milliseconds()}}
	now := dp.clock.stamp()
	// Built lazily: with log.level warn a success logs nothing, and
	// building the attributes per delivery costs allocations.
	log := func() *slog.Logger {
		return dp.log.With("destination", d.Name, "event_id", del.EventID, "request_id", del.RequestID, "attempt", attempt, "code", s.res.Code)
	}
	dp.hold(w, d, v.Hold, s.res.Code)
	switch v.State {
	case store.Delivered:
		w.mets.success.Inc()
		if !del.EnqueuedAt.IsZero() {
			dp.m.DeliveryLag.Observe(max(now.Sub(del.EnqueuedAt), 0).Seconds())
		}
		if dp.log.Enabled(context.Background(), slog.LevelInfo) {
			log().Info("delivered", "duration_ms", s.took.Milliseconds())
		}
	case store.Retrying:
		out.Attempt.Error = s.err.Error()
		out.RetryAt = now.Add(v.RetryIn)
		w.mets.retry.Inc()
		log().Info("delivery failed, will retry", "error", s.err.Error(), "retry_in", v.RetryIn.String())
	default:
		out.Attempt.Error = s.err.Error()
		w.mets.dead.Inc()
		if v.Disable {
			dp.disable(w, d)
		}
		log().Warn("delivery dead-lettered", "error", s.err.Error(), "reason", v.Reason)
	}
	return settled{out: out, dest: d}
}

// hold stops leasing for d for the given while, when it answered 429 or
// 503 with a Retry-After (decide's verdict.Hold): it asked every sender to
// slow down, so the rest of its queue waits too instead of spending
// attempts on refusals. Deliveries already in flight finish; a config
// change lifts the hold.
func (dp *Dispatcher) hold(w *worker, d *Destination, hold time.Duration, code int) {
	if hold <= 0 {
		return
	}
	until := dp.clock.now().Add(hold).UnixNano()
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
		"code", code, "retry_after", hold.String())
}
