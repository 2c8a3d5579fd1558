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
// moved on, requests pass again.
func TestReplicasShareTheRateLimit(t *testing.T) {
	srv := redistest.Start(t)
	_, sink := newSink(t, func() int { return http.StatusOK })
	ps := twoReplicas(t, srv.URL(), sink.URL, 25)
	run := fmt.Sprint(time.Now().UnixNano())

	codes := make([]int, 30)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = ps[i%2].post("/hooks/website", websitePayload(i, run))
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[200] != 25 || count[429] != 5 {
		t.Fatalf("answers = %v, want exactly 25×200 and 5×429", count)
	}
	time.Sleep(5100 * time.Millisecond)
	for i := range 2 {
		if code, body := ps[i].post("/hooks/website", websitePayload(100+i, run)); code != 200 {
			t.Errorf("replica %d after the window = %d %s, want 200", i, code, body)
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
// while deliveries are under way; every event accepted by either replica is
// delivered, the dead replica's leased work by the survivor.
func TestReplicaKilledDuringDeliveries(t *testing.T) {
	srv := redistest.Start(t)
	s, sink := newSink(t, func() int {
		time.Sleep(30 * time.Millisecond)
		return http.StatusOK
	})
	ps := twoReplicas(t, srv.URL(), sink.URL, 100000)
	run := fmt.Sprint(time.Now().UnixNano())
	var leads []string
	for i := range 80 {
		code, body := ps[i%2].post("/hooks/website", websitePayload(i, run))
		if code != 200 {
			t.Fatalf("post %d = %d %s", i, code, body)
		}
		leads = append(leads, leadID(t, body))
	}
	ps[0].kill()
	s.waitDelivered(t, 60*time.Second, leads, func() string {
		return "not every accepted lead was delivered by the surviving replica; logs:\n" + ps[1].logs.String()
	})
}

// TestRedisOutage stops Redis while requests arrive: every answer is a 200
// or a 503, and every 200 is delivered once Redis is back.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAOF())
	s, sink := newSink(t, func() int { return http.StatusOK })
	ps := twoReplicas(t, srv.URL(), sink.URL, 100000)
	run := fmt.Sprint(time.Now().UnixNano())

	var mu sync.Mutex
	var accepted []string
	others := map[int]int{}
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
				code, body := ps[(w+i)%2].post("/hooks/website", websitePayload(w*100000+i, run))
				mu.Lock()
				if code == 200 {
					accepted = append(accepted, leadID(t, body))
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
