package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// historyAnswer is GET /admin/overview/history.
type historyAnswer struct {
	Minutes int       `json:"minutes"`
	Start   time.Time `json:"start"`
	Sources []struct {
		Name     string    `json:"name"`
		Requests []float64 `json:"requests"`
		Accepted []float64 `json:"accepted"`
	} `json:"sources"`
	Destinations []struct {
		Name      string    `json:"name"`
		Delivered []float64 `json:"delivered"`
		Retried   []float64 `json:"retried"`
		Dead      []float64 `json:"dead"`
	} `json:"destinations"`
	DeliveryLagSeconds []float64 `json:"delivery_lag_seconds"`
}

// spikeAt posts n save_lead leads with the console's clock at minute of
// the hour that starts at start, and books them to that minute.
func spikeAt(t *testing.T, g *gateway, s *sink, start time.Time, minute, n int) {
	t.Helper()
	bookMinute(t, g, s, start.Add(time.Duration(minute)*time.Minute), func() int {
		for i := range n {
			postLead(t, g, "save_lead", fmt.Sprintf(`{"data": {"email": "m%d-%d@example.com"}}`, minute, i))
		}
		return n
	})
}

// bookMinute sets the console's clock 10 s into minute, samples, runs post
// (which returns how many deliveries it caused), waits until every
// delivery has settled (delivered or dead) and samples again, so all the
// traffic is booked to that minute.
func bookMinute(t *testing.T, g *gateway, s *sink, minute time.Time, post func() (deliveries int)) {
	t.Helper()
	g.clock.Set(minute.Add(10 * time.Second))
	g.con.Sample()
	before := s.hits.Load()
	n := post()
	waitUntil(t, "deliveries settled", func() bool {
		depth, err := g.store.Depth(context.Background())
		return err == nil && s.hits.Load() >= before+int32(n) && depth["due"]+depth["scheduled"]+depth["in_flight"] == 0
	})
	g.con.Sample()
}

// TestOverviewHistory: traffic of a known minute shows in that minute of
// every series it belongs to, and nowhere else; every series has 60
// values, the last one the current minute.
func TestOverviewHistory(t *testing.T) {
	s := newSink(t, http.StatusOK)
	g := startGateway(t, s.srv.URL+"/leads")
	// An hour from the next minute on: after every sample the gateway took
	// already, since the history never books to an earlier minute than the
	// last sample's.
	start := time.Now().UTC().Truncate(time.Minute).Add(time.Minute)
	spikeAt(t, g, s, start, 0, 0)
	spikeAt(t, g, s, start, 42, 3)
	spikeAt(t, g, s, start, 59, 1)

	res, body := do(t, http.MethodGet, g.base+"/admin/overview/history", "", map[string]string{"X-Access-Key": testAccess, "X-Secret-Key": testSecret})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("history = %d %s", res.StatusCode, body)
	}
	var h historyAnswer
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatal(err)
	}
	if h.Minutes != 60 || !h.Start.Equal(start) || len(h.Sources) != 3 || len(h.Destinations) != 1 || h.Destinations[0].Name != "crm" {
		t.Fatalf("history = minutes %d, start %s (want %s), %d sources, %d destinations", h.Minutes, h.Start, start, len(h.Sources), len(h.Destinations))
	}
	spike := map[int]float64{42: 3, 59: 1}
	check := func(name string, got []float64, want map[int]float64) {
		t.Helper()
		if len(got) != 60 {
			t.Fatalf("%s has %d values, want 60", name, len(got))
		}
		for i, v := range got {
			if v != want[i] {
				t.Errorf("%s[%d] = %v, want %v", name, i, v, want[i])
			}
		}
	}
	for _, src := range h.Sources {
		want := map[int]float64{}
		if src.Name == "save_lead" {
			want = spike
		}
		check(src.Name+" requests", src.Requests, want)
		check(src.Name+" accepted", src.Accepted, want)
	}
	crm := h.Destinations[0]
	check("crm delivered", crm.Delivered, spike)
	check("crm retried", crm.Retried, nil)
	check("crm dead", crm.Dead, nil)
	if len(h.DeliveryLagSeconds) != 60 {
		t.Fatalf("delivery lag has %d values", len(h.DeliveryLagSeconds))
	}
	for i, v := range h.DeliveryLagSeconds {
		if (v > 0) != (i == 42 || i == 59) {
			t.Errorf("delivery lag[%d] = %v, want > 0 only in the minutes with deliveries", i, v)
		}
	}
}
