package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"leadgate/gateway/redistest"
)

// orderSink records every delivery to an ordered destination, in order of
// arrival; it answers 503 until up is set, then 200.
type orderSink struct {
	up   atomic.Bool
	mu   sync.Mutex
	hits []orderHit
}

type orderHit struct {
	leadID, eventID, event string
	score, version         int64
	code                   int
}

func newOrderSink(t *testing.T) (*orderSink, *httptest.Server) {
	s := &orderSink{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			ID      string `json:"id"`
			LeadID  string `json:"lead_id"`
			Event   string `json:"event"`
			Version int64  `json:"lead_version"`
			Lead    struct {
				Score int64 `json:"score"`
			} `json:"lead"`
		}
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			t.Errorf("delivery body: %v", err)
		}
		code := http.StatusServiceUnavailable
		if s.up.Load() {
			code = http.StatusOK
		}
		s.mu.Lock()
		s.hits = append(s.hits, orderHit{ev.LeadID, ev.ID, ev.Event, ev.Lead.Score, ev.Version, code})
		s.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return s, srv
}

// orderedDestination is a destinations entry: crm, ordered, on sinkURL,
// for lead.created and lead.updated, retried every 300 ms (30 s of attempts).
func orderedDestination(sinkURL string) string {
	return fmt.Sprintf(`  - name: crm
    url: %s/crm
    ordered: true
    events: [lead.created, lead.updated]
    timeout: 2s
    retry: {max_attempts: 100, schedule: [300ms]}
`, sinkURL)
}

// scoredPayload is a website form post of lead i of run with a score.
func scoredPayload(i int, run string, score int) string {
	return fmt.Sprintf(`{"client":"order","source":"website","lead_details":[`+
		`{"lead_field":"email","lead_value":"order%d.%s@example.com"},{"lead_field":"score","lead_value":"%d"}]}`, i, run, score)
}

// orderedLeads is how many leads each ordered test posts, and scores the
// scores of each lead's payloads, in posting order: lead.created, then
// one lead.updated per later score.
const orderedLeads = 3

var scores = []int64{10, 20, 30}

// postScored posts every lead's payloads, payload k of all leads through
// pick(k), and returns the lead ids.
func postScored(t *testing.T, pick func(k int) *proc, run string) []string {
	t.Helper()
	leads := make([]string, orderedLeads)
	k := 0
	for _, score := range scores {
		for i := range orderedLeads {
			code, body := pick(k).post("/hooks/website", scoredPayload(i, run, int(score)))
			k++
			if code != http.StatusOK {
				t.Fatalf("post lead %d score %d = %d %s", i, score, code, body)
			}
			id := leadID(t, body)
			if leads[i] == "" {
				leads[i] = id
			} else if leads[i] != id {
				t.Fatalf("lead %d score %d: lead_id %s, want %s", i, score, id, leads[i])
			}
		}
	}
	return leads
}

// waitHeadsRetrying waits until every lead's lead.created was refused at
// least three times, and checks that nothing else was attempted meanwhile:
// the lead.updated events wait behind it.
func (s *orderSink) waitHeadsRetrying(t *testing.T, leads []string, logs func() string) {
	t.Helper()
	waitFor(t, 20*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		tries := map[string]int{}
		for _, h := range s.hits {
			if h.event == "lead.created" {
				tries[h.leadID]++
			}
		}
		for _, l := range leads {
			if tries[l] < 3 {
				return false
			}
		}
		return true
	}, func() string { return "lead.created was not retried for every lead; logs:\n" + logs() })
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.hits {
		if h.event != "lead.created" {
			t.Fatalf("%s (score %d) of lead %s was sent while the lead's lead.created was retrying", h.event, h.score, h.leadID)
		}
	}
}

// waitInOrder waits until every lead's events were delivered and checks
// they arrived in order: each lead's 200s are its scores in posting order
// (lead.created first), each event once; with sameProcess, the event ids
// (monotonic within one gateway process) ascend too.
func (s *orderSink) waitInOrder(t *testing.T, leads []string, sameProcess bool, logs func() string) {
	t.Helper()
	delivered := func() map[string][]orderHit {
		s.mu.Lock()
		defer s.mu.Unlock()
		by := map[string][]orderHit{}
		for _, h := range s.hits {
			if h.code == http.StatusOK {
				by[h.leadID] = append(by[h.leadID], h)
			}
		}
		return by
	}
	waitFor(t, 40*time.Second, func() bool {
		by := delivered()
		for _, l := range leads {
			if len(by[l]) < len(scores) {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("not every event was delivered: %v; logs:\n%s", delivered(), logs()) })
	by := delivered()
	for _, l := range leads {
		hits := by[l]
		var got, versions []int64
		var ids []string
		for _, h := range hits {
			got = append(got, h.score)
			versions = append(versions, h.version)
			ids = append(ids, h.eventID)
		}
		if want := []int64{1, 2, 3}; !slices.Equal(versions, want) {
			t.Errorf("lead %s: delivered lead_versions %v, want %v", l, versions, want)
		}
		if !slices.Equal(got, scores) || hits[0].event != "lead.created" {
			t.Errorf("lead %s: delivered scores %v (%v), want %v starting with lead.created", l, got, hits, scores)
		}
		if sameProcess && !slices.IsSorted(ids) {
			t.Errorf("lead %s: event ids %v arrived out of ingest order", l, ids)
		}
	}
}

// TestOrderedSurvivesKill: an ordered destination has every lead's events
// queued behind a retrying lead.created when the gateway is killed with
// SIGKILL; after the restart, with the destination answering 200, each
// lead's events arrive in the order they were ingested.
func TestOrderedSurvivesKill(t *testing.T) {
	s, srv := newOrderSink(t)
	dir := t.TempDir()
	listen := freeAddr(t)
	config := writeDestinations(t, dir, listen, orderedDestination(srv.URL))
	g := start(t, config, listen)
	run := fmt.Sprint(time.Now().UnixNano())
	leads := postScored(t, func(int) *proc { return g }, run)
	s.waitHeadsRetrying(t, leads, g.logs.String)
	g.kill()

	s.up.Store(true)
	g = start(t, config, listen)
	s.waitInOrder(t, leads, true, g.logs.String)
}

// TestOrderedAcrossReplicas: two replicas on one Redis take a lead's
// payloads in turn; while the destination refuses, every lead's later
// events wait behind its lead.created on both replicas; one replica is
// killed, and the survivor delivers each lead's events in order.
func TestOrderedAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	s, sink := newOrderSink(t)
	var ps [2]*proc
	for i := range ps {
		dir := filepath.Join(t.TempDir(), fmt.Sprint("replica", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		listen := freeAddr(t)
		ps[i] = start(t, writeDestinations(t, dir, listen, orderedDestination(sink.URL)), listen, "REDIS_URL="+srv.URL())
	}
	logs := func() string { return ps[0].logs.String() + "\n---\n" + ps[1].logs.String() }
	run := fmt.Sprint(time.Now().UnixNano())
	leads := postScored(t, func(k int) *proc { return ps[k%2] }, run)
	s.waitHeadsRetrying(t, leads, logs)
	ps[0].kill()

	s.up.Store(true)
	s.waitInOrder(t, leads, false, logs)
}
