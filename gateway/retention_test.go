package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"leadgate/config"
	"leadgate/gateway/metrics"
)

// sweeperFunc fakes a store's SweepEvents.
type sweeperFunc func(ctx context.Context, before time.Time, max int) (int, error)

func (f sweeperFunc) SweepEvents(ctx context.Context, before time.Time, max int) (int, error) {
	return f(ctx, before, max)
}

// TestSweepOnce: one pass cuts at now minus storage.retention, calls again
// while calls come back full, stops at a short call or an error, and
// counts what was removed.
func TestSweepOnce(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		replies []int
		err     error
		calls   int
		total   int
	}{
		{"nothing due", []int{0}, nil, 1, 0},
		{"a short call ends the pass", []int{sweepBatch, sweepBatch, 7}, nil, 3, 2*sweepBatch + 7},
		{"an error ends the pass", []int{sweepBatch, sweepBatch}, errors.New("store unavailable"), 2, 2 * sweepBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Storage.Retention = 48 * time.Hour
			m := metrics.New(prometheus.NewRegistry())
			g := &gateway{log: slog.New(slog.DiscardHandler), metrics: m, current: &loaded{cfg: &cfg}}
			calls := 0
			st := sweeperFunc(func(_ context.Context, before time.Time, max int) (int, error) {
				if want := now.Add(-48 * time.Hour); !before.Equal(want) || max != sweepBatch {
					t.Fatalf("SweepEvents(%v, %d), want (%v, %d)", before, max, want, sweepBatch)
				}
				n := tt.replies[calls]
				calls++
				if calls == len(tt.replies) {
					return n, tt.err
				}
				return n, nil
			})
			if got := g.sweepOnce(context.Background(), st, now); got != tt.total || calls != tt.calls {
				t.Fatalf("removed %d in %d calls, want %d in %d", got, calls, tt.total, tt.calls)
			}
			if got := testutil.ToFloat64(m.Store.EventsSwept); got != float64(tt.total) {
				t.Fatalf("gateway_events_swept_total = %v, want %d", got, tt.total)
			}
		})
	}
}
