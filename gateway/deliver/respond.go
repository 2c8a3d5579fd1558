package deliver

import (
	"context"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/metrics"
	"leadgate/gateway/store"
)

// The reverse-proxy answer (contract §3): a mapping's respond names a
// destination whose answer to the payload's event becomes the inbound
// answer. The ingest holds that delivery (store.Hold) and Respond makes
// its first attempt at once, outside the worker's loop but with its
// sender, pacing, outcome rules and settling.

// MaxAnswer bounds a relayed answer's body; a longer one is not relayed.
const MaxAnswer = 64 << 10

// answerSender is a Sender that can also return what the destination
// answered (HTTPSender). With any other Sender nothing is relayed.
type answerSender interface {
	SendForAnswer(ctx context.Context, d *Destination, ev *lead.Event) (Result, *store.Answer, error)
}

var _ answerSender = (*HTTPSender)(nil)

// Reply is what Respond did.
type Reply struct {
	// Outcome is one of metrics.Respond*: RespondRelayed, RespondRetrying,
	// RespondPaced, RespondNotSent or RespondUnrelayed.
	Outcome string
	// Answer is the destination's answer when Outcome is RespondRelayed.
	Answer store.Answer
}

// Hold is the store.Hold for a reverse-proxy send to dest within timeout,
// on the dispatcher's clock. When dest cannot take one now it is nil, and
// why is metrics.RespondPaced (a Retry-After holds dest) or
// metrics.RespondNotSent (dest is not configured or not enabled, a 410
// disabled it, it is ordered, or the dispatcher is not running). The
// server asks before the ingest, so that a delivery which could not be
// sent is queued as usual, not held.
func (dp *Dispatcher) Hold(dest string, timeout time.Duration) (*store.Hold, string) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	w := dp.workers[dest]
	if !dp.running || dp.stopping || w == nil {
		return nil, metrics.RespondNotSent
	}
	if why := w.unready(dp.clock.now()); why != "" {
		return nil, why
	}
	return &store.Hold{Destination: dest, Until: dp.clock.stamp().Add(timeout + settleMargin)}, ""
}

// unready says why w cannot take a send at now ("" when it can).
func (w *worker) unready(now time.Time) string {
	switch d := w.dest.Load(); {
	case !d.Enabled || w.disabled.Load() || d.Ordered:
		// An ordered destination's deliveries wait for the lead's earlier
		// ones: none can be sent at once (the store would not hold it).
		return metrics.RespondNotSent
	case w.held(now) > 0:
		return metrics.RespondPaced
	}
	return ""
}

// Respond makes the first attempt of del, a delivery the ingest held for
// the caller, within timeout, settles it as the worker would (an attempt
// recorded; delivered, retrying or dead, dead-letter notice and all), and
// says whether the destination's answer is to be relayed. Whatever it
// answers, the delivery is taken care of: one not sent (paced, disabled,
// stopping) or whose outcome could not be settled is due again when its
// hold runs out, and the worker sends it then. It never sends del twice.
func (dp *Dispatcher) Respond(del store.Delivery, timeout time.Duration) Reply {
	dp.mu.Lock()
	w := dp.workers[del.Destination]
	if !dp.running || dp.stopping || w == nil {
		dp.mu.Unlock()
		return Reply{Outcome: metrics.RespondNotSent}
	}
	// Counted like a worker's delivery, so Shutdown waits for it and
	// settles it before the store closes.
	dp.work.Add(1)
	dp.mu.Unlock()
	defer dp.work.Done()

	d := w.dest.Load()
	if why := w.unready(dp.clock.now()); why != "" {
		return Reply{Outcome: why}
	}
	ctx, cancel := context.WithTimeout(dp.abandon, timeout)
	defer cancel()
	if d.paced() && !dp.admitNow(ctx, w, d) {
		return Reply{Outcome: metrics.RespondPaced}
	}
	w.inflight.Add(1)
	defer func() {
		w.inflight.Add(-1)
		w.poke()
	}()

	var ans *store.Answer
	s := dp.attempt(func() (res Result, err error) {
		if as, ok := dp.sender.(answerSender); ok {
			res, ans, err = as.SendForAnswer(ctx, d, &del.Event)
			return res, err
		}
		return dp.sender.Send(ctx, d, &del.Event)
	})
	if s.err != nil && dp.abandon.Err() != nil {
		// Abandoned by shutdown: left to its hold, as a worker leaves it.
		return Reply{Outcome: metrics.RespondRetrying}
	}
	o := dp.judge(w, d, del, s)
	dp.settleNow(o)

	switch {
	case relayable(s.res.Code) && ans != nil:
		return Reply{Outcome: metrics.RespondRelayed, Answer: *ans}
	case o.out.State == store.Retrying:
		return Reply{Outcome: metrics.RespondRetrying}
	}
	// Among them a retried status whose attempts are used up (max_attempts
	// 1): the lead is stored, whatever the destination thinks of it.
	return Reply{Outcome: metrics.RespondUnrelayed}
}

// admitNow asks d's limiter once, without waiting: the sender of the
// payload is waiting.
func (dp *Dispatcher) admitNow(ctx context.Context, w *worker, d *Destination) bool {
	lim := paceLimit(d)
	dec, err := dp.opts.Limiter.Allow(ctx, "out:"+d.Name, lim)
	if err != nil {
		return false
	}
	w.pace.note(dec, lim, dp.clock.now())
	if !dec.Allowed {
		dp.m.RateLimited.WithLabelValues(metrics.ScopeOutbound).Inc()
		return false
	}
	return true
}

// relayable says whether an answer with code is relayed: a 2xx, or a 4xx
// that is not retried (a 408, 425 or 429 asks to come back later, which
// the gateway does, so the lead is not answered as a failure).
func relayable(code int) bool {
	return (code >= 200 && code < 300) || (code >= 400 && code < 500 && !retryable(code))
}

// settleNow settles one outcome at once, not through the settle loop: the
// inbound answer waits for it, so that what the answer says (a 4xx: the
// event is in the dead letters) is already true when it arrives. One that
// fails is left to its hold, which runs out and sends the delivery again.
func (dp *Dispatcher) settleNow(s settled) {
	if err := dp.settle.now(s); err != nil {
		dp.log.Warn("settle the reverse-proxy send; it is sent again when its hold runs out",
			"destination", s.dest.Name, "event_id", s.out.Delivery.EventID, "request_id", s.out.Delivery.RequestID, "error", err.Error())
	}
}
