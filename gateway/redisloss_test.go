package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"leadgate/gateway/redistest"
)

// get answers a GET's status and body, 0 and the error on failure.
func (p *proc) get(path string) (int, string) {
	resp, err := http.Get(p.base + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric reads one unlabelled series from /metrics, "" when absent.
func (p *proc) metric(name string) string {
	code, body := p.get("/metrics")
	if code != http.StatusOK {
		return ""
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	return ""
}

// TestRedisRestartedEmptyFailsReadiness runs the gateway on a Redis
// without persistence, restarts that Redis empty under it, and sees the
// error line, gateway_store_resets_total 1 and /readyz answering 503
// (without the address) until POST /admin/store/acknowledge-reset.
func TestRedisRestartedEmptyFailsReadiness(t *testing.T) {
	srv := redistest.Start(t) // no AOF, no RDB: a restart loses everything
	_, sink := newSink(t, func() int { return http.StatusOK })
	listen := freeAddr(t)
	g := start(t, replicaConfig(t, t.TempDir(), listen, sink.URL, 100000), listen, "REDIS_URL="+srv.URL())

	run := time.Now().Format("150405.000")
	g.postLeads(t, 3, run)
	waitFor(t, 10*time.Second, func() bool { return g.metric("gateway_redis_config_ok") == "0" },
		func() string {
			return "gateway_redis_config_ok never 0 for a Redis without AOF; logs:\n" + g.logs.String()
		})
	if !strings.Contains(g.logs.String(), "redis can lose accepted leads") {
		t.Errorf("no warning about the Redis settings in the log:\n%s", g.logs)
	}
	if got := g.metric("gateway_store_resets_total"); got != "0" {
		t.Fatalf("gateway_store_resets_total before the restart = %q, want 0", got)
	}

	srv.Restart()
	waitFor(t, 20*time.Second, func() bool { return g.metric("gateway_store_resets_total") == "1" },
		func() string { return "gateway_store_resets_total never 1; logs:\n" + g.logs.String() })
	var line map[string]any
	for l := range strings.Lines(g.logs.String()) {
		if strings.Contains(l, "redis lost its data under the running gateway") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
		}
	}
	if line["level"] != "ERROR" {
		t.Fatalf("loss log line = %v, want one at error level; logs:\n%s", line, g.logs)
	}
	for range 3 {
		code, body := g.get("/readyz")
		if code != http.StatusServiceUnavailable || body != `{"status":"not ready"}` {
			t.Fatalf("/readyz after the loss = %d %s, want 503 saying only not ready", code, body)
		}
		time.Sleep(epochEvery)
	}
	if got := g.metric("gateway_store_resets_total"); got != "1" {
		t.Errorf("gateway_store_resets_total after more checks = %q, want still 1", got)
	}

	ack := func(secret string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, g.base+"/admin/store/acknowledge-reset", nil)
		req.Header.Set("X-Access-Key", "test-access")
		req.Header.Set("X-Secret-Key", secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := ack("wrong"); code != http.StatusUnauthorized {
		t.Fatalf("acknowledge with a wrong key = %d, want 401", code)
	}
	if code, body := ack("test-secret"); code != http.StatusOK || body != `{"acknowledged":true}` {
		t.Fatalf("acknowledge = %d %s, want acknowledged", code, body)
	}
	if code, body := g.get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz after acknowledge = %d %s, want 200", code, body)
	}
	// The new epoch holds: no second reset is counted, and leads are taken.
	time.Sleep(2 * epochEvery)
	if code, body := g.get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz a few checks after acknowledge = %d %s, want 200", code, body)
	}
	if got := g.metric("gateway_store_resets_total"); got != "1" {
		t.Errorf("gateway_store_resets_total after acknowledge = %q, want 1", got)
	}
	g.postLeads(t, 1, run+"b")
}
