package main

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"leadgate/gateway/metrics"
	"leadgate/gateway/store/redisstore"
)

// fakeEpochs is a Redis's epoch keys shared by several guards (replicas).
type fakeEpochs struct {
	mu         sync.Mutex
	epoch, ack string
	n          int
	durability redisstore.Durability
	durErr     error
}

func (f *fakeEpochs) next() string { f.n++; return string(rune('a' + f.n)) }

func (f *fakeEpochs) InitEpoch(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.epoch == "" {
		f.epoch = f.next()
	}
	return f.epoch, nil
}

func (f *fakeEpochs) ReadEpoch(context.Context) (redisstore.Epoch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return redisstore.Epoch{Current: f.epoch, Acknowledged: f.ack}, nil
}

func (f *fakeEpochs) AcknowledgeEpoch(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.epoch = f.next()
	f.ack = f.epoch
	return f.epoch, nil
}

func (f *fakeEpochs) Durability(context.Context) (redisstore.Durability, error) {
	return f.durability, f.durErr
}

func (f *fakeEpochs) flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.epoch, f.ack = "", ""
}

func newTestGuard(f *fakeEpochs) (*redisGuard, *metrics.Metrics) {
	m := metrics.New(prometheus.NewRegistry())
	return newRedisGuard(f, slog.New(slog.DiscardHandler), m.Store), m
}

// TestRedisGuardReplicas: every replica notices a flush once, a replica
// started on the emptied Redis does not hide it from the others, and one
// acknowledge clears every replica.
func TestRedisGuardReplicas(t *testing.T) {
	ctx := context.Background()
	f := &fakeEpochs{}
	a, am := newTestGuard(f)
	b, bm := newTestGuard(f)
	a.checkEpoch(ctx)
	b.checkEpoch(ctx)
	a.checkEpoch(ctx)
	if a.ResetProblem() != "" || b.ResetProblem() != "" {
		t.Fatal("a loss reported before any")
	}
	f.flush()
	c, _ := newTestGuard(f) // a replica (re)started on the emptied Redis
	c.checkEpoch(ctx)
	for range 3 {
		a.checkEpoch(ctx)
		b.checkEpoch(ctx)
		c.checkEpoch(ctx)
	}
	if a.ResetProblem() == "" || b.ResetProblem() == "" {
		t.Fatal("running replicas did not notice the loss")
	}
	if c.ResetProblem() != "" {
		t.Fatal("the replica started after the loss reports it; a restart clears it")
	}
	if got := testutil.ToFloat64(am.Store.Resets) + testutil.ToFloat64(bm.Store.Resets); got != 2 {
		t.Fatalf("resets counted = %v, want one per running replica", got)
	}
	if was, err := b.Acknowledge(ctx); err != nil || !was {
		t.Fatalf("acknowledge = %v, %v; want a pending loss", was, err)
	}
	a.checkEpoch(ctx)
	c.checkEpoch(ctx)
	if a.ResetProblem() != "" || b.ResetProblem() != "" || c.ResetProblem() != "" {
		t.Fatal("an acknowledge on one replica did not clear the others")
	}
	a.checkEpoch(ctx)
	if got := testutil.ToFloat64(am.Store.Resets); got != 1 {
		t.Fatalf("resets after acknowledge = %v, want still 1", got)
	}
}

func TestRedisGuardDurability(t *testing.T) {
	tests := []struct {
		name string
		d    redisstore.Durability
		err  error
		want float64
	}{
		{"aof and noeviction", redisstore.Durability{AppendOnly: "yes", MaxMemoryPolicy: "noeviction"}, nil, 1},
		{"no aof", redisstore.Durability{AppendOnly: "no", MaxMemoryPolicy: "noeviction"}, nil, 0},
		{"evicting", redisstore.Durability{AppendOnly: "yes", MaxMemoryPolicy: "allkeys-lru"}, nil, 0},
		{"config refused", redisstore.Durability{}, redisstore.ErrConfigUnreadable, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, m := newTestGuard(&fakeEpochs{durability: tt.d, durErr: tt.err})
			g.checkDurability(context.Background())
			if got := testutil.ToFloat64(m.Store.RedisConfigOKGauge()); got != tt.want {
				t.Fatalf("gateway_redis_config_ok = %v, want %v", got, tt.want)
			}
		})
	}
}
