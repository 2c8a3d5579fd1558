package server

import (
	"maps"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"leadgate/gateway/lead"
	"leadgate/gateway/metrics"
	"leadgate/gateway/store"
)

// record counts one inbound answer under label, a mapping's name or
// unknownSource.
func (s *Server) record(label string, code int, start time.Time) {
	m := s.opts.Metrics
	if m == nil {
		return
	}
	took := s.opts.Now().Sub(start).Seconds()
	if code == fiber.StatusOK {
		sm := s.sourceMetrics(label)
		sm.ok.Inc()
		sm.duration.Observe(took)
		return
	}
	m.InboundRequests.WithLabelValues(label, metrics.Code(code)).Inc()
	m.InboundDuration.WithLabelValues(label).Observe(took)
}

// sourceMetrics are the series one source's accepted requests count in,
// looked up once instead of by WithLabelValues, which hashes the label
// strings on every call.
type sourceMetrics struct {
	ok       prometheus.Counter
	duration prometheus.Observer
	events   map[string]prometheus.Counter // by event name
}

// sourceMetrics returns source's series. The cache is copied on write and
// emptied on Swap, so it only holds sources that answered a 200 since the
// last reload: mapping names, a bounded set.
func (s *Server) sourceMetrics(source string) *sourceMetrics {
	if c := s.metricsCache.Load(); c != nil {
		if sm, ok := (*c)[source]; ok {
			return sm
		}
	}
	s.metricsMu.Lock()
	defer s.metricsMu.Unlock()
	old := s.metricsCache.Load()
	if old != nil {
		if sm, ok := (*old)[source]; ok {
			return sm
		}
	}
	m := s.opts.Metrics
	sm := &sourceMetrics{
		ok:       m.InboundRequests.WithLabelValues(source, strconv.Itoa(fiber.StatusOK)),
		duration: m.InboundDuration.WithLabelValues(source),
		events:   make(map[string]prometheus.Counter, len(lead.EventNames)),
	}
	for _, ev := range lead.EventNames {
		sm.events[ev] = m.Events.WithLabelValues(source, ev)
	}
	next := make(map[string]*sourceMetrics, 1)
	if old != nil {
		next = maps.Clone(*old)
	}
	next[source] = sm
	s.metricsCache.Store(&next)
	return sm
}

// fail counts a request rejected before the store, under reason.
func (s *Server) fail(source, reason string) {
	if s.opts.Metrics != nil {
		s.opts.Metrics.NormalizeFailures.WithLabelValues(source, reason).Inc()
	}
}

// stored counts what an ingest stored: its events, and the keys of lead
// fields left out, by the mapping's rest (restDropped) or the lead's bounds.
func (s *Server) stored(source string, out store.IngestResult, restDropped int) {
	if out.Duplicate {
		return
	}
	if n := restDropped + out.FieldsDropped; n > 0 && s.opts.Metrics != nil {
		s.opts.Metrics.FieldsDropped.WithLabelValues(source).Add(float64(n))
	}
	if s.opts.Metrics != nil {
		sm := s.sourceMetrics(source)
		for i := range out.Events {
			name := out.Events[i].Event
			if c, ok := sm.events[name]; ok {
				c.Inc()
			} else {
				s.opts.Metrics.Events.WithLabelValues(source, name).Inc()
			}
		}
	}
	if s.opts.Kick != nil && len(out.Events) > 0 {
		s.opts.Kick()
	}
}
