package console

import (
	"math"
	"time"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/metrics"
)

// historyMinutes is how many minutes the overview's charts cover, the
// current one included.
const historyMinutes = 60

// Keys of the delivery lag histogram's running sum and count among a
// sample's counters.
const (
	lagSumKey   = "lag|sum"
	lagCountKey = "lag|count"
)

// ring is one series' per-minute totals over the last historyMinutes
// minutes. Bucket i holds the Unix minute at[i]; a bucket still holding an
// older minute reads as 0, so a quiet hour needs no clearing.
type ring struct {
	at  [historyMinutes]int64
	sum [historyMinutes]float64
}

func (r *ring) add(minute int64, v float64) {
	i := minute % historyMinutes
	if r.at[i] != minute {
		r.at[i], r.sum[i] = minute, 0
	}
	r.sum[i] += v
}

// last returns the totals of the historyMinutes minutes that end with
// minute, oldest first.
func (r *ring) last(minute int64) []float64 {
	out := make([]float64, historyMinutes)
	for k := range out {
		m := minute - historyMinutes + 1 + int64(k)
		if i := m % historyMinutes; r.at[i] == m {
			out[k] = r.sum[i]
		}
	}
	return out
}

// history is the per-minute increase of every counter the overview
// samples, kept in one ring per counter key: bounded, since the keys are
// the sources and destinations the metrics carry (config plus the
// subscription cap), and a key that leaves the metrics (a removed
// destination) takes its ring with it.
type history struct {
	prev   map[string]float64
	prevAt time.Time
	rings  map[string]*ring
}

// add books the increase since the previous sample to the minute of s, or
// of the previous sample when s is older (a clock stepped back, or a
// sample read just before another one), so time never runs backwards in
// the history.
func (h *history) add(s sample) {
	if h.rings == nil {
		h.rings = map[string]*ring{}
	}
	if s.at.Before(h.prevAt) {
		s.at = h.prevAt
	}
	if h.prev != nil {
		minute := unixMinute(s.at)
		for key, v := range s.counters {
			d := v - h.prev[key]
			if d < 0 { // the counter was reset: a destination removed and added again
				d = v
			}
			r := h.rings[key]
			if r == nil {
				r = &ring{}
				h.rings[key] = r
			}
			if d > 0 {
				r.add(minute, d)
			}
		}
	}
	for key := range h.rings {
		if _, ok := s.counters[key]; !ok {
			delete(h.rings, key)
		}
	}
	h.prev, h.prevAt = s.counters, s.at
}

// series returns key's last historyMinutes minutes up to the minute of
// now; a key never seen is all zeros.
func (h *history) series(key string, now time.Time) []float64 {
	if r := h.rings[key]; r != nil {
		return r.last(unixMinute(now))
	}
	return make([]float64, historyMinutes)
}

func unixMinute(t time.Time) int64 { return t.Unix() / 60 }

type sourceHistory struct {
	Name     string    `json:"name"`
	Requests []float64 `json:"requests"`
	Accepted []float64 `json:"accepted"`
}

type destinationHistory struct {
	Name      string    `json:"name"`
	Delivered []float64 `json:"delivered"`
	Retried   []float64 `json:"retried"`
	Dead      []float64 `json:"dead"`
}

// historyView is the overview's charts: per minute, oldest first, always
// historyMinutes values a series; a minute before the gateway started (or
// without traffic) is 0.
type historyView struct {
	Minutes int `json:"minutes"`
	// Start is the first minute's start; the last value is the current,
	// still running minute.
	Start        time.Time            `json:"start"`
	Sources      []sourceHistory      `json:"sources"`
	Destinations []destinationHistory `json:"destinations"`
	// DeliveryLagSeconds is the mean time from accepted to delivered of
	// the deliveries that succeeded in each minute, over every destination
	// (gateway_delivery_lag_seconds has no destination label); 0 for a
	// minute without one.
	DeliveryLagSeconds []float64 `json:"delivery_lag_seconds"`
}

// overviewHistory answers the charts of the overview: what this replica
// counted, minute by minute, over the last hour.
func (c *Console) overviewHistory(ctx *fiber.Ctx) error {
	now := c.opts.Now()
	rt := c.runtime()
	c.mu.Lock()
	defer c.mu.Unlock()
	h := &c.history
	v := historyView{Minutes: historyMinutes,
		Start:   time.Unix((unixMinute(now)-historyMinutes+1)*60, 0).UTC(),
		Sources: []sourceHistory{}, Destinations: []destinationHistory{}}
	if rt.Mappings != nil {
		for _, name := range rt.Mappings.Names() {
			v.Sources = append(v.Sources, sourceHistory{Name: name,
				Requests: h.series("in|"+name, now), Accepted: h.series("ok|"+name, now)})
		}
	}
	for _, d := range rt.Destinations {
		key := "dl|" + d.Name + "|"
		v.Destinations = append(v.Destinations, destinationHistory{Name: d.Name,
			Delivered: h.series(key+metrics.OutcomeSuccess, now),
			Retried:   h.series(key+metrics.OutcomeRetry, now),
			Dead:      h.series(key+metrics.OutcomeDead, now)})
	}
	sum, count := h.series(lagSumKey, now), h.series(lagCountKey, now)
	v.DeliveryLagSeconds = make([]float64, historyMinutes)
	for i := range sum {
		if count[i] > 0 {
			v.DeliveryLagSeconds[i] = math.Round(sum[i]/count[i]*1000) / 1000
		}
	}
	return ctx.JSON(v)
}
