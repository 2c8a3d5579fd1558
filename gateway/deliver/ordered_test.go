package deliver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/policy"
	"leadgate/gateway/store"
	"leadgate/gateway/store/bolt"
)

// scoreSink records the lead email, score and answer of every delivery per
// path, and answers 503 to the first delivery of one score to /crm.
type scoreSink struct {
	*httptest.Server
	mu     sync.Mutex
	failed bool
	got    map[string][]string // path → "email:score" in arrival order
}

func newScoreSink(t *testing.T, failScore int64) *scoreSink {
	s := &scoreSink{got: map[string][]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var ev lead.Event
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Errorf("body %s: %v", b, err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		code := http.StatusOK
		if r.URL.Path == "/crm" && ev.Lead.Score == failScore && !s.failed {
			s.failed, code = true, http.StatusServiceUnavailable
		}
		s.got[r.URL.Path] = append(s.got[r.URL.Path], ev.Lead.Email+":"+strconv.FormatInt(ev.Lead.Score, 10)+":"+strconv.Itoa(code))
		w.WriteHeader(code)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scoreSink) of(path string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got[path])
}

// waitFor polls until dest's delivery of event id reaches status.
func waitFor(t *testing.T, st store.Store, id, dest, status string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec, err := st.Event(context.Background(), id)
		if err == nil {
			for _, d := range rec.Deliveries {
				if d.Destination == dest && d.Status == status {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %s: %+v, %v; %s never reached %s", id, rec.Deliveries, err, dest, status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// An ordered destination gets a lead's events in order although the first
// one failed once: the others wait for its retry, while another lead's
// event and an unordered destination do not.
func TestOrderedDestinationWaitsForRetry(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := newScoreSink(t, 10)
	clock := newTestClock()
	dp := New(Options{Store: st, Now: clock.Now, Jitter: func(d time.Duration) time.Duration { return d }})
	dp.SetDestinations([]Destination{
		{Name: "crm", URL: s.URL + "/crm", Enabled: true, AllowPrivate: true, Delivery: policy.Delivery{Ordered: true, Retry: policy.Retry{Schedule: []time.Duration{time.Minute}}}},
		{Name: "plain", URL: s.URL + "/plain", Enabled: true, AllowPrivate: true, Delivery: policy.Delivery{Retry: policy.Retry{Schedule: []time.Duration{time.Minute}}}},
	})
	if !dp.Ordered("crm") || dp.Ordered("plain") || dp.Ordered("nobody") {
		t.Fatalf("Ordered: crm %v, plain %v, nobody %v", dp.Ordered("crm"), dp.Ordered("plain"), dp.Ordered("nobody"))
	}

	var ids []string
	post := func(email string, score int64) {
		res, err := st.Ingest(context.Background(), store.IngestRequest{
			Source: "website", Identity: []string{"email:" + email},
			Lead:  lead.Lead{Email: email, Score: score, HasScore: true},
			Emits: []string{lead.LeadCreated, lead.LeadUpdated}, ReceivedAt: clock.Now(),
			Route: dp.Route, Ordered: dp.Ordered,
		})
		if err != nil || len(res.Events) != 1 {
			t.Fatalf("Ingest = %+v, %v", res, err)
		}
		ids = append(ids, res.Events[0].ID)
	}
	// Ingested before the dispatcher runs, so the first lease sees them all.
	post("a@b.c", 10)
	post("a@b.c", 20)
	post("a@b.c", 30)
	post("other@b.c", 5)
	done := make(chan struct{})
	go func() { _ = dp.Run(context.Background()); close(done) }()
	defer func() { dp.Shutdown(5 * time.Second); <-done }()

	waitFor(t, st, ids[0], "crm", "retrying")
	waitFor(t, st, ids[3], "crm", "delivered")
	for _, id := range ids {
		waitFor(t, st, id, "plain", "delivered")
	}
	if got := s.of("/crm"); len(got) != 2 || !slices.Contains(got, "a@b.c:10:503") || !slices.Contains(got, "other@b.c:5:200") {
		t.Fatalf("crm got %v before the retry, want only a@b.c's first event (503) and other@b.c's", got)
	}

	clock.Advance(time.Minute)
	dp.Kick()
	waitFor(t, st, ids[2], "crm", "delivered")
	var seq []string
	for _, r := range s.of("/crm") {
		if r != "other@b.c:5:200" {
			seq = append(seq, r)
		}
	}
	if want := []string{"a@b.c:10:503", "a@b.c:10:200", "a@b.c:20:200", "a@b.c:30:200"}; !slices.Equal(seq, want) {
		t.Fatalf("crm got a@b.c's events as %v, want %v", seq, want)
	}
}
