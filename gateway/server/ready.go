package server

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/requestid"
	"leadgate/gateway/storehttp"
)

// ResetGuard is the Redis loss detector as readiness sees it.
type ResetGuard interface {
	// ResetProblem describes an unacknowledged loss of Redis's data, or
	// is "" when there is none.
	ResetProblem() string
	// Acknowledge accepts the loss: it writes a new epoch and clears the
	// failure. was says whether a loss was pending.
	Acknowledge(ctx context.Context) (was bool, err error)
}

// readyTimeout bounds one readiness check.
const readyTimeout = 2 * time.Second

// probeEvery is how often at most the readiness check writes to the store.
const probeEvery = time.Second

// writeProbe is the cached result of the store's last write probe.
type writeProbe struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

// readinessLog remembers the last problems logged, so that a check run
// every few seconds logs a change once, not every time.
type readinessLog struct {
	mu   sync.Mutex
	last []string
}

// ready answers /readyz. It tells the caller only ready or not: the
// problems name addresses and errors, which are logged (and shown on the
// admin route /admin/readyz) instead.
func (s *Server) ready(c *fiber.Ctx) error {
	if problems := s.CheckReady(context.Background()); len(problems) > 0 {
		c.Set(fiber.HeaderRetryAfter, "1")
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "not ready"})
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

// adminReady is /readyz with its reasons, for an operator with the admin
// keys.
func (s *Server) adminReady(c *fiber.Ctx) error {
	problems := s.CheckReady(context.Background())
	if len(problems) > 0 {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "not ready", "problems": problems})
	}
	return c.JSON(fiber.Map{"status": "ready", "problems": []string{}})
}

// acknowledgeReset is POST /admin/store/acknowledge-reset: the operator
// accepts that Redis lost its data, and /readyz answers ready again.
func (s *Server) acknowledgeReset(c *fiber.Ctx) error {
	if s.opts.Reset == nil {
		return c.JSON(fiber.Map{"acknowledged": false})
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	was, err := s.opts.Reset.Acknowledge(ctx)
	if err != nil {
		return storehttp.Error(err, "acknowledge reset")
	}
	if was {
		s.log.Warn("redis data loss acknowledged; ready again", "request_id", requestid.Get(c))
	}
	return c.JSON(fiber.Map{"acknowledged": was})
}

// CheckReady runs the check of /readyz, sets gateway_ready from it, and
// returns its problems (none when ready): the store reachable and
// writable, no unacknowledged loss of Redis's data, mappings loaded. A
// change of the problems is logged at warn.
func (s *Server) CheckReady(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var problems []string
	if err := s.opts.Store.Ping(ctx); err != nil {
		problems = append(problems, "store: "+err.Error())
	} else if err := s.probeWrite(ctx); err != nil {
		problems = append(problems, "store cannot write: "+err.Error())
	}
	if s.opts.Reset != nil {
		if p := s.opts.Reset.ResetProblem(); p != "" {
			problems = append(problems, p)
		}
	}
	rt := s.Runtime()
	if rt.Mappings == nil || len(rt.Mappings.Names()) == 0 {
		problems = append(problems, "mappings: none loaded")
	}
	if m := s.opts.Metrics; m != nil {
		m.SetReady(len(problems) == 0)
	}
	s.logReadiness(problems)
	return problems
}

// probeWrite writes the store's probe at most once per probeEvery and
// answers the cached result in between, so /readyz polled by every load
// balancer costs the store one small write a second.
func (s *Server) probeWrite(ctx context.Context) error {
	p := &s.probe
	p.mu.Lock()
	defer p.mu.Unlock()
	now := s.opts.Now()
	if !p.at.IsZero() && now.Sub(p.at) < probeEvery && now.Sub(p.at) >= 0 {
		return p.err
	}
	p.err, p.at = s.opts.Store.ProbeWrite(ctx), now
	return p.err
}

func (s *Server) logReadiness(problems []string) {
	r := &s.readiness
	r.mu.Lock()
	defer r.mu.Unlock()
	if slices.Equal(r.last, problems) {
		return
	}
	r.last = slices.Clone(problems)
	if len(problems) == 0 {
		s.log.Info("ready")
		return
	}
	s.log.Warn("not ready", "problems", fmt.Sprint(problems))
}

// WatchReady runs CheckReady every interval until ctx ends, so
// gateway_ready is fresh whether or not anything polls /readyz.
func (s *Server) WatchReady(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.CheckReady(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
