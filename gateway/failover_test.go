package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"leadgate/gateway/redistest"
)

// TestSentinelFailoverLosesNoAcceptedLead runs the gateway on a Sentinel
// set (a primary, two replicas, three Sentinels on loopback) with
// redis.min_replicas_acked: 1, posts leads from several goroutines, kills
// the primary with SIGKILL and keeps posting until the promoted replica
// serves. Every answer is a 200 or a 503 with Retry-After (requests in
// flight may also just wait out the failover), and every lead answered
// 200 (before, during or after the failover) is delivered. Two
// replicas, because after the failover the new primary needs a replica of
// its own to acknowledge writes. It logs how long the 503s lasted.
func TestSentinelFailoverLosesNoAcceptedLead(t *testing.T) {
	const master = "leadgate"
	primary := redistest.Start(t, redistest.WithAOF())
	replicas := []*redistest.Server{
		redistest.Start(t, redistest.WithAOF(), redistest.WithReplicaOf(primary)),
		redistest.Start(t, redistest.WithAOF(), redistest.WithReplicaOf(primary)),
	}
	for _, r := range replicas {
		redistest.WaitReplicaInSync(t, r)
	}
	var sentinels []*redistest.Server
	for range 3 {
		sentinels = append(sentinels, redistest.StartSentinel(t, primary, master, 2))
	}
	redistest.WaitSentinelsReady(t, master, len(replicas), sentinels...)

	s, sink := newSink(t, func() int { return http.StatusOK })
	dir := t.TempDir()
	listen := freeAddr(t)
	path := writeConfig(t, dir, listen, sink.URL, "")
	cfg, _ := os.ReadFile(path)
	cfg = fmt.Appendf(cfg, "redis: {url: %q, min_replicas_acked: 1}\n", redistest.SentinelURL(master, sentinels...))
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	gw := start(t, path, listen)
	run := fmt.Sprint(time.Now().UnixNano())

	type answer struct {
		sent   time.Time
		at     time.Time
		code   int
		leadID string
		retry  string
	}
	var (
		mu      sync.Mutex
		answers []answer
	)
	post := func(body string) answer {
		sent := time.Now()
		resp, err := http.Post(gw.base+"/hooks/website", "application/json", strings.NewReader(body))
		if err != nil {
			return answer{sent: sent, at: time.Now()}
		}
		defer resp.Body.Close()
		var ok struct {
			LeadID string `json:"lead_id"`
		}
		json.NewDecoder(resp.Body).Decode(&ok)
		return answer{sent: sent, at: time.Now(), code: resp.StatusCode, leadID: ok.LeadID, retry: resp.Header.Get("Retry-After")}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				a := post(websitePayload(w*1_000_000+i, run))
				mu.Lock()
				answers = append(answers, a)
				mu.Unlock()
				if a.code != http.StatusOK {
					time.Sleep(20 * time.Millisecond) // as a sender honouring Retry-After would, only sooner
				}
			}
		}()
	}
	// okSentAfter counts the 200s to requests sent after t0.
	okSentAfter := func(t0 time.Time) (n int) {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range answers {
			if a.code == http.StatusOK && a.sent.After(t0) {
				n++
			}
		}
		return n
	}
	waitFor(t, 10*time.Second, func() bool { return okSentAfter(time.Time{}) >= 50 }, func() string {
		return "fewer than 50 leads accepted before the failover; logs:\n" + lastLines(gw.logs.String(), 40)
	})

	killed := time.Now()
	primary.Kill()
	var promoted time.Time
	waitFor(t, 30*time.Second, func() bool {
		for _, r := range replicas {
			if role, err := r.Client().Do(context.Background(), "role").Slice(); err == nil && role[0] == "master" {
				promoted = time.Now()
				return true
			}
		}
		return false
	}, func() string { return "the Sentinels promoted no replica within 30 s of the primary's death" })
	// Served again: 200s to requests sent after the promotion, which the
	// new primary's own replica acknowledged, for a second.
	waitFor(t, 30*time.Second, func() bool { return okSentAfter(promoted) > 0 }, func() string {
		var roles strings.Builder
		for _, r := range replicas {
			info, err := r.Client().Info(context.Background(), "replication").Result()
			fmt.Fprintf(&roles, "replica %s: %v\n%s\n", r.Addr(), err, info)
		}
		return "the gateway did not serve 200s again within 30 s of the promotion;\n" + roles.String() + "logs:\n" + lastLines(gw.logs.String(), 40)
	})
	time.Sleep(time.Second)
	close(done)
	wg.Wait()

	var accepted []string
	codes := map[int]int{}
	var firstBad, lastBad time.Time
	var slowest time.Duration // of the answers after the kill
	for _, a := range answers {
		if a.at.After(killed) {
			slowest = max(slowest, a.at.Sub(a.sent))
		}
		codes[a.code]++
		switch a.code {
		case http.StatusOK:
			if a.leadID == "" {
				t.Errorf("a 200 without a lead_id")
			}
			accepted = append(accepted, a.leadID)
		case http.StatusServiceUnavailable:
			if a.retry == "" {
				t.Errorf("a 503 without Retry-After")
			}
			if firstBad.IsZero() {
				firstBad = a.at
			}
			lastBad = a.at
		default:
			t.Errorf("answer %d at %s after the kill: every answer must be a 200 or a 503", a.code, a.at.Sub(killed))
		}
	}
	// The longest time no 200 was answered, across the kill: what the
	// failover cost senders, as waiting or as 503s.
	var gap time.Duration
	prev := killed
	for _, a := range answers {
		if a.code == http.StatusOK && a.at.After(killed) {
			gap = max(gap, a.at.Sub(prev))
			prev = a.at
		}
	}
	t.Logf("answers by code %v; promoted %.2f s after the primary's SIGKILL (Sentinel down-after %s); no 200 for %.2f s; slowest answer %.2f s",
		codes, promoted.Sub(killed).Seconds(), redistest.SentinelDownAfter, gap.Seconds(), slowest.Seconds())
	if !firstBad.IsZero() {
		t.Logf("503s from %.2f s to %.2f s after the kill", firstBad.Sub(killed).Seconds(), lastBad.Sub(killed).Seconds())
	}
	s.waitDelivered(t, 30*time.Second, accepted, func() string {
		return fmt.Sprintf("not every lead answered 200 was delivered after the failover; logs:\n%s", gw.logs.String())
	})
}

// lastLines is the end of a long log.
func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
