package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"leadgate/gateway/lead"
)

// contractMetrics are the names contract section 7 requires, plus the
// destination gauge the alerts use.
var contractMetrics = []string{
	"gateway_inbound_requests_total",
	"gateway_inbound_duration_seconds",
	"gateway_normalize_failures_total",
	"gateway_rate_limited_total",
	"gateway_events_total",
	"gateway_deliveries_total",
	"gateway_delivery_duration_seconds",
	"gateway_delivery_lag_seconds",
	"gateway_queue_depth",
	"gateway_config_reloads_total",
	"gateway_build_info",
	"gateway_destination_enabled",
	"gateway_ready",
}

var (
	testSources      = []string{"website", "save_lead", "leadsie"}
	testDestinations = []string{"crm", "slack"}
)

// gather registers a fresh Metrics, pre-creates the test names and returns
// the families by name.
func gather(t *testing.T) (*Metrics, map[string]*dto.MetricFamily) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.Precreate(testSources, testDestinations)
	m.SetDestinations(map[string]bool{"crm": true, "slack": false})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	byName := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	return m, byName
}

func TestNewGathersEveryContractMetric(t *testing.T) {
	_, families := gather(t)
	for _, name := range append(slices.Clone(contractMetrics), "go_goroutines", "go_memstats_alloc_bytes", "process_start_time_seconds") {
		t.Run(name, func(t *testing.T) {
			if _, ok := families[name]; !ok {
				t.Fatalf("%s not gathered after Precreate", name)
			}
		})
	}
}

func TestNewOnSeparateRegistries(t *testing.T) {
	// Every test and every engineer's package builds its own Metrics; New
	// must not touch global state that a second call would collide with.
	New(prometheus.NewRegistry())
	New(prometheus.NewRegistry())
}

