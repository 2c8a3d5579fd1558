package console

import (
	"context"
	"math"
	"time"

	"github.com/gofiber/fiber/v2"
	dto "github.com/prometheus/client_model/go"

	"leadgate/gateway/metrics"
	"leadgate/gateway/storehttp"
)

// rateWindow is how far back the overview's rates look.
const rateWindow = 5 * time.Minute

// minRateSpan is the shortest span the rates are computed over.
const minRateSpan = 10 * time.Second

// deadLetterCap bounds the dead letters counted per destination on each
// refresh; more shows as "100+".
const deadLetterCap = 100

// sample is the counters of one gather, by "kind|label…".
type sample struct {
	at       time.Time
	counters map[string]float64
	enabled  map[string]bool
}

// Run samples the metrics every Options.SampleEvery until ctx ends, so the
// overview can show per-minute rates without a Prometheus server. Run at
// most one per Console.
func (c *Console) Run(ctx context.Context) {
	if c.opts.Gatherer == nil {
		return
	}
	t := time.NewTicker(c.opts.SampleEvery)
	defer t.Stop()
	for {
		c.record(c.gather())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// record keeps the samples of the last rateWindow (and one older, so a
// full window always has a starting point), and books the increase since
// the previous one to the per-minute history of the charts.
func (c *Console) record(s sample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.history.add(s)
	c.samples = append(c.samples, s)
	cut := 0
	for cut+1 < len(c.samples) && s.at.Sub(c.samples[cut+1].at) >= rateWindow {
		cut++
	}
	c.samples = append(c.samples[:0], c.samples[cut:]...)
}

// oldest returns the earliest kept sample, if any.
func (c *Console) oldest() (sample, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.samples) == 0 {
		return sample{}, false
	}
	return c.samples[0], true
}

// gather reads the counters the overview needs from the gatherer.
func (c *Console) gather() sample {
	s := sample{at: c.opts.Now(), counters: map[string]float64{}, enabled: map[string]bool{}}
	if c.opts.Gatherer == nil {
		return s
	}
	families, err := c.opts.Gatherer.Gather()
	if err != nil {
		// Gather returns what it could read alongside the error.
		c.log.Debug("console gather metrics", "error", err.Error())
	}
	for _, f := range families {
		switch f.GetName() {
		case "gateway_inbound_requests_total":
			for _, m := range f.GetMetric() {
				src, code := label(m, "source"), label(m, "code")
				s.counters["in|"+src] += m.GetCounter().GetValue()
				if code == "200" {
					s.counters["ok|"+src] += m.GetCounter().GetValue()
				}
			}
		case "gateway_events_total":
			for _, m := range f.GetMetric() {
				s.counters["ev|"+label(m, "source")] += m.GetCounter().GetValue()
			}
		case "gateway_deliveries_total":
			for _, m := range f.GetMetric() {
				s.counters["dl|"+label(m, "destination")+"|"+label(m, "outcome")] += m.GetCounter().GetValue()
			}
		case "gateway_delivery_lag_seconds":
			for _, m := range f.GetMetric() {
				s.counters[lagSumKey] += m.GetHistogram().GetSampleSum()
				s.counters[lagCountKey] += float64(m.GetHistogram().GetSampleCount())
			}
		case "gateway_destination_enabled":
			for _, m := range f.GetMetric() {
				s.enabled[label(m, "destination")] = m.GetGauge().GetValue() != 0
			}
		}
	}
	return s
}

func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

type sourceRates struct {
	Name            string  `json:"name"`
	RequestsPerMin  float64 `json:"requests_per_min"`
	AcceptedPerMin  float64 `json:"accepted_per_min"`
	RejectedPerMin  float64 `json:"rejected_per_min"`
	EventsPerMin    float64 `json:"events_per_min"`
	RequestsInTotal float64 `json:"requests_total"`
}

type destinationRates struct {
	Name            string  `json:"name"`
	Enabled         bool    `json:"enabled"`
	Failing         bool    `json:"failing"`
	DeliveredPerMin float64 `json:"delivered_per_min"`
	RetriedPerMin   float64 `json:"retried_per_min"`
	DeadPerMin      float64 `json:"dead_per_min"`
	DeadLetters     int     `json:"dead_letters"`
	DeadLettersMore bool    `json:"dead_letters_more"`
}

type overviewView struct {
	// WindowSeconds is the span the rates cover; 0 until a first sample
	// is old enough to compare with.
	WindowSeconds float64            `json:"window_seconds"`
	At            time.Time          `json:"at"`
	Sources       []sourceRates      `json:"sources"`
	Destinations  []destinationRates `json:"destinations"`
	Queue         map[string]int64   `json:"queue"`
}

func (c *Console) overview(ctx *fiber.Ctx) error {
	now := c.gather()
	old, ok := c.oldest()
	minutes := 0.0
	// A shorter span makes one request look like a flood.
	if ok && now.at.Sub(old.at) >= minRateSpan {
		minutes = now.at.Sub(old.at).Minutes()
	}
	rate := func(key string) float64 {
		if minutes == 0 {
			return 0
		}
		d := now.counters[key] - old.counters[key]
		if d < 0 { // a counter reset: the process restarted
			d = now.counters[key]
		}
		return math.Round(d/minutes*10) / 10
	}
	rt := c.runtime()
	v := overviewView{WindowSeconds: math.Round(minutes * 60), At: now.at.UTC(), Sources: []sourceRates{},
		Destinations: []destinationRates{}, Queue: map[string]int64{}}
	if rt.Mappings != nil {
		for _, name := range rt.Mappings.Names() {
			r := sourceRates{Name: name, RequestsPerMin: rate("in|" + name), AcceptedPerMin: rate("ok|" + name),
				EventsPerMin: rate("ev|" + name), RequestsInTotal: now.counters["in|"+name]}
			r.RejectedPerMin = math.Max(0, math.Round((r.RequestsPerMin-r.AcceptedPerMin)*10)/10)
			v.Sources = append(v.Sources, r)
		}
	}
	ctx2, cancel := callContext()
	defer cancel()
	for _, d := range rt.Destinations {
		r := destinationRates{Name: d.Name, Enabled: d.Enabled,
			DeliveredPerMin: rate("dl|" + d.Name + "|" + metrics.OutcomeSuccess),
			RetriedPerMin:   rate("dl|" + d.Name + "|" + metrics.OutcomeRetry),
			DeadPerMin:      rate("dl|" + d.Name + "|" + metrics.OutcomeDead)}
		if on, known := now.enabled[d.Name]; known && !on {
			r.Enabled = false // a 410 disabled it since the config was loaded
		}
		r.Failing = r.DeliveredPerMin == 0 && r.RetriedPerMin+r.DeadPerMin > 0
		items, next, err := c.opts.Store.DeadLetters(ctx2, d.Name, "", deadLetterCap)
		if err != nil {
			return storehttp.Error(err, "dead letters")
		}
		r.DeadLetters, r.DeadLettersMore = len(items), next != ""
		v.Destinations = append(v.Destinations, r)
	}
	depth, err := c.opts.Store.Depth(ctx2)
	if err != nil {
		return storehttp.Error(err, "queue depth")
	}
	for _, state := range metrics.QueueStates {
		v.Queue[state] = depth[state]
	}
	return ctx.JSON(v)
}
