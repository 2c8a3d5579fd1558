package console_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"leadgate/gateway/console"
)

// The hour TestBrowserOverviewCharts plays: save_lead's spike, and the
// minutes in which crm answers 503 (each delivery retried twice, then dead).
const (
	spikeMinute = 42
	spikeLeads  = 9
)

var failingMinutes = map[int]bool{20: true, 21: true}

// simulateHour books an hour of traffic, minute by minute, to the hour
// that starts at start: a few website leads a minute, a save_lead now and
// then, a rejected request every tenth minute, spikeLeads save_lead leads
// in spikeMinute, and crm failing in failingMinutes.
func simulateHour(t *testing.T, g *gateway, s *sink, start time.Time) {
	t.Helper()
	for m := range 60 {
		code := http.StatusOK
		if failingMinutes[m] {
			code = http.StatusServiceUnavailable
		}
		s.code.Store(int32(code))
		bookMinute(t, g, s, start.Add(time.Duration(m)*time.Minute), func() int {
			n := 0
			for i := range 1 + m/8%3 {
				postLead(t, g, "website", fmt.Sprintf(`{"client": "example_client", "source": "website", "branch": "Main Branch", "lead_details": [{"lead_field": "email", "lead_value": "w%d-%d@example.com"}]}`, m, i))
				n += 2 // form.submitted and lead.created
			}
			saveLeads := 0
			if m%4 == 0 {
				saveLeads = 1
			}
			if m == spikeMinute {
				saveLeads = spikeLeads
			}
			for i := range saveLeads {
				postLead(t, g, "save_lead", fmt.Sprintf(`{"data": {"email": "s%d-%d@example.com"}}`, m, i))
				n++
			}
			if m%10 == 5 {
				if res, body := do(t, http.MethodPost, g.base+"/hooks/save_lead", `{"data": {"note": "no email, no phone"}}`,
					map[string]string{"Content-Type": "application/json"}); res.StatusCode != http.StatusUnprocessableEntity {
					t.Fatalf("rejected lead = %d %s", res.StatusCode, body)
				}
			}
			return n
		})
	}
	s.code.Store(http.StatusOK)
}

// chartInfo is what the test reads of one chart.
type chartInfo struct {
	Label  string    `json:"label"`
	Title  string    `json:"title"`
	Role   string    `json:"role"`
	Points []float64 `json:"points"` // the y of each point, top is 0
	Peak   int       `json:"peak"`
	Width  float64   `json:"width"`
}

const readCharts = `[...document.querySelectorAll('#ov svg.chart')].map(svg => ({
	label: svg.getAttribute('aria-label'),
	title: svg.querySelector('title') ? svg.querySelector('title').textContent : '',
	role: svg.getAttribute('role'),
	points: svg.querySelector('polyline').getAttribute('points').trim().split(/\s+/).map(p => Number(p.split(',')[1])),
	peak: Number(svg.dataset.peak),
	width: svg.getBoundingClientRect().width,
}))`

// TestBrowserOverviewCharts: after an hour of traffic with a spike in a
// known minute, the overview draws every series as a chart of 60 points
// (one a minute) beside its number, the spike at its minute and at the
// top, each chart with a text alternative, at 1280 and 390 px, and axe
// finds nothing. With LEADGATE_SCREENSHOTS=1 it writes the overview's
// screenshots.
func TestBrowserOverviewCharts(t *testing.T) {
	chromium(t)
	axe, err := os.ReadFile("testdata/axe.min.js")
	if err != nil {
		t.Fatalf("vendored axe-core: %v", err)
	}
	s := newSink(t, http.StatusOK)
	// The hour ends with the current minute; the console's clock starts
	// at its beginning, so the gateway's own samples come before it.
	start := time.Now().UTC().Truncate(time.Minute).Add(-59 * time.Minute)
	clock := &testClock{}
	clock.Set(start)
	g := startGatewayWith(t, s.srv.URL+"/leads", func(o *console.Options) { o.Now = clock.Now })
	g.clock = clock
	simulateHour(t, g, s, start)
	spikeAt := start.Add(spikeMinute * time.Minute).Format("15:04")

	for _, width := range []int{1280, 390} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			b := newBrowser(t, g, width)
			b.run("bypass CSP for axe", bypassCSP())
			b.signIn(testAccess, testSecret)
			b.eventually("overview charts", `document.querySelectorAll('#ov svg.chart').length > 0`)
			charts := eval[[]chartInfo](b, "read the charts", readCharts)
			// 3 sources × (requests, accepted) + crm × (delivered, retries,
			// dead) + the delivery lag.
			if len(charts) != 3*2+3+1 {
				t.Fatalf("%d charts, want 10", len(charts))
			}
			byLabel := map[string]chartInfo{}
			for _, c := range charts {
				name, _, _ := strings.Cut(c.Label, ",")
				byLabel[name] = c
				if len(c.Points) != 60 {
					t.Errorf("%q has %d points, want 60", name, len(c.Points))
				}
				if c.Role != "img" || c.Title != c.Label || !strings.Contains(c.Label, "last 60 minutes") {
					t.Errorf("chart %q: role %q, title %q: want role img and a title that says what the label says", name, c.Role, c.Title)
				}
				if c.Width < 60 {
					t.Errorf("chart %q is %v px wide", name, c.Width)
				}
			}
			req, ok := byLabel["save_lead requests per minute"]
			if !ok {
				t.Fatalf("no save_lead requests chart among %v", keys(byLabel))
			}
			if req.Peak != spikeMinute || !strings.Contains(req.Label, fmt.Sprintf("peak %d at %s", spikeLeads, spikeAt)) {
				t.Errorf("save_lead requests: peak at point %d, label %q; want the spike of %d at point %d (%s)", req.Peak, req.Label, spikeLeads, spikeMinute, spikeAt)
			}
			top := req.Points[0]
			for _, y := range req.Points {
				top = min(top, y)
			}
			if req.Points[spikeMinute] != top || req.Points[spikeMinute+1] <= top {
				t.Errorf("save_lead requests: the spike minute is not the highest point: %v", req.Points)
			}
			for _, name := range []string{"crm retries per minute", "crm dead letters per minute"} {
				if c := byLabel[name]; !failingMinutes[c.Peak] {
					t.Errorf("%s peaks at minute %d, want one of %v: %q", name, c.Peak, failingMinutes, c.Label)
				}
			}
			if c := byLabel["leadsie requests per minute"]; c.Peak != -1 || !strings.HasSuffix(c.Label, ": none") {
				t.Errorf("leadsie had no traffic, yet its chart says %q (peak %d)", c.Label, c.Peak)
			}
			if c := byLabel["Mean delivery lag per minute"]; c.Peak < 0 {
				t.Errorf("the delivery lag chart shows no lag: %q", c.Label)
			}
			b.checkA11y(axe)
			if eval[bool](b, "overflow", `document.documentElement.scrollWidth > window.innerWidth + 1`) {
				t.Fatalf("the page scrolls sideways at %d px", width)
			}
			if os.Getenv("LEADGATE_SCREENSHOTS") == "1" {
				b.saveScreenshot(fmt.Sprintf("screenshots/overview-%d.png", width))
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
