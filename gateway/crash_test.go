package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the gateway built once for the tests that run it as a process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "leadgate-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gateway")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gateway:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one running gateway process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	logs *syncBuffer
}

// syncBuffer is a bytes.Buffer the process's output goroutine and the test
// can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeConfig writes a gateway.yaml into dir (with the shipped mappings)
// that delivers everything to sinkURL with quick retries.
func writeConfig(t *testing.T, dir, listen, sinkURL, extra string) string {
	t.Helper()
	if err := os.CopyFS(filepath.Join(dir, "mappings"), os.DirFS("../mappings")); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`server: {listen: %q, shutdown_grace: 2s}
storage: {data_dir: ./data}
mappings_dir: mappings
rate_limit: {requests: 100000, per: 1s}
admin: {access_key: test-access, secret_key: test-secret}
log: {level: debug}
destinations:
  - name: sink
    url: %s
    timeout: 2s
    retry: {max_attempts: 100, schedule: [100ms]}
%s`, listen, sinkURL, extra)
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// start runs the gateway on config and waits until it is ready.
func start(t *testing.T, config, listen string, env ...string) *proc {
	t.Helper()
	return startUntil(t, "/readyz", config, listen, env...)
}

// startUntil runs the gateway on config and waits until path answers 200.
func startUntil(t *testing.T, path, config, listen string, env ...string) *proc {
	t.Helper()
	p := &proc{t: t, base: "http://" + listen, logs: &syncBuffer{}}
	p.cmd = exec.Command(binary, "-config", config)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.base + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("gateway never became ready; logs:\n%s", p.logs)
	return nil
}

// kill sends SIGKILL: no shutdown code runs.
func (p *proc) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

// postLeads posts n distinct website leads one after another, each of
// which must be accepted, and returns their lead ids.
func (p *proc) postLeads(t *testing.T, n int, run string) []string {
	t.Helper()
	leads := make([]string, 0, n)
	for i := range n {
		code, body := p.post("/hooks/website", websitePayload(i, run))
		if code != http.StatusOK {
			t.Fatalf("post %d = %d %s", i, code, body)
		}
		leads = append(leads, leadID(t, body))
	}
	return leads
}

func (p *proc) post(path, body string) (int, string) {
	resp, err := http.Post(p.base+path, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sink records every delivery; it answers with status() each time.
type sink struct {
	mu     sync.Mutex
	status func() int
	got    map[string]map[string]bool // lead_id → event ids
	ids    map[string]int             // webhook-id → deliveries seen
}

func newSink(t *testing.T, status func() int) (*sink, *httptest.Server) {
	s := &sink{status: status, got: map[string]map[string]bool{}, ids: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			ID     string `json:"id"`
			LeadID string `json:"lead_id"`
			Event  string `json:"event"`
		}
		json.NewDecoder(r.Body).Decode(&ev)
		code := s.status()
		s.mu.Lock()
		s.ids[r.Header.Get("webhook-id")]++
		if code < 300 {
			if s.got[ev.LeadID] == nil {
				s.got[ev.LeadID] = map[string]bool{}
			}
			s.got[ev.LeadID][ev.ID] = true
		}
		s.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return s, srv
}

// waitDelivered waits until every lead in leads had an event delivered.
func (s *sink) waitDelivered(t *testing.T, limit time.Duration, leads []string, why func() string) {
	t.Helper()
	waitFor(t, limit, func() bool {
		for _, id := range leads {
			if !s.delivered(id) {
				return false
			}
		}
		return true
	}, why)
}

func (s *sink) delivered(leadID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got[leadID]) > 0
}

func websitePayload(i int, run string) string {
	return fmt.Sprintf(`{"client":"crash","source":"website","branch":"Main Branch","lead_details":[`+
		`{"lead_field":"name","lead_value":"Lead %d"},{"lead_field":"email","lead_value":"lead%d.%s@example.com"}]}`, i, i, run)
}

// TestCrashAfterAcceptKeepsEveryLead kills the gateway with SIGKILL right
// after it answered 200s while the destination is down, restarts it, and
// finds every accepted lead still known (the duplicate rule answers the same
// lead_id) and delivered once the destination is up.
func TestCrashAfterAcceptKeepsEveryLead(t *testing.T) {
	var up sync.Mutex
	isUp := false
	s, srv := newSink(t, func() int {
		up.Lock()
		defer up.Unlock()
		if isUp {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	})
	dir := t.TempDir()
	listen := freeAddr(t)
	config := writeConfig(t, dir, listen, srv.URL, "")
	g := start(t, config, listen)

	run := fmt.Sprint(time.Now().UnixNano())
	const n = 40
	accepted := map[int]string{} // payload → lead_id
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := g.post("/hooks/website", websitePayload(i, run))
			if code != http.StatusOK {
				return
			}
			var ok struct {
				LeadID string `json:"lead_id"`
			}
			json.Unmarshal([]byte(body), &ok)
			mu.Lock()
			accepted[i] = ok.LeadID
			mu.Unlock()
		}()
	}
	wg.Wait()
	g.kill()
	if len(accepted) != n {
		t.Fatalf("accepted %d of %d before the crash; logs:\n%s", len(accepted), n, g.logs)
	}

	up.Lock()
	isUp = true
	up.Unlock()
	g = start(t, config, listen)
	for i, leadID := range accepted {
		code, body := g.post("/hooks/website", websitePayload(i, run))
		if code != http.StatusOK || !strings.Contains(body, leadID) {
			t.Errorf("repeat of payload %d after restart = %d %s, want 200 with lead_id %s", i, code, body, leadID)
		}
	}
	s.waitDelivered(t, 20*time.Second, slices.Collect(maps.Values(accepted)), func() string {
		return fmt.Sprintf("not every accepted lead was delivered after restart; logs:\n%s", g.logs)
	})
}

