package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"leadgate/gateway/redistest"
)

// replicaConfig writes a config for replicas sharing one Redis: the inbound
// limit is limit per 5 s, deliveries go to sinkURL.
func replicaConfig(t *testing.T, dir, listen, sinkURL string, limit int) string {
	t.Helper()
	path := writeConfig(t, dir, listen, sinkURL, "")
	b, _ := os.ReadFile(path)
	cfg := strings.Replace(string(b), "rate_limit: {requests: 100000, per: 1s}", fmt.Sprintf("rate_limit: {requests: %d, per: 5s}", limit), 1)
	cfg = strings.Replace(cfg, "retry: {max_attempts: 100, schedule: [100ms]}", "retry: {max_attempts: 100, schedule: [100ms]}\n    events: [lead.created]", 1)
	os.WriteFile(path, []byte(cfg), 0o644)
	return path
}

// twoReplicas starts two gateways on one Redis, each with its own folder.
func twoReplicas(t *testing.T, redisURL, sinkURL string, limit int) [2]*proc {
	t.Helper()
	var ps [2]*proc
	for i := range ps {
		dir := filepath.Join(t.TempDir(), fmt.Sprint("replica", i))
		os.MkdirAll(dir, 0o755)
		listen := freeAddr(t)
		ps[i] = start(t, replicaConfig(t, dir, listen, sinkURL, limit), listen, "REDIS_URL="+redisURL)
	}
	return ps
}

// TestReplicasShareTheRateLimit sends 30 requests from one client across two
// replicas within a second: exactly 25 are admitted; once the window has
// moved on, requests pass again. Every answer carries the rate-limit
// headers, and their counts are the shared window's: the 25 admissions
// leave 24 … 0 remaining, each once, whichever replica answered; a 429 says
// when to come back in whole seconds.
func TestReplicasShareTheRateLimit(t *testing.T) {
	srv := redistest.Start(t)
	_, sink := newSink(t, func() int { return http.StatusOK })
	ps := twoReplicas(t, srv.URL(), sink.URL, 25)
	run := fmt.Sprint(time.Now().UnixNano())

	type answer struct {
		code int
		h    http.Header
	}
	post := func(p *proc, body string) answer {
		resp, err := http.Post(p.base+"/hooks/website", "application/json", strings.NewReader(body))
		if err != nil {
			return answer{}
		}
		resp.Body.Close()
		return answer{resp.StatusCode, resp.Header}
	}
	// rateLimit checks the headers every answer carries and returns the
	// RateLimit header's r (remaining) and t (seconds until a slot frees).
	rateLimit := func(what string, a answer) (r, reset int) {
		t.Helper()
		if got, want := a.h.Get("RateLimit-Policy"), `"inbound";q=25;w=5`; got != want {
			t.Errorf("%s: RateLimit-Policy = %q, want %q", what, got, want)
		}
		const form = `"inbound";r=%d;t=%d`
		v := a.h.Get("RateLimit")
		if _, err := fmt.Sscanf(v, form, &r, &reset); err != nil || fmt.Sprintf(form, r, reset) != v {
			t.Errorf("%s: RateLimit = %q, want %q", what, v, form)
		}
		if reset < 1 || reset > 5 {
			t.Errorf("%s: RateLimit t=%d, want 1..5 (a slot frees within the 5 s window)", what, reset)
		}
		return r, reset
	}

	answers := make([]answer, 30)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = post(ps[i%2], websitePayload(i, run))
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, a := range answers {
		count[a.code]++
	}
	if count[200] != 25 || count[429] != 5 {
		t.Fatalf("answers = %v, want exactly 25×200 and 5×429", count)
	}
	remaining := map[int]int{}
	for i, a := range answers {
		what := fmt.Sprintf("request %d (%d)", i, a.code)
		r, reset := rateLimit(what, a)
		if a.code == http.StatusOK {
			remaining[r]++
			continue
		}
		if r != 0 {
			t.Errorf("%s: RateLimit r=%d, want 0", what, r)
		}
		ra := a.h.Get("Retry-After")
		var wait int
		if _, err := fmt.Sscanf(ra, "%d", &wait); err != nil || fmt.Sprint(wait) != ra || wait < 1 || wait > 5 {
			t.Errorf("%s: Retry-After = %q, want whole seconds in 1..5", what, ra)
		}
		if wait != reset {
			t.Errorf("%s: Retry-After %d but RateLimit t=%d; refused, both are when the next slot frees", what, wait, reset)
		}
	}
	for r := range 25 {
		if remaining[r] != 1 {
			t.Fatalf("remaining counts of the 25 admissions = %v, want 0..24 once each: the replicas do not share one window", remaining)
		}
	}

	time.Sleep(5100 * time.Millisecond)
	for i := range 2 {
		a := post(ps[i], websitePayload(100+i, run))
		if a.code != 200 {
			t.Errorf("replica %d after the window = %d, want 200", i, a.code)
			continue
		}
		// A fresh shared window: 24 left after the first, 23 after the
		// second, though another replica answered it.
		if r, _ := rateLimit(fmt.Sprintf("replica %d after the window", i), a); r != 24-i {
			t.Errorf("replica %d after the window: RateLimit r=%d, want %d", i, r, 24-i)
		}
	}
}

