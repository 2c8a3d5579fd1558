// Package metrics defines every Prometheus metric of the contract on a
// registry passed in (never the global one). Packages record through the
// *Metrics they are given; labels stay bounded: no ids, emails or URLs.
// Label values come from the constants below, from configured source and
// destination names, and from lead.EventNames, so Precreate can start every
// series at 0 and rate() and alerts see the first increment.
package metrics

import (
	"net/http"
	"runtime/debug"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"leadgate/gateway/lead"
)

// Reasons of gateway_normalize_failures_total: one per refusal of an inbound
// payload after its source is known, matching the contract's status codes.
const (
	ReasonMalformed       = "malformed"        // 400: the body does not parse
	ReasonUnauthorized    = "unauthorized"     // 401: source authentication failed
	ReasonTooLarge        = "too_large"        // 413: body over server.body_limit
	ReasonUnsupportedType = "unsupported_type" // 415: content type not accepted
	ReasonInvalid         = "invalid"          // 422: a required field is missing or of the wrong type
)

// Scopes of gateway_rate_limited_total.
const (
	ScopeInbound  = "inbound"  // POST /hooks/{source} refused with 429
	ScopeAPI      = "api"      // LeadSquared-compatible API refused with 429
	ScopeOutbound = "outbound" // a delivery delayed by its destination's pacing
)

// Outcomes of gateway_deliveries_total, one per delivery attempt.
const (
	OutcomeSuccess = "success"
	OutcomeRetry   = "retry"
	OutcomeDead    = "dead"
)

// Answers of gateway_respond_total (its answer label): what became of a reverse-proxy answer
// (a mapping's respond, contract section 3), one per accepted payload of a
// source that has one.
const (
	// RespondRelayed: the destination answered 2xx or a 4xx that is not
	// retried, and its answer was the inbound answer.
	RespondRelayed = "relayed"
	// RespondRetrying: a network error, a timeout, a 5xx, 408, 425 or 429;
	// the gateway answered itself and the delivery retries.
	RespondRetrying = "retrying"
	// RespondPaced: the destination's rate limit had no room or a
	// Retry-After held it; nothing was sent, the delivery waits its turn.
	RespondPaced = "paced"
	// RespondNotSent: the destination is disabled (by config or a 410) or
	// the gateway is stopping; the delivery is queued as any other.
	RespondNotSent = "not_sent"
	// RespondUnrelayed: sent, but its answer is not relayed: a 3xx, a
	// retried status with no attempts left, or a body over 64 KiB.
	RespondUnrelayed = "unrelayed"
	// RespondNotRouted: no event of the payload went to the destination
	// (its filters turned them away).
	RespondNotRouted = "not_routed"
	// RespondDuplicate: a duplicate payload got the answer its first post
	// got.
	RespondDuplicate = "duplicate"
)

// States of gateway_queue_depth: the keys store.Store.Depth returns.
const (
	StateDue       = "due"
	StateScheduled = "scheduled"
	StateInFlight  = "in_flight"
	StateDead      = "dead"
)

// Results of gateway_config_reloads_total.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// SourceUnknown is the source label of inbound requests whose path names no
// mapping (404): the path is caller-controlled, so it never becomes a label.
const SourceUnknown = "unknown"

// Label value sets that Precreate expands. They are the whole bounded
// vocabulary of each label; tests and dashboards rely on them.
var (
	// InboundCodes are the status codes the inbound route answers (contract section 3).
	InboundCodes = []string{"200", "400", "401", "404", "413", "415", "422", "429", "500", "503"}
	// UnknownCodes are the codes a path that names no mapping can get:
	// 404, or what comes before it (429, 503) or instead of it (500).
	UnknownCodes = []string{"404", "429", "500", "503"}
	// Reasons lists every gateway_normalize_failures_total reason.
	Reasons = []string{ReasonMalformed, ReasonUnauthorized, ReasonTooLarge, ReasonUnsupportedType, ReasonInvalid}
	// Scopes lists every gateway_rate_limited_total scope.
	Scopes = []string{ScopeInbound, ScopeAPI, ScopeOutbound}
	// Outcomes lists every gateway_deliveries_total outcome.
	Outcomes = []string{OutcomeSuccess, OutcomeRetry, OutcomeDead}
	// QueueStates lists every gateway_queue_depth state.
	QueueStates = []string{StateDue, StateScheduled, StateInFlight, StateDead}
	// ReloadResults lists every gateway_config_reloads_total result.
	ReloadResults = []string{ResultSuccess, ResultFailure}
	// RespondOutcomes lists every gateway_respond_total answer.
	RespondOutcomes = []string{RespondRelayed, RespondRetrying, RespondPaced, RespondNotSent, RespondUnrelayed, RespondNotRouted, RespondDuplicate}
)

