package deliver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"leadgate/gateway/ratelimit"
	"leadgate/gateway/store"
)

// A destination that answers 410 Gone is disabled until its config
// changes. The mark is kept in the store with the config's fingerprint, so
// every replica and the next start hold it disabled too; what is routed to
// it meanwhile goes to its dead letters, replayable once the config
// changes.

// disabledSync is how often the store's 410 marks are read, so a replica
// stops sending to a destination another replica found gone.
const disabledSync = 5 * time.Second

// disabledError is the last_error of a delivery dead-lettered because its
// destination answered 410 Gone earlier.
const disabledError = "not sent: destination disabled after a 410 Gone; change its config to re-enable it, then replay"

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
		if fingerprint(w.dest.Load()) != fp {
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
// It hashes fingerprintFields, not Destination itself, so that moving a
// field of Destination (as embedding policy.Delivery did) does not change
// the hash of an unchanged config and clear the marks stored before.
func fingerprint(d *Destination) string {
	b, _ := json.Marshal(fingerprintFields{ // plain data: cannot fail
		Name: d.Name, URL: d.URL, Method: d.Method, ContentType: d.ContentType,
		Format: d.Format, Template: d.Template, Headers: d.Headers,
		Events: d.Events, Sources: d.Sources, Filters: d.Filters,
		LandingPages: d.LandingPages, Enabled: d.Enabled, Timeout: d.Timeout,
		RateLimit: d.RateLimit, MaxAttempts: d.Retry.MaxAttempts, Schedule: d.Retry.Schedule,
		Secrets: d.Secrets, NoNotify: d.NoNotify, NotifyOnFailure: d.NotifyOnFailure,
		AllowPrivate: d.AllowPrivate, Concurrency: d.Concurrency, Ordered: d.Ordered,
		Ledsak: d.Ledsak,
	})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// fingerprintFields is the JSON a 410 mark's fingerprint hashes: the
// fields, names and order of Destination as it was when marks were first
// stored. A new field of Destination that should re-enable a destination
// when it changes goes at the end.
type fingerprintFields struct {
	Name            string
	URL             string
	Method          string
	ContentType     string
	Format          string
	Template        string
	Headers         []Header
	Events          []string
	Sources         []string
	Filters         []FieldFilter
	LandingPages    []string
	Enabled         bool
	Timeout         time.Duration
	RateLimit       ratelimit.Limit
	MaxAttempts     int
	Schedule        []time.Duration
	Secrets         []string
	NoNotify        bool
	NotifyOnFailure string
	AllowPrivate    bool
	Concurrency     int
	Ordered         bool
	Ledsak          LedsakDefaults
}

// disable turns d off after a 410, unless its config has changed since
// the attempt started.
func (dp *Dispatcher) disable(w *worker, d *Destination) {
	if !dp.disableLocal(w, d) {
		return
	}
	// Kept in the store, so every replica and the next start hold it
	// disabled too, until its config changes.
	ctx, cancel := context.WithTimeout(dp.abandon, 10*time.Second)
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

// deadLetterDisabled dead-letters a leased batch of a destination a 410
// disabled, without sending: contract §5 wants every accepted event to
// reach its destination or its dead letters, and a replay after the config
// changes sends them.
func (dp *Dispatcher) deadLetterDisabled(w *worker, d *Destination, batch []store.Delivery) {
	now := dp.clock.stamp()
	for _, del := range batch {
		w.mets.dead.Inc()
		dp.settle.in <- settled{
			out:      store.Outcome{Delivery: del, State: store.Dead, Attempt: store.Attempt{At: now, Error: disabledError}},
			dest:     d,
			disabled: true,
		}
	}
	dp.log.Warn("dead-lettered deliveries of a destination disabled by a 410", "destination", d.Name, "count", len(batch))
}
