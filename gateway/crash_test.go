package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"leadgate/gateway/internal/syncbuf"
	"leadgate/gateway/store"
	"leadgate/gateway/store/bolt"
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
	logs *syncbuf.Buffer
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
// that delivers everything to sinkURL with quick retries; extra is more
// destination entries (or keys of this one).
func writeConfig(t *testing.T, dir, listen, sinkURL, extra string) string {
	t.Helper()
	return writeDestinations(t, dir, listen, fmt.Sprintf(`  - name: sink
    url: %s
    timeout: 2s
    retry: {max_attempts: 100, schedule: [100ms]}
%s`, sinkURL, extra))
}

// writeDestinations writes a gateway.yaml into dir (with the shipped
// mappings) whose destinations are dests.
func writeDestinations(t *testing.T, dir, listen, dests string) string {
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
%s`, listen, dests)
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
	p := &proc{t: t, base: "http://" + listen, logs: &syncbuf.Buffer{}}
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

// sink records every delivery; it answers with status() each time, or with
// answer(r) when that is set.
type sink struct {
	mu     sync.Mutex
	status func() int
	answer func(r *http.Request) int
	got    map[string]map[string]bool // lead_id → event ids
	ids    map[string]int             // webhook-id → deliveries seen
	// byPath: URL path → event id → what was delivered (answered 2xx).
	byPath map[string]map[string]delivery
	// seen lists every request, in order of arrival.
	seen []seenRequest
	// mismatch names a request whose webhook-id was not its body's id.
	mismatch string
}

type delivery struct{ leadID, event string }

type seenRequest struct {
	path, webhookID string
	code            int
}

func newSink(t *testing.T, status func() int) (*sink, *httptest.Server) {
	s := &sink{status: status, got: map[string]map[string]bool{}, ids: map[string]int{}, byPath: map[string]map[string]delivery{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			ID     string `json:"id"`
			LeadID string `json:"lead_id"`
			Event  string `json:"event"`
		}
		json.NewDecoder(r.Body).Decode(&ev)
		// Read to the end, so the server notices when the client goes away
		// (a hanging answer waits for that).
		io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		answer := s.answer
		s.mu.Unlock()
		var code int
		if answer != nil {
			code = answer(r)
		} else {
			code = s.status()
		}
		wid := r.Header.Get("webhook-id")
		s.mu.Lock()
		s.ids[wid]++
		s.seen = append(s.seen, seenRequest{path: r.URL.Path, webhookID: wid, code: code})
		if wid != ev.ID && s.mismatch == "" {
			s.mismatch = fmt.Sprintf("webhook-id %q carried event %q", wid, ev.ID)
		}
		if code < 300 {
			if s.got[ev.LeadID] == nil {
				s.got[ev.LeadID] = map[string]bool{}
			}
			s.got[ev.LeadID][ev.ID] = true
			if s.byPath[r.URL.Path] == nil {
				s.byPath[r.URL.Path] = map[string]delivery{}
			}
			s.byPath[r.URL.Path][ev.ID] = delivery{ev.LeadID, ev.Event}
		}
		s.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return s, srv
}

func (s *sink) setAnswer(f func(r *http.Request) int) {
	s.mu.Lock()
	s.answer = f
	s.mu.Unlock()
}

// waitDelivered waits until every lead in leads had an event delivered (at
// least one: for configs that route one event per lead). The crash tests
// use waitExact, which checks every event.
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

// websiteEvents are the events a first website form post makes.
var websiteEvents = []string{"form.submitted", "lead.created"}

// exact compares what each path got with what leads should have produced:
// per path, one delivered event id per (lead, event), nothing else, and the
// same event ids on every path. It returns "" when they match.
func (s *sink) exact(paths, leads []string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[delivery]bool{}
	for _, l := range leads {
		for _, e := range websiteEvents {
			want[delivery{l, e}] = true
		}
	}
	var first map[string]delivery
	for _, p := range paths {
		got := s.byPath[p]
		pairs := map[delivery]bool{}
		for id, d := range got {
			if !want[d] {
				return fmt.Sprintf("%s got event %s (%s of lead %s), which no accepted lead produced", p, id, d.event, d.leadID)
			}
			if pairs[d] {
				return fmt.Sprintf("%s got two event ids for %s of lead %s", p, d.event, d.leadID)
			}
			pairs[d] = true
		}
		if len(pairs) != len(want) {
			return fmt.Sprintf("%s got %d of the %d accepted events", p, len(pairs), len(want))
		}
		if first == nil {
			first = got
		} else if !maps.Equal(first, got) {
			return fmt.Sprintf("%s and %s got different event ids", paths[0], p)
		}
	}
	return s.mismatch
}

// waitExact waits until exact reports nothing, and fails with its last
// complaint.
func (s *sink) waitExact(t *testing.T, limit time.Duration, paths, leads []string, logs *syncbuf.Buffer) {
	t.Helper()
	var last string
	waitFor(t, limit, func() bool { last = s.exact(paths, leads); return last == "" }, func() string {
		return fmt.Sprintf("deliveries never matched the accepted events: %s; logs:\n%s", last, logs)
	})
}

// eventIDs is the set of event ids delivered to path.
func (s *sink) eventIDs(path string) map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := map[string]bool{}
	for id := range s.byPath[path] {
		ids[id] = true
	}
	return ids
}

// storedEventIDs opens a stopped gateway's embedded store and lists every
// event it holds.
func storedEventIDs(t *testing.T, dataDir string) map[string]bool {
	t.Helper()
	st, err := bolt.Open(dataDir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids := map[string]bool{}
	q := store.EventQuery{Limit: 500}
	for {
		evs, next, err := st.Events(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			ids[ev.ID] = true
		}
		if next == "" {
			return ids
		}
		q.Cursor = next
	}
}

// twoDestinations is an extra for writeConfig: destinations a and b on
// sinkURL's /a and /b, with the given timeout and retry wait.
func twoDestinations(sinkURL, timeout, retry string) string {
	var b strings.Builder
	for _, name := range []string{"a", "b"} {
		fmt.Fprintf(&b, `  - name: %s
    url: %s/%s
    timeout: %s
    retry: {max_attempts: 100, schedule: [%s]}
`, name, sinkURL, name, timeout, retry)
	}
	return b.String()
}

func websitePayload(i int, run string) string {
	return fmt.Sprintf(`{"client":"crash","source":"website","branch":"Main Branch","lead_details":[`+
		`{"lead_field":"name","lead_value":"Lead %d"},{"lead_field":"email","lead_value":"lead%d.%s@example.com"}]}`, i, i, run)
}

// TestCrashAfterAcceptKeepsEveryLead kills the gateway with SIGKILL right
// after it answered 200s while the destinations are down, restarts it, and
// finds every accepted lead still known (the duplicate rule answers the same
// lead_id) and every one of its events delivered to both destinations.
func TestCrashAfterAcceptKeepsEveryLead(t *testing.T) {
	var up atomic.Bool
	s, srv := newSink(t, func() int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	})
	dir := t.TempDir()
	listen := freeAddr(t)
	config := writeConfig(t, dir, listen, srv.URL+"/sink", twoDestinations(srv.URL, "2s", "100ms"))
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

	up.Store(true)
	g = start(t, config, listen)
	for i, leadID := range accepted {
		code, body := g.post("/hooks/website", websitePayload(i, run))
		if code != http.StatusOK || !strings.Contains(body, leadID) {
			t.Errorf("repeat of payload %d after restart = %d %s, want 200 with lead_id %s", i, code, body, leadID)
		}
	}
	s.waitExact(t, 20*time.Second, []string{"/sink", "/a", "/b"}, slices.Collect(maps.Values(accepted)), g.logs)
}

// TestCrashDuringDeliveryDeliversEverything kills the gateway with SIGKILL
// at a moment when one delivery is hanging at the destination (in flight)
// and another was answered 500 (its retry scheduled), restarts it, and finds
// every accepted event delivered to both destinations, the two interrupted
// ones again with the webhook-id they had before, and nothing the store does
// not hold.
func TestCrashDuringDeliveryDeliversEverything(t *testing.T) {
	s, srv := newSink(t, func() int { return http.StatusOK })
	armed := make(chan struct{})
	var mu sync.Mutex
	var hangingID, failedID string
	// Until armed, requests wait, so the queue is still full when the
	// leads are all in. Then the first request to /a hangs until the
	// gateway dies, the first to /b is answered 500, the rest 200.
	s.setAnswer(func(r *http.Request) int {
		<-armed
		id := r.Header.Get("webhook-id")
		mu.Lock()
		switch {
		case r.URL.Path == "/a" && hangingID == "":
			hangingID = id
			mu.Unlock()
			<-r.Context().Done() // the gateway's end closes the connection
			return http.StatusServiceUnavailable
		case r.URL.Path == "/b" && failedID == "":
			failedID = id
			mu.Unlock()
			return http.StatusInternalServerError
		}
		mu.Unlock()
		return http.StatusOK
	})
	dir := t.TempDir()
	listen := freeAddr(t)
	config := writeDestinations(t, dir, listen, twoDestinations(srv.URL, "5s", "2s"))
	g := start(t, config, listen)

	leads := g.postLeads(t, 30, fmt.Sprint(time.Now().UnixNano()))
	close(armed)
	waitFor(t, 10*time.Second, func() bool {
		mu.Lock()
		hanging, failed := hangingID, failedID
		mu.Unlock()
		return hanging != "" && failed != "" && g.deliveryStatus(failed, "b") == "retrying"
	}, func() string { return "never had a request hanging and a retry scheduled; logs:\n" + g.logs.String() })
	g.kill()
	before := s.count()

	g = start(t, config, listen)
	s.waitExact(t, 30*time.Second, []string{"/a", "/b"}, leads, g.logs)
	if !s.sentAgain(before, "/a", hangingID) {
		t.Errorf("the delivery in flight at the kill (%s) was not sent again after the restart", hangingID)
	}
	if !s.sentAgain(before, "/b", failedID) {
		t.Errorf("the delivery answered 500 before the kill (%s) was not retried after the restart", failedID)
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	g.cmd.Wait()
	if stored, got := storedEventIDs(t, filepath.Join(dir, "data")), s.eventIDs("/a"); !maps.Equal(stored, got) {
		t.Errorf("the store holds %d events, the destinations got %d different ones", len(stored), len(got))
	}
}

// deliveryStatus asks the admin API for the status of event id's delivery
// to dest: "pending", "retrying", "delivered", "dead", or "" if unknown.
func (p *proc) deliveryStatus(id, dest string) string {
	req, _ := http.NewRequest(http.MethodGet, p.base+"/admin/events/"+id, nil)
	req.Header.Set("X-Access-Key", "test-access")
	req.Header.Set("X-Secret-Key", "test-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var rec struct {
		Deliveries []struct {
			Destination string `json:"destination"`
			Status      string `json:"status"`
		} `json:"deliveries"`
	}
	json.NewDecoder(resp.Body).Decode(&rec)
	for _, d := range rec.Deliveries {
		if d.Destination == dest {
			return d.Status
		}
	}
	return ""
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// sentAgain says whether id was delivered (2xx) to path after the first
// `after` requests.
func (s *sink) sentAgain(after int, path, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.seen[after:] {
		if r.path == path && r.webhookID == id && r.code < 300 {
			return true
		}
	}
	return false
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
	config := writeConfig(t, dir, listen, srv.URL+"/sink", "")
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
	s.waitExact(t, 30*time.Second, []string{"/sink"}, leads, g.logs)
}

// TestUnpaddedSecretSignsEndToEnd: a whsec_ secret without base64 padding,
// which the config accepts, signs every delivery of the real binary, and a
// receiver verifies the signature with the same key.
func TestUnpaddedSecretSignsEndToEnd(t *testing.T) {
	key := []byte("a key of 25 bytes, no pad")
	secret := "whsec_" + base64.RawStdEncoding.EncodeToString(key)
	type got struct {
		h    http.Header
		body []byte
	}
	reqs := make(chan got, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		reqs <- got{r.Header.Clone(), b}
	}))
	defer srv.Close()
	dir := t.TempDir()
	listen := freeAddr(t)
	g := start(t, writeConfig(t, dir, listen, srv.URL, "    events: [lead.created]\n    secret: "+secret+"\n"), listen)
	g.postLeads(t, 1, fmt.Sprint(time.Now().UnixNano()))
	var r got
	select {
	case r = <-reqs:
	case <-time.After(20 * time.Second):
		t.Fatalf("nothing delivered; logs:\n%s", g.logs)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", r.h.Get("webhook-id"), r.h.Get("webhook-timestamp"), r.body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if sig := r.h.Get("webhook-signature"); sig != want {
		t.Fatalf("webhook-signature = %q, want %q", sig, want)
	}
}
