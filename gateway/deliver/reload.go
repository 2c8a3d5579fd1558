package deliver

import (
	"cmp"
	"reflect"
	"slices"

	"leadgate/gateway/metrics"
)

// SetDestinations swaps the destination set atomically (config reloads and
// subscription changes both come through here). A destination whose config
// changed is re-enabled if a 410 had disabled it; one that left the set
// stops leasing, and its in-flight deliveries finish.
func (dp *Dispatcher) SetDestinations(ds []Destination) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	keep := make(map[string]bool, len(ds))
	for i := range ds {
		d := ds[i]
		if keep[d.Name] {
			dp.log.Warn("duplicate destination name, keeping the first", "destination", d.Name)
			continue
		}
		keep[d.Name] = true
		w, ok := dp.workers[d.Name]
		if ok {
			dp.updateLocked(w, d)
		} else {
			w = dp.addLocked(d)
		}
		dp.gaugeLocked(w)
	}
	for name, w := range dp.workers {
		if !keep[name] {
			dp.removeLocked(w)
		}
	}
	if hs, ok := dp.sender.(*HTTPSender); ok {
		hs.Forget(keep)
	}
	dp.publishRouteLocked()
}

// addLocked makes d's worker and starts it when the dispatcher runs.
func (dp *Dispatcher) addLocked(d Destination) *worker {
	w := newWorker(d, dp.m)
	dp.workers[d.Name] = w
	if dp.running && !dp.stopping {
		dp.startLocked(w)
	}
	return w
}

// updateLocked gives w's worker the config d when it changed: a hold, a
// stale pacing view and a 410 belong to the old config.
func (dp *Dispatcher) updateLocked(w *worker, d Destination) {
	old := w.dest.Load()
	if reflect.DeepEqual(*old, d) {
		return
	}
	w.dest.Store(&d)
	w.holdUntil.Store(0)
	if old.RateLimit != d.RateLimit {
		// What the limiter said under the old limit (a refusal until its
		// window moves on) no longer holds.
		w.pace.forget()
	}
	if w.disabled.Swap(false) {
		dp.log.Info("destination re-enabled by a config change", "destination", d.Name)
	}
	w.poke()
}

// removeLocked stops w's loop and drops its series; its in-flight
// deliveries finish and count into the series the worker holds.
func (dp *Dispatcher) removeLocked(w *worker) {
	if w.cancel != nil {
		w.cancel()
	}
	delete(dp.workers, w.name)
	dp.m.DestinationEnabled.DeleteLabelValues(w.name)
	// Its other series go too, so those of deleted subscriptions
	// (lsq-<id>) do not pile up in every scrape.
	for _, o := range metrics.Outcomes {
		dp.m.Deliveries.DeleteLabelValues(w.name, o)
	}
	dp.m.DeliveryDuration.DeleteLabelValues(w.name)
}

// publishRouteLocked stores the routing view: the configured destinations.
// One a 410 disabled stays in it, so its events are stored and go to its
// dead letters, replayable once its config changes, rather than vanish.
func (dp *Dispatcher) publishRouteLocked() {
	view := make([]Destination, 0, len(dp.workers))
	for _, w := range dp.workers {
		view = append(view, *w.dest.Load())
	}
	// Map order is random; a stable order keeps Route's answer stable.
	slices.SortFunc(view, func(a, b Destination) int { return cmp.Compare(a.Name, b.Name) })
	dp.route.Store(&view)
}

func (dp *Dispatcher) gaugeLocked(w *worker) {
	v := 0.0
	if w.dest.Load().Enabled && !w.disabled.Load() {
		v = 1
	}
	dp.m.DestinationEnabled.WithLabelValues(w.name).Set(v)
}
