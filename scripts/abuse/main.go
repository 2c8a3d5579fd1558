// Command abuse runs the attacks of issue 12 against a built gateway binary
// on loopback and checks the bounds of the README's Security section: the
// process's peak RSS under 250 MB and its goroutines under 2,000 through
// every attack, and every attack answered within the rules (400, 413, 429,
// or 200 with the lead bounded). scripts/abuse.sh builds and runs it.
//
// It writes a temporary config (embedded store in a temporary data dir,
// the shipped mappings, admin keys, 127.0.0.1 as a trusted proxy so each
// attack names its own client addresses in X-Forwarded-For) with local
// destinations it serves itself: a recording sink, one answering 410, one
// answering 400, and a notify_url that answers slowly. Every attack is
// bounded in requests and time. It prints one block per attack and exits 1
// when any bound is crossed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	maxRSSBytes   = 250 << 20
	maxGoroutines = 2000
	maxFields     = 200
	maxEventBytes = 128 << 10 // a bounded lead (64 KiB of fields) and its envelope
)

func main() {
	gateway := flag.String("gateway", "", "the gateway binary")
	mappings := flag.String("mappings", "mappings", "the mappings folder to serve")
	flag.Parse()
	if *gateway == "" {
		fmt.Fprintln(os.Stderr, "usage: abuse -gateway PATH [-mappings DIR]")
		os.Exit(2)
	}
	os.Exit(run(*gateway, *mappings))
}

// target is the gateway under attack and the local servers it talks to.
type target struct {
	base   string // http://127.0.0.1:port
	pid    int
	client *http.Client
	sink   *sink
	notes  []string // what the attack running now observed, printed with it
	// noticesSeen counts the dead-letter notices the notify_url got.
	noticesSeen func() int64
}

// note records an observation of the attack running now.
func (t *target) note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

func run(gatewayBin, mappingsDir string) int {
	tmp, err := os.MkdirTemp("", "leadgate-abuse-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)

	sk := &sink{}
	sinkURL := serve(sk)
	goneURL := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusGone)
	}))
	badURL := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusBadRequest)
	}))
	notices := new(atomic.Int64)
	slowURL := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		notices.Add(1)
		select { // a notify_url that hangs: the gateway's notices must not pile up
		case <-time.After(20 * time.Second):
		case <-r.Context().Done():
		}
	}))

	port := freePort()
	cfg := fmt.Sprintf(`server:
  listen: "127.0.0.1:%d"
  body_limit: 1048576
  trusted_proxies: ["127.0.0.1"]
storage: {data_dir: %q}
redis: {url: ""}
mappings_dir: %q
notify_url: %q
rate_limit: {requests: 25, per: 5s}
admin: {access_key: "abuse-access", secret_key: "abuse-secret-0123456789"}
log: {level: error}
destinations:
  - name: sink
    url: %s/events
    events: [lead.created, lead.updated]
    sources: [website]
  - name: gone
    url: %s/hook
    events: [lead.created]
    sources: [save_lead]
    retry: {max_attempts: 1}
  - name: bad
    url: %s/hook
    events: [lead.created]
    sources: [save_lead]
    retry: {max_attempts: 1}
`, port, filepath.Join(tmp, "data"), mustAbs(mappingsDir), slowURL+"/notify", sinkURL, goneURL, badURL)
	cfgPath := filepath.Join(tmp, "gateway.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cmd := exec.Command(gatewayBin, "-config", cfgPath)
	cmd.Env = append(os.Environ(), "WEBSITE_WEBHOOK_TOKEN=", "SAVE_LEAD_TOKEN=", "LEADSIE_WEBHOOK_TOKEN=", "REDIS_URL=")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start gateway:", err)
		return 1
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	t := &target{
		base: fmt.Sprintf("http://127.0.0.1:%d", port),
		pid:  cmd.Process.Pid,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64,
		}},
		sink:        sk,
		noticesSeen: notices.Load,
	}
	if !t.waitReady(15 * time.Second) {
		fmt.Fprintf(os.Stderr, "gateway never answered /healthz; its log:\n%s\n", logs.String())
		return 1
	}

	attacks := []struct {
		name string
		run  func(t *target) (counts, []string)
	}{
		{"nested JSON flood (80 x 0.5 MB of brackets, 40 at once)", nestedFlood},
		{"huge field count (8 posts x 20,000 new keys, one lead)", fieldFlood},
		{"rotating limit keys (60 leadsie posts, a new customUserId each)", rotatingKeys},
		{"someone else's key (40 posts naming customUserId=victim, then the victim)", otherClientsKey},
		{"one IPv6 /64 (40 posts from 40 addresses of it)", ipv6Block},
		{"brute force: wrong admin keys (15)", bruteAdmin},
		{"brute force: wrong console sign-in (15)", bruteConsole},
		{"brute force: wrong LeadSquared keys (15)", bruteLeadSquared},
		{"dead-letter notice flood (3,000 leads to a 410 and a 400 destination, notify_url hangs)", noticeFlood},
	}
	failed := 0
	start := time.Now()
	for i, a := range attacks {
		s := t.sample()
		c, problems := a.run(t)
		peakRSS, peakAnon, peakG, hwm := s.stop()
		if peakRSS >= maxRSSBytes {
			problems = append(problems, fmt.Sprintf("peak RSS %d MB, bound %d MB", peakRSS>>20, maxRSSBytes>>20))
		}
		if peakG >= maxGoroutines {
			problems = append(problems, fmt.Sprintf("%d goroutines, bound %d", peakG, maxGoroutines))
		}
		verdict := "PASS"
		if len(problems) > 0 {
			verdict, failed = "FAIL", failed+1
		}
		fmt.Printf("%d. %s\n   %s  peak RSS %d MB (anonymous %d MB, VmHWM %d MB)  peak goroutines %d  answers %s\n",
			i+1, a.name, verdict, peakRSS>>20, peakAnon>>20, hwm>>20, peakG, c)
		for _, n := range t.notes {
			fmt.Printf("   (%s)\n", n)
		}
		t.notes = nil
		for _, p := range problems {
			fmt.Printf("   - %s\n", p)
		}
	}
	fmt.Printf("\n%d of %d attacks within the bounds (peak RSS < %d MB, goroutines < %d, answers within the rules) in %s\n",
		len(attacks)-failed, len(attacks), maxRSSBytes>>20, maxGoroutines, time.Since(start).Round(time.Second))
	if failed > 0 {
		return 1
	}
	return 0
}