// TestReplicasNeverAdmitMoreThanTheLimit fires requests at both replicas
// for 12 s and checks that no rolling 5 s admitted more than 25. Each
// admission happened between the request's send and its answer, so a
// violation is proven only when 26 admissions fit in 5 s even at their
// latest answers and earliest sends; the check cannot fail by timing noise.
func TestReplicasNeverAdmitMoreThanTheLimit(t *testing.T) {
	srv := redistest.Start(t)
	_, sink := newSink(t, func() int { return http.StatusOK })
	ps := twoReplicas(t, srv.URL(), sink.URL, 25)
	run := fmt.Sprint(time.Now().UnixNano())

	type admission struct{ sent, answered time.Time }
	var mu sync.Mutex
	var admitted []admission
	total := 0
	var wg sync.WaitGroup
	stop := time.Now().Add(12 * time.Second)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				sent := time.Now()
				code, _ := ps[(w+i)%2].post("/hooks/website", websitePayload(w*100000+i, run))
				answered := time.Now()
				mu.Lock()
				total++
				if code == 200 {
					admitted = append(admitted, admission{sent, answered})
				}
				mu.Unlock()
				time.Sleep(time.Duration(rand.IntN(80)) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	sort.Slice(admitted, func(i, j int) bool { return admitted[i].sent.Before(admitted[j].sent) })
	if len(admitted) < 50 || total <= len(admitted) {
		t.Fatalf("%d admitted of %d: the run should both fill windows and be refused", len(admitted), total)
	}
	for i := 0; i+25 < len(admitted); i++ {
		window := admitted[i : i+26]
		latest := window[0].answered
		for _, a := range window {
			if a.answered.After(latest) {
				latest = a.answered
			}
		}
		if span := latest.Sub(window[0].sent); span < 5*time.Second {
			t.Fatalf("26 admissions within %v (from admission %d): the limit is 25 per 5s", span, i)
		}
	}
}

// TestReplicaKilledDuringDeliveries kills one of two replicas with SIGKILL
// while it holds deliveries in flight. Each replica delivers to its own
// path of the sink, and the killed one's requests hang and never count, so
// the test passes only if the survivor takes over the dead replica's leases:
// every accepted event must reach the sink through the survivor within 30 s
// of the kill.
func TestReplicaKilledDuringDeliveries(t *testing.T) {
	srv := redistest.Start(t)
	s, sink := newSink(t, func() int { return http.StatusOK })
	var hanging atomic.Int64
	s.setAnswer(func(r *http.Request) int {
		if r.URL.Path == "/r0" {
			hanging.Add(1)
			defer hanging.Add(-1)
			<-r.Context().Done() // until the replica's death closes it
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	var ps [2]*proc
	for i := range ps {
		dir := filepath.Join(t.TempDir(), fmt.Sprint("replica", i))
		os.MkdirAll(dir, 0o755)
		listen := freeAddr(t)
		ps[i] = start(t, replicaConfig(t, dir, listen, fmt.Sprintf("%s/r%d", sink.URL, i), 100000), listen, "REDIS_URL="+srv.URL())
	}
	run := fmt.Sprint(time.Now().UnixNano())
	var leads []string
	for i := range 80 {
		code, body := ps[i%2].post("/hooks/website", websitePayload(i, run))
		if code != 200 {
			t.Fatalf("post %d = %d %s", i, code, body)
		}
		leads = append(leads, leadID(t, body))
	}
	waitFor(t, 10*time.Second, func() bool { return hanging.Load() > 0 }, func() string {
		return "replica 0 never had a delivery in flight; logs:\n" + ps[0].logs.String()
	})
	ps[0].kill()
	waitFor(t, 30*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		got := map[string]bool{}
		for _, d := range s.byPath["/r1"] {
			if d.event == "lead.created" {
				got[d.leadID] = true
			}
		}
		for _, l := range leads {
			if !got[l] {
				return false
			}
		}
		return len(s.byPath["/r0"]) == 0
	}, func() string {
		return "not every accepted event was delivered by the surviving replica within 30 s of the kill; logs:\n" + ps[1].logs.String()
	})
}

// TestRedisOutage stops Redis while requests arrive: every answer is a 200
// or a 503, and every 200 is delivered once Redis is back. A 503 tells the
// sender when to retry (Retry-After, whole seconds, at least 1), and every
// answer carries the rate-limit headers, Redis down or not.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAOF())
	s, sink := newSink(t, func() int { return http.StatusOK })
	ps := twoReplicas(t, srv.URL(), sink.URL, 100000)
	run := fmt.Sprint(time.Now().UnixNano())

	var mu sync.Mutex
	var accepted []string
	others := map[int]int{}
	// post answers the status, the headers and the lead id of a 200.
	post := func(p *proc, body string) (int, http.Header, string) {
		resp, err := http.Post(p.base+"/hooks/website", "application/json", strings.NewReader(body))
		if err != nil {
			return 0, nil, ""
		}
		defer resp.Body.Close()
		var ok struct {
			LeadID string `json:"lead_id"`
		}
		json.NewDecoder(resp.Body).Decode(&ok)
		return resp.StatusCode, resp.Header, ok.LeadID
	}
	// check is the headers' part of the contract for one answer: the
	// rate-limit headers on every answer of the route, Redis down or not.
	check := func(code int, h http.Header) {
		if code == 0 {
			return // no answer at all; counted below as a failure
		}
		if got, want := h.Get("RateLimit-Policy"), `"inbound";q=100000;w=5`; got != want {
			t.Errorf("%d: RateLimit-Policy = %q, want %q", code, got, want)
		}
		var r, reset int
		const form = `"inbound";r=%d;t=%d`
		v := h.Get("RateLimit")
		if _, err := fmt.Sscanf(v, form, &r, &reset); err != nil || fmt.Sprintf(form, r, reset) != v {
			t.Errorf("%d: RateLimit = %q, want %q", code, v, form)
		}
		if code == http.StatusServiceUnavailable {
			ra := h.Get("Retry-After")
			var wait int
			if _, err := fmt.Sscanf(ra, "%d", &wait); err != nil || fmt.Sprint(wait) != ra || wait < 1 {
				t.Errorf("503: Retry-After = %q, want whole seconds, at least 1", ra)
			}
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				code, h, id := post(ps[(w+i)%2], websitePayload(w*100000+i, run))
				check(code, h)
				mu.Lock()
				if code == 200 {
					if id == "" {
						t.Errorf("a 200 without a lead_id")
					}
					accepted = append(accepted, id)
				} else {
					others[code]++
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	time.Sleep(time.Second)
	srv.Stop()
	time.Sleep(3 * time.Second)
	srv.Restart()
	time.Sleep(2 * time.Second)
	close(done)
	wg.Wait()

	for code, n := range others {
		if code != http.StatusServiceUnavailable {
			t.Errorf("%d answers of %d during the outage; every failure must be a 503", n, code)
		}
	}
	if others[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no 503 at all: the outage was not observed")
	}
	if len(accepted) == 0 {
		t.Fatal("nothing accepted")
	}
	s.waitDelivered(t, 60*time.Second, accepted, func() string {
		return fmt.Sprintf("not every 200 was delivered after Redis came back; logs:\n%s", ps[0].logs.String())
	})
}

func leadID(t *testing.T, body string) string {
	var ok struct {
		LeadID string `json:"lead_id"`
	}
	if err := json.Unmarshal([]byte(body), &ok); err != nil || ok.LeadID == "" {
		t.Errorf("answer %q has no lead_id", body)
	}
	return ok.LeadID
}

// TestStartWithRedisDown starts a gateway while its Redis is down: it
// serves, answers 503 and fails /readyz, and works once Redis is up, with
// no restart.
func TestStartWithRedisDown(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAOF())
	s, sink := newSink(t, func() int { return http.StatusOK })
	srv.Stop()
	dir := t.TempDir()
	listen := freeAddr(t)
	g := startUntil(t, "/healthz", replicaConfig(t, dir, listen, sink.URL, 100000), listen, "REDIS_URL="+srv.URL())

	resp, err := http.Get(g.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Redis down = %d, want 503", resp.StatusCode)
	}
	run := fmt.Sprint(time.Now().UnixNano())
	if code, body := g.post("/hooks/website", websitePayload(0, run)); code != http.StatusServiceUnavailable {
		t.Errorf("a lead with Redis down = %d %s, want 503", code, body)
	}
	if !strings.Contains(g.logs.String(), "redis unreachable at start") {
		t.Errorf("no start-up warning in the log:\n%s", g.logs)
	}

	srv.Restart()
	var id string
	waitFor(t, 20*time.Second, func() bool {
		code, body := g.post("/hooks/website", websitePayload(1, run))
		if code == http.StatusOK {
			id = leadID(t, body)
		}
		return code == http.StatusOK
	}, func() string { return "never accepted after Redis came back; logs:\n" + g.logs.String() })
	s.waitDelivered(t, 20*time.Second, []string{id}, func() string { return "not delivered; logs:\n" + g.logs.String() })
}