// TestCrashDuringDeliveryDeliversEverything kills the gateway with SIGKILL
// while deliveries are in flight and retries are scheduled, restarts it,
// and finds every accepted event delivered.
func TestCrashDuringDeliveryDeliversEverything(t *testing.T) {
	var calls sync.Mutex
	count := 0
	// Every third call fails, so retries are always scheduled; every call is
	// slow enough that some are in flight at the kill.
	s, srv := newSink(t, func() int {
		calls.Lock()
		count++
		c := count
		calls.Unlock()
		time.Sleep(20 * time.Millisecond)
		if c%3 == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	dir := t.TempDir()
	listen := freeAddr(t)
	config := writeConfig(t, dir, listen, srv.URL, "")
	g := start(t, config, listen)

	leads := g.postLeads(t, 60, fmt.Sprint(time.Now().UnixNano()))
	g.kill()

	g = start(t, config, listen)
	s.waitDelivered(t, 30*time.Second, leads, func() string { return fmt.Sprintf("not every event delivered after the crash; logs:\n%s", g.logs) })
}

func waitFor(t *testing.T, limit time.Duration, cond func() bool, why func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(why())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGracefulStop sends SIGTERM while slow deliveries are in flight: the
// process exits within its grace, and whatever it did not deliver is
// delivered after the next start.
func TestGracefulStop(t *testing.T) {
	s, srv := newSink(t, func() int {
		time.Sleep(300 * time.Millisecond)
		return http.StatusOK
	})
	dir := t.TempDir()
	listen := freeAddr(t)
	config := writeConfig(t, dir, listen, srv.URL, "")
	g := start(t, config, listen)
	leads := g.postLeads(t, 30, fmt.Sprint(time.Now().UnixNano()))
	stopped := time.Now()
	g.cmd.Process.Signal(syscall.SIGTERM)
	if err := g.cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM exit: %v; logs:\n%s", err, g.logs)
	}
	// shutdown_grace is 2s in writeConfig; allow for process start-up noise.
	if took := time.Since(stopped); took > 6*time.Second {
		t.Errorf("stopping took %v, want within the 2s grace (plus slack)", took)
	}
	if !strings.Contains(g.logs.String(), "shutting down") {
		t.Errorf("no shutdown line in the log:\n%s", g.logs)
	}
	g = start(t, config, listen)
	s.waitDelivered(t, 30*time.Second, leads, func() string {
		return "not every lead delivered after a graceful stop and restart; logs:\n" + g.logs.String()
	})
}
