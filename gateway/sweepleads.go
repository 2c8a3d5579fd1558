package main

import (
	"context"
	"log/slog"
	"time"

	"leadgate/gateway/store"
)

// leadSweeper is what the lead sweep needs of the store.
type leadSweeper interface {
	SweepLeads(ctx context.Context, cutoff time.Time, max int) (int, error)
	LeadCount(ctx context.Context) (int64, error)
}

var _ leadSweeper = store.Store(nil)

// leadSweepBatch bounds one SweepLeads call, so a pass never holds the
// store's writer (bbolt) or Redis for long: ingest goes on between calls.
const leadSweepBatch = 500

// sweepLeads runs one pass: it removes the leads not seen since
// now-retention, a batch per call while calls come back full, and then
// reads the number of leads. It answers how many it removed and the
// count (-1 when it could not be read).
func sweepLeads(ctx context.Context, st leadSweeper, now time.Time, retention time.Duration, log *slog.Logger) (removed int, count int64) {
	cutoff := now.Add(-retention)
	for {
		n, err := st.SweepLeads(ctx, cutoff, leadSweepBatch)
		removed += n
		if err != nil {
			log.Warn("lead sweep failed", "err", err.Error())
			break
		}
		if n < leadSweepBatch || ctx.Err() != nil {
			break
		}
	}
	if removed > 0 {
		log.Info("leads past storage.lead_retention left the lead index", "count", removed)
	}
	count, err := st.LeadCount(ctx)
	if err != nil {
		log.Warn("count leads failed", "err", err.Error())
		return removed, -1
	}
	return removed, count
}
