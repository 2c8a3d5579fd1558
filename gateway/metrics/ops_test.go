package metrics

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
)

// opsDir holds the operators' files that must agree with this package.
const opsDir = "../../scripts/ops"

var metricName = regexp.MustCompile(`\bgateway_[a-z0-9_]+`)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(opsDir, "alerts.yml"))
	if err != nil {
		t.Fatalf("read alert rules: %v", err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(raw, &rf); err != nil {
		t.Fatalf("parse alert rules: %v", err)
	}
	return rf
}

// dashboardExprs returns every "expr" and template "query" string in the
// dashboard, by panel title, wherever it is nested.
func dashboardExprs(t *testing.T) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(opsDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatalf("read dashboard: %v", err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse dashboard: %v", err)
	}
	exprs := map[string][]string{}
	var walk func(v any, where string)
	walk = func(v any, where string) {
		switch v := v.(type) {
		case map[string]any:
			if title, ok := v["title"].(string); ok {
				where = title
			}
			for k, child := range v {
				if s, ok := child.(string); ok && (k == "expr" || k == "definition") {
					exprs[where] = append(exprs[where], s)
					continue
				}
				walk(child, where)
			}
		case []any:
			for _, child := range v {
				walk(child, where)
			}
		}
	}
	walk(doc, "dashboard")
	return exprs
}

// exposedNames lists every series name a fresh registry exposes: counters
// and gauges by name, histograms by their _bucket, _sum and _count series.
func exposedNames(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.Precreate([]string{"website"}, []string{"crm"})
	m.Store.SetRedisConfigOK(1) // exposed once a Redis store is checked
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[mf.GetName()+suffix] = true
			}
		}
	}
	// gateway_destination_enabled has no series until SetDestinations, but
	// it is registered: Describe proves it.
	names["gateway_destination_enabled"] = true
	return names
}

func TestOpsFilesUseOnlyExposedMetrics(t *testing.T) {
	exposed := exposedNames(t)
	check := func(t *testing.T, where, expr string) {
		t.Helper()
		for _, name := range metricName.FindAllString(expr, -1) {
			if !exposed[name] {
				t.Errorf("%s uses %s, which metrics.New does not expose", where, name)
			}
		}
	}
	t.Run("alerts.yml", func(t *testing.T) {
		rf := readRules(t)
		n := 0
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				check(t, r.Alert, r.Expr)
				n++
			}
		}
		if n == 0 {
			t.Fatalf("no rules parsed from alerts.yml")
		}
	})
	t.Run("grafana-dashboard.json", func(t *testing.T) {
		exprs := dashboardExprs(t)
		if len(exprs) == 0 {
			t.Fatalf("no expressions found in the dashboard")
		}
		for where, list := range exprs {
			for _, e := range list {
				check(t, where, e)
			}
		}
	})
}

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"job", "instance"}

var (
	// selector is a series name and its {matchers}.
	selector = regexp.MustCompile(`\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}`)
	// matcherLabel is the label name of one matcher: name=, !=, =~ or !~.
	matcherLabel = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	// grouping is by (…) or without (…), in either position.
	grouping = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	// labelValues is a Grafana variable query: label_values(series, label).
	labelValues = regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)`)
)

// exposedLabels maps every series name a registry exposes (histograms by
// their _bucket, _sum and _count series, _bucket with le) to its label
// names, with the target labels added.
func exposedLabels(t *testing.T) map[string]map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.Precreate([]string{"website"}, []string{"crm"})
	m.SetDestinations(map[string]bool{"crm": true})
	m.Store.SetRedisConfigOK(1)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]map[string]bool{}
	for _, mf := range mfs {
		labels := map[string]bool{}
		for _, l := range targetLabels {
			labels[l] = true
		}
		for _, metric := range mf.GetMetric() {
			for _, lp := range metric.GetLabel() {
				labels[lp.GetName()] = true
			}
		}
		out[mf.GetName()] = labels
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_sum", "_count"} {
				out[mf.GetName()+suffix] = labels
			}
			bucket := maps.Clone(labels)
			bucket["le"] = true
			out[mf.GetName()+"_bucket"] = bucket
		}
	}
	return out
}

// labelProblems lists the label names expr uses that its series do not
// have: in a series' {matchers}, in label_values(series, label), and in
// by (…) or without (…), which may name a label of any series of expr.
func labelProblems(expr string, exposed map[string]map[string]bool) []string {
	var problems []string
	used := map[string]bool{}
	for _, name := range regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`).FindAllString(expr, -1) {
		if _, ok := exposed[name]; ok {
			used[name] = true
		}
	}
	for _, m := range selector.FindAllStringSubmatch(expr, -1) {
		labels, ok := exposed[m[1]]
		if !ok {
			continue // up, or a name TestOpsFilesUseOnlyExposedMetrics reports
		}
		for _, lm := range matcherLabel.FindAllStringSubmatch(m[2], -1) {
			if !labels[lm[1]] {
				problems = append(problems, m[1]+" has no label "+lm[1])
			}
		}
	}
	for _, m := range labelValues.FindAllStringSubmatch(expr, -1) {
		if labels, ok := exposed[m[1]]; ok && !labels[m[2]] {
			problems = append(problems, m[1]+" has no label "+m[2])
		}
	}
	for _, m := range grouping.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[1], ",") {
			l = strings.TrimSpace(l)
			if l == "" || slices.Contains(targetLabels, l) {
				continue
			}
			found := false
			for name := range used {
				found = found || exposed[name][l]
			}
			if !found {
				problems = append(problems, "no series of the expression has the label "+l+" it groups by")
			}
		}
	}
	return problems
}

