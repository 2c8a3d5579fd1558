package deliver

import (
	"context"
	"log/slog"
	"time"

	"leadgate/gateway/internal/groupcommit"
	"leadgate/gateway/store"
)

// settled is an outcome on its way to the store, with what the dead-letter
// notice needs.
type settled struct {
	out  store.Outcome
	dest *Destination
	// disabled: dead-lettered because a 410 disabled the destination.
	disabled bool
}

// outcomeStore is what the settler needs of the store.
type outcomeStore interface {
	Settle(ctx context.Context, outs []store.Outcome) error
}

// Settling limits: one Settle may take settleTimeout, and a batch is tried
// settleTries times, pausing settlePause, then twice that, and so on.
const (
	settleBatch   = 128
	settleTimeout = 10 * time.Second
	settleTries   = 5
	settlePause   = 100 * time.Millisecond
)

// settler writes outcomes to the store in group commits (groupcommit.Run):
// whatever gathered while the previous Settle ran goes in the next one.
// Once an outcome is stored, a dead letter is told of (dead). An outcome
// that cannot be stored is left to its lease, which runs out: the
// delivery goes again, at least once.
type settler struct {
	store outcomeStore
	// ctx ends at the shutdown grace's deadline: settling stops retrying
	// and leaves what is left to the leases.
	ctx  context.Context
	log  *slog.Logger
	dead func(settled)
	in   chan settled
	done chan struct{}
}

func newSettler(ctx context.Context, st outcomeStore, log *slog.Logger, dead func(settled)) *settler {
	return &settler{store: st, ctx: ctx, log: log, dead: dead,
		in: make(chan settled, 256), done: make(chan struct{})}
}

// run settles what arrives on in until close.
func (s *settler) run() {
	defer close(s.done)
	groupcommit.Run(s.in, settleBatch, s.commit)
}

// close ends run once it has settled everything sent before, and waits
// for it. Nothing may be sent after.
func (s *settler) close() {
	close(s.in)
	<-s.done
}

func (s *settler) commit(batch []settled) {
	outs := make([]store.Outcome, len(batch))
	for i, o := range batch {
		outs[i] = o.out
	}
	if err := s.write(outs); err != nil {
		// The leases run out and these deliveries go again: at least once.
		s.log.Error("settle deliveries; they will be attempted again", "count", len(outs), "error", err.Error())
		return
	}
	for _, o := range batch {
		if o.out.State == store.Dead {
			s.dead(o)
		}
	}
}

// write stores outs, trying again on a backoff while the grace lasts.
func (s *settler) write(outs []store.Outcome) error {
	pause := newBackoff(settlePause, settlePause<<(settleTries-1))
	var err error
	for range settleTries {
		ctx, cancel := context.WithTimeout(s.ctx, settleTimeout)
		err = s.store.Settle(ctx, outs)
		cancel()
		if err == nil {
			return nil
		}
		sleep(s.ctx, pause.next())
		if s.ctx.Err() != nil {
			break // the shutdown grace is over
		}
	}
	return err
}

// now settles one outcome at once, not through the batches: the caller
// waits for it (Respond). A dead letter is told of once stored.
func (s *settler) now(o settled) error {
	ctx, cancel := context.WithTimeout(s.ctx, settleTimeout)
	defer cancel()
	if err := s.store.Settle(ctx, []store.Outcome{o.out}); err != nil {
		return err
	}
	if o.out.State == store.Dead {
		s.dead(o)
	}
	return nil
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
