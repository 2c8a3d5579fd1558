package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// fakeSweeper holds leads by last seen.
type fakeSweeper struct {
	seen    []time.Time
	calls   int
	failAt  int // SweepLeads call that fails (1-based); 0 never
	cutoffs []time.Time
}

func (f *fakeSweeper) SweepLeads(_ context.Context, cutoff time.Time, max int) (int, error) {
	f.calls++
	f.cutoffs = append(f.cutoffs, cutoff)
	if f.calls == f.failAt {
		return 0, errors.New("store down")
	}
	n := 0
	kept := f.seen[:0]
	for _, t := range f.seen {
		if t.Before(cutoff) && n < max {
			n++
			continue
		}
		kept = append(kept, t)
	}
	f.seen = kept
	return n, nil
}

func (f *fakeSweeper) LeadCount(context.Context) (int64, error) { return int64(len(f.seen)), nil }

// TestSweepLeads: a pass goes on while calls come back full, removes what
// is older than the retention and counts what is left.
func TestSweepLeads(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name                  string
		old, recent, failAt   int
		removed, calls, count int
	}{
		{"nothing due", 0, 3, 0, 0, 1, 3},
		{"less than a batch", 10, 3, 0, 10, 1, 3},
		{"exactly a batch", leadSweepBatch, 1, 0, leadSweepBatch, 2, 1},
		{"several batches", 2*leadSweepBatch + 7, 0, 0, 2*leadSweepBatch + 7, 3, 0},
		{"a failing call ends the pass", 2 * leadSweepBatch, 0, 2, leadSweepBatch, 2, leadSweepBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSweeper{failAt: tt.failAt}
			for range tt.old {
				f.seen = append(f.seen, now.Add(-2*time.Hour))
			}
			for range tt.recent {
				f.seen = append(f.seen, now.Add(-time.Minute))
			}
			removed, count := sweepLeads(context.Background(), f, now, time.Hour, log)
			if removed != tt.removed || f.calls != tt.calls || count != int64(tt.count) {
				t.Fatalf("removed %d in %d calls, count %d; want %d in %d, %d", removed, f.calls, count, tt.removed, tt.calls, tt.count)
			}
			if !f.cutoffs[0].Equal(now.Add(-time.Hour)) {
				t.Fatalf("cutoff = %v, want now - retention", f.cutoffs[0])
			}
		})
	}
}
