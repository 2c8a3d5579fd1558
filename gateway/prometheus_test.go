package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"leadgate/gateway/internal/syncbuf"
)

// requireTool finds a command the test needs: under CI=true or
// LEADGATE_REQUIRE_TOOLS=1 (scripts/test.sh) a missing one fails the test,
// elsewhere it skips with how to install it.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found: apt-get install -y %s (scripts/test.sh installs it)", name, pkg)
	if os.Getenv("CI") == "true" || os.Getenv("LEADGATE_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestPrometheusScrapesTheGateway runs a real Prometheus against a running
// gateway and finds, through Prometheus' HTTP API, the counters that posted
// leads moved.
func TestPrometheusScrapesTheGateway(t *testing.T) {
	prom := requireTool(t, "prometheus", "prometheus")
	_, sink := newSink(t, func() int { return http.StatusOK })
	dir := t.TempDir()
	listen := freeAddr(t)
	g := start(t, writeConfig(t, dir, listen, sink.URL, ""), listen)

	promAddr := freeAddr(t)
	promCfg := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(promCfg, []byte(fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: leadgate
    static_configs: [{targets: [%q]}]
`, listen)), 0o644)
	cmd := exec.Command(prom, "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	logs := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	run := fmt.Sprint(time.Now().UnixNano())
	const leads = 3
	for i := range leads {
		if code, body := g.post("/hooks/website", websitePayload(i, run)); code != 200 {
			t.Fatalf("post %d = %d %s", i, code, body)
		}
	}
	g.post("/hooks/website", `{"client": `) // one 400

	query := func(q string) (float64, bool) {
		resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		var r struct {
			Status string
			Data   struct {
				Result []struct {
					Value [2]any
				}
			}
		}
		if json.NewDecoder(resp.Body).Decode(&r) != nil || r.Status != "success" || len(r.Data.Result) != 1 {
			return 0, false
		}
		s, _ := r.Data.Result[0].Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		return v, err == nil
	}
	want := map[string]float64{
		`gateway_inbound_requests_total{job="leadgate",source="website",code="200"}`:           leads,
		`gateway_inbound_requests_total{job="leadgate",source="website",code="400"}`:           1,
		`gateway_events_total{job="leadgate",source="website",event="lead.created"}`:           leads,
		`gateway_events_total{job="leadgate",source="website",event="form.submitted"}`:         leads,
		`gateway_deliveries_total{job="leadgate",destination="sink",outcome="success"}`:        2 * leads,
		`gateway_normalize_failures_total{job="leadgate",source="website",reason="malformed"}`: 1,
		`gateway_inbound_duration_seconds_count{job="leadgate",source="website"}`:              leads + 1,
		`gateway_delivery_duration_seconds_count{job="leadgate",destination="sink"}`:           2 * leads,
		`gateway_delivery_lag_seconds_count{job="leadgate"}`:                                   2 * leads,
		`gateway_ready{job="leadgate"}`:                                                        1,
		`gateway_build_info{job="leadgate"}`:                                                   1,
		`up{job="leadgate"}`:                                                                   1,
	}
	waitFor(t, 30*time.Second, func() bool {
		for q, v := range want {
			if got, ok := query(q); !ok || got != v {
				return false
			}
		}
		return true
	}, func() string {
		var b strings.Builder
		for q, v := range want {
			got, ok := query(q)
			fmt.Fprintf(&b, "%s = %v (found %v), want %v\n", q, got, ok, v)
		}
		return b.String() + "prometheus logs:\n" + logs.String()
	})
}

// TestMetricsListen serves /metrics on server.metrics_listen only, so it can
// stay private while the main listener is public.
func TestMetricsListen(t *testing.T) {
	dir := t.TempDir()
	listen, metricsAddr := freeAddr(t), freeAddr(t)
	config := writeConfig(t, dir, listen, "http://127.0.0.1:9/", "")
	b, _ := os.ReadFile(config)
	os.WriteFile(config, []byte(strings.Replace(string(b), "shutdown_grace: 2s}", fmt.Sprintf("shutdown_grace: 2s, metrics_listen: %q}", metricsAddr), 1)), 0o644)
	g := start(t, config, listen)
	resp, err := http.Get(g.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the main listener = %d, want 404", resp.StatusCode)
	}
	var ok bool
	waitFor(t, 10*time.Second, func() bool {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body strings.Builder
		buf := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(buf)
			body.Write(buf[:n])
			if err != nil {
				break
			}
		}
		ok = resp.StatusCode == 200 && strings.Contains(body.String(), "gateway_build_info")
		return ok
	}, func() string { return "metrics_listen never served gateway_build_info; logs:\n" + g.logs.String() })
}