// Metrics holds the gateway's collectors.
type Metrics struct {
	InboundRequests    *prometheus.CounterVec   // source, code
	InboundDuration    *prometheus.HistogramVec // source
	NormalizeFailures  *prometheus.CounterVec   // source, reason
	RateLimited        *prometheus.CounterVec   // scope: inbound, api, outbound
	Events             *prometheus.CounterVec   // source, event
	Deliveries         *prometheus.CounterVec   // destination, outcome: success, retry, dead
	DeliveryDuration   *prometheus.HistogramVec // destination
	DeliveryLag        prometheus.Histogram
	QueueDepth         *prometheus.GaugeVec   // state
	ConfigReloads      *prometheus.CounterVec // result: success, failure
	BuildInfo          *prometheus.GaugeVec   // version, revision
	DestinationEnabled *prometheus.GaugeVec   // destination
	Ready              prometheus.Gauge
	NoticesDropped     prometheus.Counter
	FieldsDropped      *prometheus.CounterVec // source
	Leads              prometheus.Gauge       // the lead index's size
	Respond            *prometheus.CounterVec // source, answer
	Store              *StoreMetrics
}

// New registers every metric on reg, plus the Go runtime and process
// collectors, and sets gateway_build_info from Build. It panics if reg
// already holds any of them, as promauto does: call it once per registry.
func New(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{Store: newStoreMetrics(f)}
	m.newInbound(f)
	m.newDelivery(f)
	m.newOperations(f)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.SetBuild(Build())
	return m
}

// newInbound registers the metrics of the inbound route: requests, their duration, refusals, limits, events.
func (m *Metrics) newInbound(f promauto.Factory) {
	m.InboundRequests = f.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_inbound_requests_total",
		Help: "Inbound webhook requests by source and HTTP status code.",
	}, []string{"source", "code"})
	m.InboundDuration = f.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gateway_inbound_duration_seconds",
		Help:    "Time to answer an inbound webhook, including the durable store.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"source"})
	m.NormalizeFailures = f.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_normalize_failures_total",
		Help: "Inbound payloads that failed parsing, authentication or mapping, by reason.",
	}, []string{"source", "reason"})
	m.RateLimited = f.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_rate_limited_total",
		Help: "Requests refused (inbound, api) or delayed (outbound) by a rate limit.",
	}, []string{"scope"})
	m.Events = f.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_events_total",
		Help: "Canonical events stored, by source and event name.",
	}, []string{"source", "event"})
	m.FieldsDropped = f.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_fields_dropped_total",
		Help: "Keys of lead.fields (or updates of known keys) left out by the lead's bounds: 200 keys, 64 KiB as JSON.",
	}, []string{"source"})
	m.Respond = f.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_respond_total",
		Help: "Reverse-proxy answers (a mapping's respond) by source: relayed, or why the gateway answered itself.",
	}, []string{"source", "answer"})
}

// newDelivery registers the metrics of delivery: attempts, their duration, lag, queue depth, destinations, notices.
func (m *Metrics) newDelivery(f promauto.Factory) {
	m.Deliveries = f.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_deliveries_total",
		Help: "Delivery attempts by destination and outcome (success, retry, dead).",
	}, []string{"destination", "outcome"})
	m.DeliveryDuration = f.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gateway_delivery_duration_seconds",
		Help:    "Duration of one delivery attempt.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30},
	}, []string{"destination"})
	m.DeliveryLag = f.NewHistogram(prometheus.HistogramOpts{
		Name:    "gateway_delivery_lag_seconds",
		Help:    "Time from an event being accepted to its successful delivery.",
		Buckets: []float64{.01, .05, .1, .5, 1, 5, 30, 60, 300, 1800, 3600, 18000, 86400},
	})
	m.QueueDepth = f.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_queue_depth",
		Help: "Deliveries in the queue by state (due, scheduled, in_flight, dead).",
	}, []string{"state"})
	m.DestinationEnabled = f.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_destination_enabled",
		Help: "1 while a destination is delivering, 0 while disabled (by config or a 410).",
	}, []string{"destination"})
	m.NoticesDropped = f.NewCounter(prometheus.CounterOpts{
		Name: "gateway_notices_dropped_total",
		Help: "Dead letters whose notice never reached its notify URL: refused by a full queue, failed, or cut off by shutdown.",
	})
}

// newOperations registers the metrics of operations: reloads, build, readiness, the lead index.
func (m *Metrics) newOperations(f promauto.Factory) {
	m.ConfigReloads = f.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_config_reloads_total",
		Help: "Config and mapping reloads by result (success, failure).",
	}, []string{"result"})
	m.BuildInfo = f.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_build_info",
		Help: "Always 1; labels name the running build.",
	}, []string{"version", "revision"})
	m.Leads = f.NewGauge(prometheus.GaugeOpts{
		Name: "gateway_leads",
		Help: "Leads in the lead index (those seen within storage.lead_retention).",
	})
	m.Ready = f.NewGauge(prometheus.GaugeOpts{
		Name: "gateway_ready",
		Help: "1 while /readyz would answer 200 (store and Redis reachable, mappings loaded), else 0.",
	})
}

// SetBuild replaces gateway_build_info with one series {version, revision} = 1,
// so dashboards can join on it without seeing a stale build.
func (m *Metrics) SetBuild(version, revision string) {
	m.BuildInfo.Reset()
	m.BuildInfo.WithLabelValues(version, revision).Set(1)
}