// counts are the status codes of one attack's answers; 0 is a transport
// error (no answer).
type counts map[int]int

func (c counts) String() string {
	codes := make([]int, 0, len(c))
	for k := range c {
		codes = append(codes, k)
	}
	sort.Ints(codes)
	parts := make([]string, 0, len(codes))
	for _, k := range codes {
		name := strconv.Itoa(k)
		if k == 0 {
			name = "error"
		}
		parts = append(parts, fmt.Sprintf("%s x%d", name, c[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// only reports the codes outside allowed.
func (c counts) only(allowed ...int) []string {
	var out []string
	for code, n := range c {
		if !slices.Contains(allowed, code) {
			out = append(out, fmt.Sprintf("%d answers of %d, want only %v", n, code, allowed))
		}
	}
	return out
}

type request struct {
	method, path, contentType, from string
	body                            []byte
	header                          map[string]string
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (t *target) do(r request) response {
	req, err := http.NewRequest(r.method, t.base+r.path, bytes.NewReader(r.body))
	if err != nil {
		return response{}
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.from != "" {
		req.Header.Set("X-Forwarded-For", r.from)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return response{}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return response{code: resp.StatusCode, header: resp.Header, body: body}
}

// all sends reqs, conc at a time, and counts the answers.
func (t *target) all(reqs []request, conc int) (counts, []response) {
	out := make([]response, len(reqs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, conc)
	for i := range reqs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = t.do(reqs[i])
		}()
	}
	wg.Wait()
	c := counts{}
	for _, r := range out {
		c[r.code]++
	}
	return c, out
}

func nestedFlood(t *target) (counts, []string) {
	body := []byte(`{"a":` + strings.Repeat("[", 512<<10))
	var reqs []request
	for i := 0; i < 40; i++ { // each from its own address: every one is parsed
		ct := "application/json"
		if i%2 == 1 {
			ct = "text/plain"
		}
		reqs = append(reqs, request{method: "POST", path: "/hooks/website", contentType: ct, from: fmt.Sprintf("198.51.100.%d", i+1), body: body})
	}
	for i := 0; i < 40; i++ { // and from one address: limited
		reqs = append(reqs, request{method: "POST", path: "/hooks/website", contentType: "application/json", from: "198.51.100.200", body: body})
	}
	c, _ := t.all(reqs, 40)
	return c, c.only(400, 413, 429)
}

func fieldFlood(t *target) (counts, []string) {
	var reqs []request
	for p := 0; p < 8; p++ {
		var b bytes.Buffer
		b.WriteString(`{"email":"flood@example.com"`)
		for i := 0; i < 20_000; i++ {
			fmt.Fprintf(&b, `,"p%d_%05d":"v"`, p, i)
		}
		b.WriteString("}")
		reqs = append(reqs, request{method: "POST", path: "/hooks/website", contentType: "application/json", from: "198.51.100.210", body: b.Bytes()})
	}
	c := counts{}
	for _, r := range reqs { // in order: one lead growing
		c[t.do(r).code]++
	}
	problems := c.only(200)
	// The sink gets the lead's events; wait for the last few.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && t.sink.count("flood@example.com") < 2 {
		time.Sleep(100 * time.Millisecond)
	}
	n, fields, size := t.sink.largest("flood@example.com")
	if n == 0 {
		problems = append(problems, "the sink got none of the lead's events")
	}
	if fields > maxFields || size > maxEventBytes {
		problems = append(problems, fmt.Sprintf("largest event: %d fields, %d bytes; want at most %d fields and %d bytes", fields, size, maxFields, maxEventBytes))
	}
	dropped := t.metric(`gateway_fields_dropped_total{source="website"}`)
	t.note("%d events at the sink, largest %d fields and %d bytes; gateway_fields_dropped_total{source=\"website\"} %s", n, fields, size, dropped)
	if dropped == "" || dropped == "0" {
		problems = append(problems, "gateway_fields_dropped_total{source=\"website\"} did not count the dropped keys")
	}
	return c, problems
}

func rotatingKeys(t *target) (counts, []string) {
	var reqs []request
	for i := 0; i < 60; i++ {
		reqs = append(reqs, request{method: "POST", path: fmt.Sprintf("/hooks/leadsie?customUserId=rot%d", i), contentType: "application/json",
			from: "198.51.100.220", body: []byte(leadsieBody)})
	}
	c, _ := t.all(reqs, 4)
	problems := c.only(200, 429)
	if c[200] > 25 {
		problems = append(problems, fmt.Sprintf("%d accepted from one address inventing keys, limit 25 per 5s", c[200]))
	}
	return c, problems
}

func otherClientsKey(t *target) (counts, []string) {
	var reqs []request
	for i := 0; i < 40; i++ {
		reqs = append(reqs, request{method: "POST", path: "/hooks/leadsie?customUserId=victim", contentType: "application/json",
			from: "198.51.100.230", body: []byte(fmt.Sprintf(`{"status":"SUCCESS","requestName":"attack %d"}`, i))})
	}
	c, _ := t.all(reqs, 4)
	problems := c.only(200, 429)
	victim := counts{}
	for i := 0; i < 5; i++ {
		r := t.do(request{method: "POST", path: "/hooks/leadsie?customUserId=victim", contentType: "application/json",
			from: "203.0.113.77", body: []byte(fmt.Sprintf(`{"status":"SUCCESS","requestName":"own %d"}`, i))})
		victim[r.code]++
		c[r.code]++
	}
	if victim[200] != 5 {
		problems = append(problems, fmt.Sprintf("the victim's own posts from its address got %s, want 5 x 200", victim))
	}
	return c, problems
}

func ipv6Block(t *target) (counts, []string) {
	var reqs []request
	for i := 0; i < 40; i++ {
		reqs = append(reqs, request{method: "POST", path: "/hooks/leadsie?customUserId=v6", contentType: "application/json",
			from: fmt.Sprintf("2001:db8:abcd:12:%x::%x", i+1, i+7), body: []byte(fmt.Sprintf(`{"status":"SUCCESS","requestName":"v6 %d"}`, i))})
	}
	c, _ := t.all(reqs, 4)
	problems := c.only(200, 429)
	if c[200] > 25 {
		problems = append(problems, fmt.Sprintf("%d accepted from one /64, limit 25 per 5s", c[200]))
	}
	return c, problems
}

// brute sends 15 wrong-key requests from one address and wants at most 10
// failures answered before the 429s (contract §7), the last one a 429 with
// Retry-After.
func brute(t *target, mk func(i int) request) (counts, []string) {
	c := counts{}
	var last response
	for i := 0; i < 15; i++ {
		last = t.do(mk(i))
		c[last.code]++
	}
	problems := c.only(401, 429)
	if c[401] > 10 {
		problems = append(problems, fmt.Sprintf("%d wrong keys answered 401 from one address, want 429 after 10 failures a minute", c[401]))
	}
	if last.code != 429 || last.header.Get("Retry-After") == "" {
		problems = append(problems, fmt.Sprintf("the 15th wrong key got %d (Retry-After %q), want 429 with Retry-After", last.code, last.header.Get("Retry-After")))
	}
	return c, problems
}

func bruteAdmin(t *target) (counts, []string) {
	return brute(t, func(i int) request {
		return request{method: "GET", path: "/admin/dead-letters", from: "198.51.100.240",
			header: map[string]string{"X-Access-Key": "abuse-access", "X-Secret-Key": fmt.Sprintf("guess-%d", i)}}
	})
}

func bruteConsole(t *target) (counts, []string) {
	return brute(t, func(i int) request {
		form := url.Values{"access_key": {"abuse-access"}, "secret_key": {fmt.Sprintf("guess-%d", i)}}
		return request{method: "POST", path: "/ui/login", contentType: "application/x-www-form-urlencoded", from: "198.51.100.241",
			body: []byte(form.Encode())}
	})
}

func bruteLeadSquared(t *target) (counts, []string) {
	return brute(t, func(i int) request {
		return request{method: "GET", path: fmt.Sprintf("/v2/Webhook.svc/Retrieve?accessKey=abuse-access&secretKey=guess-%d", i), from: "198.51.100.242"}
	})
}

func noticeFlood(t *target) (counts, []string) {
	// 3,000 new leads from 120 addresses, 25 each: within the limit, each
	// dead-lettered at once by both destinations.
	var reqs []request
	for i := 0; i < 3000; i++ {
		reqs = append(reqs, request{method: "POST", path: "/hooks/save_lead", contentType: "application/json",
			from: fmt.Sprintf("10.%d.%d.1", 1+i/25/250, 1+(i/25)%250), body: []byte(fmt.Sprintf(`{"data":{"email":"dl%d@example.com"}}`, i))})
	}
	c, _ := t.all(reqs, 32)
	problems := c.only(200)
	// Let the deliveries fail and the notices pile up, if they do.
	time.Sleep(8 * time.Second)
	t.note("heap in use %s bytes, heap objects %s", t.metric("go_memstats_heap_inuse_bytes"), t.metric("go_memstats_heap_objects"))
	t.note("dead letters %s, notices the hanging notify_url got %d, gateway_notices_dropped_total %q",
		t.metric(`gateway_queue_depth{state="dead"}`), t.noticesSeen(), t.metric("gateway_notices_dropped_total"))
	return c, problems
}

const leadsieBody = `{"status":"SUCCESS","connectionAssets":[{"type":"Page","name":"P","id":"1","isSuccess":true}]}`

// sink records the canonical events it is sent.
type sink struct {
	mu     sync.Mutex
	events []sunk
}

type sunk struct {
	email  string
	fields int
	size   int
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev struct {
		Lead struct {
			Email  string         `json:"email"`
			Fields map[string]any `json:"fields"`
		} `json:"lead"`
	}
	json.Unmarshal(body, &ev)
	s.mu.Lock()
	s.events = append(s.events, sunk{email: ev.Lead.Email, fields: len(ev.Lead.Fields), size: len(body)})
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *sink) count(email string) int {
	n, _, _ := s.largest(email)
	return n
}

// largest answers how many events of email arrived and the most fields and
// bytes one of them had.
func (s *sink) largest(email string) (n, fields, size int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		if e.email == email {
			n++
			fields, size = max(fields, e.fields), max(size, e.size)
		}
	}
	return n, fields, size
}

// sampler follows the gateway's RSS and goroutines during one attack.
type sampler struct {
	stopc chan struct{}
	done  chan struct{}
	rss   int64
	anon  int64 // RssAnon: the heap and stacks, without the store's mmap
	g     int
	t     *target
}

func (t *target) sample() *sampler {
	s := &sampler{stopc: make(chan struct{}), done: make(chan struct{}), t: t}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		n := 0
		for {
			s.rss = max(s.rss, procStatus(t.pid, "VmRSS"))
			s.anon = max(s.anon, procStatus(t.pid, "RssAnon"))
			if n%4 == 0 { // /metrics every 200 ms
				if g, err := strconv.Atoi(t.metric("go_goroutines")); err == nil {
					s.g = max(s.g, g)
				}
			}
			n++
			select {
			case <-s.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() (rss, anon int64, goroutines int, hwm int64) {
	close(s.stopc)
	<-s.done
	s.rss = max(s.rss, procStatus(s.t.pid, "VmRSS"))
	s.anon = max(s.anon, procStatus(s.t.pid, "RssAnon"))
	if g, err := strconv.Atoi(s.t.metric("go_goroutines")); err == nil {
		s.g = max(s.g, g)
	}
	return s.rss, s.anon, s.g, procStatus(s.t.pid, "VmHWM")
}

// procStatus reads a kB line of /proc/PID/status, in bytes.
func procStatus(pid int, key string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// metric is one sample's value from /metrics, as written ("" when absent).
func (t *target) metric(series string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return v
		}
	}
	return ""
}

func (t *target) waitReady(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if r := t.do(request{method: "GET", path: "/healthz"}); r.code == 200 {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// serve runs h on a free loopback port for the program's life.
func serve(h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		if err := http.Serve(ln, h); err != nil && !errors.Is(err, net.ErrClosed) {
			fmt.Fprintln(os.Stderr, "serve:", err)
		}
	}()
	return "http://" + ln.Addr().String()
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}