// TestOpsFilesUseOnlyExposedLabels: a label name the alerts or the
// dashboard select or group by must be one the registry exposes on that
// series, or the query silently matches nothing.
func TestOpsFilesUseOnlyExposedLabels(t *testing.T) {
	exposed := exposedLabels(t)
	t.Run("the check catches a wrong label", func(t *testing.T) {
		for _, expr := range []string{
			`sum by (job, dest) (rate(gateway_deliveries_total[5m]))`,
			`gateway_deliveries_total{result="dead"}`,
			`histogram_quantile(0.9, sum by (le, source) (rate(gateway_delivery_lag_seconds_bucket[5m])))`,
			`label_values(gateway_build_info, release)`,
		} {
			if len(labelProblems(expr, exposed)) == 0 {
				t.Errorf("%s: no problem found", expr)
			}
		}
		if p := labelProblems(`sum by (destination, le) (rate(gateway_delivery_duration_seconds_bucket{job=~"$job", destination!=""}[5m]))`, exposed); len(p) != 0 {
			t.Errorf("a right expression has problems: %v", p)
		}
	})
	t.Run("alerts.yml", func(t *testing.T) {
		for _, g := range readRules(t).Groups {
			for _, r := range g.Rules {
				for _, p := range labelProblems(r.Expr, exposed) {
					t.Errorf("alert %s: %s", r.Alert, p)
				}
			}
		}
	})
	t.Run("grafana-dashboard.json", func(t *testing.T) {
		for where, list := range dashboardExprs(t) {
			for _, e := range list {
				for _, p := range labelProblems(e, exposed) {
					t.Errorf("%s: %s in %s", where, p, e)
				}
			}
		}
	})
}

func TestDashboardShowsEveryGatewayMetric(t *testing.T) {
	var all strings.Builder
	for _, list := range dashboardExprs(t) {
		for _, e := range list {
			all.WriteString(e)
			all.WriteByte('\n')
		}
	}
	used := metricName.FindAllString(all.String(), -1)
	for _, name := range contractMetrics {
		t.Run(name, func(t *testing.T) {
			if !slices.ContainsFunc(used, func(u string) bool { return strings.HasPrefix(u, name) }) {
				t.Fatalf("no dashboard panel queries %s", name)
			}
		})
	}
}

// TestEveryAlertIsTested keeps alerts_test.yml honest: each alert needs a
// case where it fires and one where it must not.
func TestEveryAlertIsTested(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(opsDir, "alerts_test.yml"))
	if err != nil {
		t.Fatalf("read alert tests: %v", err)
	}
	var tf struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(raw, &tf); err != nil {
		t.Fatalf("parse alert tests: %v", err)
	}
	if !slices.Contains(tf.RuleFiles, "alerts.yml") {
		t.Fatalf("alerts_test.yml rule_files = %v, want alerts.yml", tf.RuleFiles)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tf.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			t.Run(r.Alert, func(t *testing.T) {
				if !fires[r.Alert] {
					t.Errorf("no test case where %s fires", r.Alert)
				}
				if !silent[r.Alert] {
					t.Errorf("no test case where %s stays silent", r.Alert)
				}
			})
		}
	}
}

// TestPromtool runs the same checks as scripts/ops/check.sh so the normal
// test run covers the rules. promtool comes from Debian's prometheus package;
// CI installs it (scripts/test.sh) and must not pass without it.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("LEADGATE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("promtool not on PATH (install Debian's prometheus package): %v", err)
		}
		t.Skip("promtool not on PATH; install Debian's prometheus package or run scripts/ops/check.sh (CI=true makes this a failure)")
	}
	tests := []struct {
		name string
		args []string
	}{
		{"check config", []string{"check", "config", "prometheus.yml"}},
		{"check rules", []string{"check", "rules", "alerts.yml"}},
		{"test rules", []string{"test", "rules", "alerts_test.yml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(promtool, tt.args...)
			cmd.Dir = opsDir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(tt.args, " "), err, out)
			}
		})
	}
}
