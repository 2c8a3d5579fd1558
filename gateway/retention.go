package main

import (
	"context"
	"time"

	"leadgate/gateway/store"
)

// eventSweeper is the store's retention.
type eventSweeper interface {
	SweepEvents(ctx context.Context, before time.Time, max int) (int, error)
}

// sizer reports how many bytes the store takes.
type sizer interface {
	Size(ctx context.Context) (int64, error)
}

var (
	_ eventSweeper = store.Store(nil)
	_ sizer        = store.Store(nil)
)

const (
	// sweepEvery is how often retention runs.
	sweepEvery = time.Minute
	// sweepBatch is how many events one SweepEvents call removes at most:
	// one short write (the embedded store's group commit, or a few Redis
	// scripts of 200), so an ingest waits behind at most one of them.
	sweepBatch = 500
	// sizeEvery is how often gateway_store_bytes is refreshed.
	sizeEvery = 30 * time.Second
)

// sweepLoop runs retention at start and every sweepEvery until ctx ends:
// finished events past storage.retention, then leads past
// storage.lead_retention (which also refreshes gateway_leads). Both are
// read at each pass, so a reload changes them.
func (g *gateway) sweepLoop(ctx context.Context, st interface {
	eventSweeper
	leadSweeper
}) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		now := time.Now()
		g.sweepOnce(ctx, st, now)
		g.mu.Lock()
		leadRetention := g.current.cfg.Storage.LeadRetention
		g.mu.Unlock()
		if _, n := sweepLeads(ctx, st, now, leadRetention, g.log); n >= 0 {
			g.metrics.Leads.Set(float64(n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepOnce removes the events finished before now minus
// storage.retention (read at each pass, so a reload changes it), one
// bounded call after another while calls come back full.
func (g *gateway) sweepOnce(ctx context.Context, st eventSweeper, now time.Time) int {
	g.mu.Lock()
	retention := g.current.cfg.Storage.Retention
	g.mu.Unlock()
	before := now.Add(-retention)
	total := 0
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := st.SweepEvents(cctx, before, sweepBatch)
		cancel()
		total += n
		g.metrics.Store.EventsSwept.Add(float64(n))
		if err != nil {
			g.log.Warn("retention sweep failed; trying again in a minute", "error", err.Error(), "removed", total)
			break
		}
		if n < sweepBatch {
			break
		}
	}
	if total > 0 {
		g.log.Info("retention removed finished events", "events", total, "retention", retention.String())
	}
	return total
}

// reportSize refreshes gateway_store_bytes until ctx ends.
func (g *gateway) reportSize(ctx context.Context, st sizer) {
	t := time.NewTicker(sizeEvery)
	defer t.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := st.Size(sctx)
		cancel()
		if err == nil {
			g.metrics.Store.Bytes.Set(float64(n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