func TestPrecreateSeriesCounts(t *testing.T) {
	m, _ := gather(t)
	tests := []struct {
		name string
		c    prometheus.Collector
		want int
	}{
		{"inbound requests: sources x codes, plus unknown's codes", m.InboundRequests, len(testSources)*len(InboundCodes) + len(UnknownCodes)},
		{"inbound duration: one per source, plus unknown", m.InboundDuration, len(testSources) + 1},
		{"normalize failures: sources x reasons", m.NormalizeFailures, len(testSources) * len(Reasons)},
		{"rate limited: scopes", m.RateLimited, 3},
		{"events: sources x event names", m.Events, len(testSources) * len(lead.EventNames)},
		{"deliveries: destinations x outcomes", m.Deliveries, len(testDestinations) * 3},
		{"delivery duration: one per destination", m.DeliveryDuration, len(testDestinations)},
		{"delivery lag", m.DeliveryLag, 1},
		{"queue depth: states", m.QueueDepth, 4},
		{"config reloads: results", m.ConfigReloads, 2},
		{"build info: one build", m.BuildInfo, 1},
		{"destination enabled: one per destination", m.DestinationEnabled, len(testDestinations)},
		{"ready", m.Ready, 1},
		{"fields dropped: one per source", m.FieldsDropped, len(testSources)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testutil.CollectAndCount(tt.c); got != tt.want {
				t.Fatalf("series = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestPrecreateStartsAtZero(t *testing.T) {
	_, families := gather(t)
	for _, name := range contractMetrics {
		if name == "gateway_build_info" || name == "gateway_destination_enabled" {
			continue // set by New and SetDestinations, not by Precreate
		}
		t.Run(name, func(t *testing.T) {
			for _, metric := range families[name].GetMetric() {
				var v float64
				switch {
				case metric.Counter != nil:
					v = metric.GetCounter().GetValue()
				case metric.Gauge != nil:
					v = metric.GetGauge().GetValue()
				case metric.Histogram != nil:
					v = float64(metric.GetHistogram().GetSampleCount())
				}
				if v != 0 {
					t.Fatalf("%s%v = %v, want 0", name, metric.GetLabel(), v)
				}
			}
		})
	}
}

func TestLabelsStayBounded(t *testing.T) {
	_, families := gather(t)
	allowed := map[string][]string{
		"source":      append(slices.Clone(testSources), SourceUnknown),
		"destination": testDestinations,
		"code":        InboundCodes,
		"reason":      Reasons,
		"scope":       Scopes,
		"event":       lead.EventNames,
		"outcome":     Outcomes,
		"state":       QueueStates,
		"result":      ReloadResults,
		"answer":      RespondOutcomes,
	}
	for name, mf := range families {
		if !strings.HasPrefix(name, "gateway_") || name == "gateway_build_info" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			for _, metric := range mf.GetMetric() {
				for _, lp := range metric.GetLabel() {
					values, ok := allowed[lp.GetName()]
					if !ok {
						t.Fatalf("label %q has no bounded value set", lp.GetName())
					}
					if !slices.Contains(values, lp.GetValue()) {
						t.Fatalf("label %s=%q outside %v", lp.GetName(), lp.GetValue(), values)
					}
				}
			}
		})
	}
}

func TestPrecreateKeepsValues(t *testing.T) {
	m, _ := gather(t)
	m.InboundRequests.WithLabelValues("website", "200").Inc()
	m.QueueDepth.WithLabelValues(StateDue).Set(7)
	m.Precreate([]string{"website", "new_source"}, []string{"crm"})
	if got := testutil.ToFloat64(m.InboundRequests.WithLabelValues("website", "200")); got != 1 {
		t.Fatalf("inbound website 200 = %v after a second Precreate, want 1", got)
	}
	if got := testutil.ToFloat64(m.QueueDepth.WithLabelValues(StateDue)); got != 7 {
		t.Fatalf("queue due = %v after a second Precreate, want 7", got)
	}
	if got := testutil.CollectAndCount(m.Events); got != 4*len(lead.EventNames) {
		t.Fatalf("events series = %d after adding a source, want %d", got, 4*len(lead.EventNames))
	}
}

func TestBuildInfo(t *testing.T) {
	m, _ := gather(t)
	version, revision := Build()
	if version == "" || revision == "" {
		t.Fatalf("Build() = %q, %q; want both non-empty", version, revision)
	}
	if got := testutil.ToFloat64(m.BuildInfo.WithLabelValues(version, revision)); got != 1 {
		t.Fatalf("gateway_build_info{%s,%s} = %v, want 1", version, revision, got)
	}
	m.SetBuild("v1.2.3", "abc123")
	if got := testutil.CollectAndCount(m.BuildInfo); got != 1 {
		t.Fatalf("build info series after SetBuild = %d, want 1", got)
	}
	if got := testutil.ToFloat64(m.BuildInfo.WithLabelValues("v1.2.3", "abc123")); got != 1 {
		t.Fatalf("gateway_build_info{v1.2.3,abc123} = %v, want 1", got)
	}
}

func TestSetDestinations(t *testing.T) {
	m, _ := gather(t)
	if got := testutil.ToFloat64(m.DestinationEnabled.WithLabelValues("slack")); got != 0 {
		t.Fatalf("slack enabled = %v, want 0", got)
	}
	m.SetDestinationEnabled("slack", true)
	if got := testutil.ToFloat64(m.DestinationEnabled.WithLabelValues("slack")); got != 1 {
		t.Fatalf("slack enabled = %v after SetDestinationEnabled, want 1", got)
	}
	m.SetDestinations(map[string]bool{"crm": true})
	if got := testutil.CollectAndCount(m.DestinationEnabled); got != 1 {
		t.Fatalf("destination series after removing slack = %d, want 1", got)
	}
}

func TestSetQueueDepth(t *testing.T) {
	m, _ := gather(t)
	m.QueueDepth.WithLabelValues(StateDead).Set(9)
	m.SetQueueDepth(map[string]int64{StateDue: 3, StateInFlight: 2, "bogus": 5})
	want := map[string]float64{StateDue: 3, StateScheduled: 0, StateInFlight: 2, StateDead: 0}
	for state, w := range want {
		if got := testutil.ToFloat64(m.QueueDepth.WithLabelValues(state)); got != w {
			t.Fatalf("queue depth %s = %v, want %v", state, got, w)
		}
	}
	if got := testutil.CollectAndCount(m.QueueDepth); got != len(QueueStates) {
		t.Fatalf("queue depth series = %d, want %d (unknown states ignored)", got, len(QueueStates))
	}
}

func TestReasonForStatus(t *testing.T) {
	tests := []struct {
		code   int
		reason string
		ok     bool
	}{
		{400, ReasonMalformed, true},
		{401, ReasonUnauthorized, true},
		{413, ReasonTooLarge, true},
		{415, ReasonUnsupportedType, true},
		{422, ReasonInvalid, true},
		{200, "", false},
		{404, "", false},
		{429, "", false},
		{503, "", false},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			reason, ok := ReasonForStatus(tt.code)
			if reason != tt.reason || ok != tt.ok {
				t.Fatalf("ReasonForStatus(%d) = %q, %v; want %q, %v", tt.code, reason, ok, tt.reason, tt.ok)
			}
		})
	}
}

func TestCode(t *testing.T) {
	for _, code := range []int{200, 400, 401, 404, 413, 415, 422, 429, 500, 503} {
		if got, want := Code(code), strconv.Itoa(code); got != want {
			t.Fatalf("Code(%d) = %q, want %q", code, got, want)
		}
	}
	for _, code := range InboundCodes {
		n, _ := strconv.Atoi(code)
		if got := Code(n); got != code {
			t.Fatalf("Code(%d) = %q, want %q", n, got, code)
		}
	}
}

func TestHandlerServesTextFormat(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.Precreate([]string{"website"}, []string{"crm"})
	m.InboundRequests.WithLabelValues("website", "200").Inc()
	srv := httptest.NewServer(Handler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatalf("get metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read metrics: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	for _, want := range []string{
		`gateway_inbound_requests_total{code="200",source="website"} 1`,
		`gateway_inbound_requests_total{code="503",source="website"} 0`,
		`gateway_build_info{`,
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("metrics output lacks %q", want)
		}
	}
}
