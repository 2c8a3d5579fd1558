package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"leadgate/gateway/metrics"
	"leadgate/gateway/server"
	"leadgate/gateway/store/redisstore"
)

// epochStore is what the Redis loss detector needs of the Redis store.
type epochStore interface {
	InitEpoch(ctx context.Context) (string, error)
	ReadEpoch(ctx context.Context) (redisstore.Epoch, error)
	AcknowledgeEpoch(ctx context.Context) (string, error)
	Durability(ctx context.Context) (redisstore.Durability, error)
}

var (
	_ epochStore        = (*redisstore.Store)(nil)
	_ server.ResetGuard = (*redisGuard)(nil)
)

const (
	// epochEvery is how often the guard reads the epoch.
	epochEvery = 2 * time.Second
	// durabilityEvery is how often it checks AOF and the eviction policy.
	durabilityEvery = time.Minute
)

// redisGuard notices a Redis that lost the gateway's data under it: the
// epoch key written at the first start is gone, or replaced by one that
// no acknowledge wrote (another replica started on the emptied Redis).
// The loss is logged at error, counted in gateway_store_resets_total and
// fails /readyz until POST /admin/store/acknowledge-reset (here or on any
// replica: an acknowledge writes the new epoch as acknowledged, and every
// replica adopts it) or a restart. It also warns when Redis runs without
// AOF or with an eviction policy, either of which loses data.
type redisGuard struct {
	st  epochStore
	log *slog.Logger
	m   *metrics.StoreMetrics

	mu sync.Mutex
	// known is the epoch this process trusts, "" until Redis first answers.
	known string
	// lost describes an unacknowledged loss, "" when there is none.
	lost string
	// unreadable records that the settings could not be read, said once.
	unreadable bool
}

func newRedisGuard(st epochStore, log *slog.Logger, m *metrics.StoreMetrics) *redisGuard {
	return &redisGuard{st: st, log: log, m: m}
}

// run checks the epoch every epochEvery and the settings at start and
// every durabilityEvery until ctx ends.
func (g *redisGuard) run(ctx context.Context) {
	epochs := time.NewTicker(epochEvery)
	defer epochs.Stop()
	settings := time.NewTicker(durabilityEvery)
	defer settings.Stop()
	g.checkEpoch(ctx)
	g.checkDurability(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-epochs.C:
			g.checkEpoch(ctx)
		case <-settings.C:
			g.checkDurability(ctx)
		}
	}
}

// checkEpoch reads the epoch once. A Redis that does not answer is not a
// loss: Ping fails /readyz for that, and the data may well be there when
// it comes back.
func (g *redisGuard) checkEpoch(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	g.mu.Lock()
	known := g.known
	g.mu.Unlock()
	if known == "" {
		e, err := g.st.InitEpoch(ctx)
		if err != nil {
			return
		}
		g.mu.Lock()
		if g.known == "" {
			g.known = e
		}
		g.mu.Unlock()
		return
	}
	e, err := g.st.ReadEpoch(ctx)
	if err != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case e.Current == g.known:
	case e.Current != "" && e.Current == e.Acknowledged:
		// An operator acknowledged a loss, maybe on another replica.
		g.known = e.Current
		if g.lost != "" {
			g.lost = ""
			g.log.Warn("redis data loss acknowledged; ready again")
		}
	case g.lost == "":
		g.lost = "redis lost the gateway's data (its epoch key is gone or replaced); acknowledge with POST /admin/store/acknowledge-reset"
		g.m.Resets.Inc()
		g.log.Error("redis lost its data under the running gateway: restarted without persistence, flushed or evicted; "+
			"queued deliveries, dead letters, the lead index and subscriptions written before may be gone; "+
			"/readyz fails until POST /admin/store/acknowledge-reset or a restart",
			"epoch_known", g.known, "epoch_found", e.Current)
	}
}

// checkDurability warns when Redis can lose what it acknowledged.
func (g *redisGuard) checkDurability(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	d, err := g.st.Durability(ctx)
	switch {
	case errors.Is(err, redisstore.ErrConfigUnreadable):
		g.m.SetRedisConfigOK(-1)
		g.mu.Lock()
		said := g.unreadable
		g.unreadable = true
		g.mu.Unlock()
		if !said {
			g.log.Warn("cannot read Redis's appendonly and maxmemory-policy (CONFIG and INFO refused, as on some managed Redis); " +
				"make sure it persists with AOF and evicts nothing (noeviction), or accepted leads can be lost")
		}
	case err != nil:
		// Unreachable: Ping and /readyz say so.
	case !d.OK():
		g.m.SetRedisConfigOK(0)
		g.log.Warn("redis can lose accepted leads: it should run with appendonly yes and maxmemory-policy noeviction",
			"appendonly", d.AppendOnly, "maxmemory_policy", d.MaxMemoryPolicy, "read_with", d.Via)
	default:
		g.m.SetRedisConfigOK(1)
	}
}

// ResetProblem describes an unacknowledged loss, "" when there is none.
func (g *redisGuard) ResetProblem() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lost
}

// Acknowledge writes a new, acknowledged epoch and clears the failure.
func (g *redisGuard) Acknowledge(ctx context.Context) (bool, error) {
	e, err := g.st.AcknowledgeEpoch(ctx)
	if err != nil {
		return false, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.known = e
	was := g.lost != ""
	g.lost = ""
	return was, nil
}