// Precreate creates every label combination the gateway can record for these
// sources and destinations, so each series exists at 0 from the first scrape:
// without that, a counter's first increment is invisible to rate() and
// increase(), and an alert on it never fires. It is idempotent and keeps
// values, so main can call it again after a reload with the new names.
// gateway_destination_enabled is left to SetDestinations, since 0 means
// "disabled" there and would raise an alert.
func (m *Metrics) Precreate(sources, destinations []string) {
	for _, src := range sources {
		for _, code := range InboundCodes {
			m.InboundRequests.WithLabelValues(src, code)
		}
		m.InboundDuration.WithLabelValues(src)
		for _, reason := range Reasons {
			m.NormalizeFailures.WithLabelValues(src, reason)
		}
		for _, ev := range lead.EventNames {
			m.Events.WithLabelValues(src, ev)
		}
		m.FieldsDropped.WithLabelValues(src)
		for _, outcome := range RespondOutcomes {
			m.Respond.WithLabelValues(src, outcome)
		}
	}
	for _, code := range UnknownCodes {
		m.InboundRequests.WithLabelValues(SourceUnknown, code)
	}
	m.InboundDuration.WithLabelValues(SourceUnknown)
	for _, scope := range Scopes {
		m.RateLimited.WithLabelValues(scope)
	}
	for _, dest := range destinations {
		for _, outcome := range Outcomes {
			m.Deliveries.WithLabelValues(dest, outcome)
		}
		m.DeliveryDuration.WithLabelValues(dest)
	}
	for _, state := range QueueStates {
		m.QueueDepth.WithLabelValues(state)
	}
	for _, result := range ReloadResults {
		m.ConfigReloads.WithLabelValues(result)
	}
}

// SetReady records the readiness check's result in gateway_ready.
func (m *Metrics) SetReady(ready bool) {
	v := 0.0
	if ready {
		v = 1
	}
	m.Ready.Set(v)
}

// SetDestinations replaces gateway_destination_enabled with one series per
// configured destination (file destinations and subscriptions), so a
// destination removed by a reload stops being reported instead of staying
// at its last value.
func (m *Metrics) SetDestinations(enabled map[string]bool) {
	m.DestinationEnabled.Reset()
	for name, on := range enabled {
		m.SetDestinationEnabled(name, on)
	}
}

// SetDestinationEnabled records whether one destination is delivering, for
// example when a 410 disables it.
func (m *Metrics) SetDestinationEnabled(name string, enabled bool) {
	v := 0.0
	if enabled {
		v = 1
	}
	m.DestinationEnabled.WithLabelValues(name).Set(v)
}

// SetQueueDepth records the counts store.Store.Depth returns. Every known
// state is set, a missing one to 0, so an emptied state does not keep its
// last count; states outside QueueStates are ignored to keep labels bounded.
func (m *Metrics) SetQueueDepth(depth map[string]int64) {
	for _, state := range QueueStates {
		m.QueueDepth.WithLabelValues(state).Set(float64(depth[state]))
	}
}

// ReasonForStatus names the gateway_normalize_failures_total reason of an
// inbound refusal; ok is false for statuses that are not normalize failures
// (200, 404, 429, 503).
func ReasonForStatus(code int) (reason string, ok bool) {
	switch code {
	case http.StatusBadRequest:
		return ReasonMalformed, true
	case http.StatusUnauthorized:
		return ReasonUnauthorized, true
	case http.StatusRequestEntityTooLarge:
		return ReasonTooLarge, true
	case http.StatusUnsupportedMediaType:
		return ReasonUnsupportedType, true
	case http.StatusUnprocessableEntity:
		return ReasonInvalid, true
	}
	return "", false
}

// Code formats a status code as the code label, without allocating for the
// codes the contract names.
func Code(status int) string {
	switch status {
	case 200:
		return "200"
	case 400:
		return "400"
	case 401:
		return "401"
	case 404:
		return "404"
	case 413:
		return "413"
	case 415:
		return "415"
	case 422:
		return "422"
	case 429:
		return "429"
	case 500:
		return "500"
	case 503:
		return "503"
	}
	return strconv.Itoa(status)
}

// Handler serves the metrics of g in the Prometheus text format. A collector
// that fails is reported in the scrape rather than blanking it, so one broken
// gauge does not hide every other series. Mount it on Fiber through
// github.com/gofiber/fiber/v2/middleware/adaptor.HTTPHandler.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// linkedVersion is set at link time for release builds:
// go build -ldflags "-X leadgate/gateway/metrics.linkedVersion=v1.2.3" ./gateway
var linkedVersion string

// Build names the running binary for gateway_build_info: the version from
// the linker flag above, else the module version Go stamped, else "dev"; the
// revision from the VCS stamp (with "-dirty" for uncommitted changes), else
// "unknown" (go run and go test build without VCS stamps).
func Build() (version, revision string) {
	version, revision = linkedVersion, "unknown"
	info, ok := debug.ReadBuildInfo()
	if ok && version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		version = info.Main.Version
	}
	if version == "" {
		version = "dev"
	}
	if !ok {
		return version, revision
	}
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && revision != "unknown" {
		revision += "-dirty"
	}
	return version, revision
}
