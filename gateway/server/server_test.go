package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"leadgate/gateway/deliver"
	"leadgate/gateway/lead"
	"leadgate/gateway/mapping"
	"leadgate/gateway/metrics"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/requestid"
	"leadgate/gateway/store"
	"leadgate/gateway/store/bolt"
)

const (
	accessKey = "ak-test"
	secretKey = "sk-test"
)

// ledsakSeed is the Ledsak website webhook's example request body.
const ledsakSeed = `{
  "client": "example_client",
  "source": "website",
  "branch": "Main Branch",
  "lead_details": [
    {"lead_field": "name", "lead_value": "John Doe"},
    {"lead_field": "email", "lead_value": "johndoe@example.com"}
  ]
}`

type harness struct {
	srv     *Server
	store   store.Store
	metrics *metrics.Metrics
	now     time.Time
}

// newHarness serves the shipped mappings over a fresh embedded store with
// one destination that takes every event.
func newHarness(t testing.TB, mutate ...func(*Options, *Runtime)) *harness {
	t.Helper()
	set, err := mapping.LoadDir("../../mappings")
	if err != nil {
		t.Fatalf("load shipped mappings: %v", err)
	}
	st, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{store: st, metrics: metrics.New(prometheus.NewRegistry()), now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	opts := Options{Store: st, Limiter: ratelimit.NewLocal(ratelimit.LocalOptions{Now: func() time.Time { return h.now }}),
		Metrics: h.metrics, Now: func() time.Time { return h.now }, BodyLimit: 1 << 20}
	rt := &Runtime{
		Mappings:     set,
		Destinations: []deliver.Destination{{Name: "crm", URL: "http://127.0.0.1:9/leads", Enabled: true}},
		Inbound:      ratelimit.Limit{Requests: 25, Per: 5 * time.Second},
		BodyLimit:    4096,
		AccessKey:    accessKey,
		SecretKey:    secretKey,
	}
	for _, m := range mutate {
		m(&opts, rt)
	}
	h.srv = New(opts, rt)
	return h
}

type answer struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

func (h *harness) do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := h.srv.App().Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("%s %s answered %d with non-JSON %q", req.Method, req.URL, resp.StatusCode, raw)
	}
	return a
}

func (h *harness) post(t *testing.T, path, contentType, body string) answer {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return h.do(t, req)
}

func (h *harness) pending(t *testing.T, dest string) []store.Delivery {
	t.Helper()
	ds, err := h.store.Lease(context.Background(), dest, h.now.Add(time.Hour), 1000, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func multipartBody(t *testing.T, fields map[string]string) (string, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	w.Close()
	return w.FormDataContentType(), b.String()
}

func TestInboundAccepts(t *testing.T) {
	ct, mp := multipartBody(t, map[string]string{"name": "Mia Multi", "email": "mia@example.com"})
	tests := []struct {
		name, path, contentType, body string
		wantEvents                    []string
	}{
		{"ledsak seed on the Ledsak path", "/api/webhook/website/webhook", "application/json", ledsakSeed, []string{lead.FormSubmitted, lead.LeadCreated}},
		{"flat urlencoded form", "/hooks/website", "application/x-www-form-urlencoded", "name=Jane+Roe&email=Jane@Example.com&budget=5000", []string{lead.FormSubmitted, lead.LeadCreated}},
		{"multipart form", "/hooks/website", ct, mp, []string{lead.FormSubmitted, lead.LeadCreated}},
		{"text/plain holding JSON", "/hooks/save_lead", "text/plain", `{"data": {"email": "text@example.com", "score": "42"}}`, []string{lead.LeadCreated}},
		{"leadsie connection", "/hooks/leadsie?customUserId=user1", "application/json", `{"status": "SUCCESS", "connectionAssets": [{"type": "Page", "name": "P", "id": "1", "isSuccess": true}]}`, []string{lead.ConnectionCreated}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			a := h.post(t, tt.path, tt.contentType, tt.body)
			if a.code != http.StatusOK || a.body["message"] != "Successfully created" || a.body["lead_id"] == "" {
				t.Fatalf("answer = %d %s, want 200 Successfully created with a lead_id", a.code, a.raw)
			}
			var got []string
			for _, d := range h.pending(t, "crm") {
				got = append(got, d.Event.Event)
				if d.Event.LeadID != a.body["lead_id"] {
					t.Errorf("event lead_id %q, answer said %q", d.Event.LeadID, a.body["lead_id"])
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantEvents) {
				t.Errorf("queued events = %v, want %v", got, tt.wantEvents)
			}
			if a.header.Get("RateLimit-Policy") == "" || a.header.Get("RateLimit") == "" {
				t.Errorf("rate-limit headers missing: %v", a.header)
			}
		})
	}
}

func TestInboundDuplicateWithinTenMinutes(t *testing.T) {
	h := newHarness(t)
	first := h.post(t, "/hooks/website", "application/json", ledsakSeed)
	h.now = h.now.Add(9 * time.Minute)
	second := h.post(t, "/hooks/website", "application/json", ledsakSeed)
	if first.code != 200 || second.code != 200 || first.body["lead_id"] != second.body["lead_id"] {
		t.Fatalf("first %d %s, repeat %d %s: want both 200 with one lead_id", first.code, first.raw, second.code, second.raw)
	}
	if n := len(h.pending(t, "crm")); n != 2 {
		t.Fatalf("queued %d events, want 2 (form.submitted and lead.created of the first post only)", n)
	}
	h.now = h.now.Add(2 * time.Minute) // 11 minutes after the first
	third := h.post(t, "/hooks/website", "application/json", ledsakSeed)
	if third.code != 200 || third.body["lead_id"] != first.body["lead_id"] {
		t.Fatalf("post after the window = %d %s, want 200 with the same lead", third.code, third.raw)
	}
	if n := len(h.pending(t, "crm")); n != 3 {
		t.Fatalf("queued %d events, want 3: a form post after the window is a new form.submitted", n)
	}
}

func TestInboundScoreChange(t *testing.T) {
	h := newHarness(t)
	h.post(t, "/hooks/save_lead", "application/json", `{"data": {"email": "s@example.com", "score": 42}}`)
	a := h.post(t, "/hooks/save_lead", "application/json", `{"data": {"email": "S@Example.com ", "score": "57"}}`)
	if a.code != 200 {
		t.Fatalf("answer %d %s", a.code, a.raw)
	}
	var got []string
	for _, d := range h.pending(t, "crm") {
		got = append(got, d.Event.Event+fmt.Sprint(d.Event.Changed))
	}
	want := []string{"lead.created[]", "lead.updated[score]", "lead.score_changed[score]", "lead.field_updated[score]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
}

// failingStore is the embedded store with Ingest failing as an unreachable
// Redis would.
type failingStore struct{ Store }

func (failingStore) Ingest(context.Context, store.IngestRequest) (store.IngestResult, error) {
	return store.IngestResult{}, fmt.Errorf("ingest: %w", store.ErrUnavailable)
}

func (failingStore) Ping(context.Context) error { return store.ErrUnavailable }

// onlyMapping is a harness option serving one mapping, name, compiled from
// yaml, in place of the shipped ones.
func onlyMapping(t *testing.T, name, yaml string) func(*Options, *Runtime) {
	t.Helper()
	m, err := mapping.Compile(name, name+".yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	set, err := mapping.NewSet(m)
	if err != nil {
		t.Fatal(err)
	}
	return func(o *Options, rt *Runtime) { rt.Mappings = set }
}

func TestInboundErrors(t *testing.T) {
	tokenMapping := onlyMapping(t, "secured", `events: [lead.created]
auth: {type: token, header: X-Token, token: s3cret}
fields:
  email: email
`)
	down := func(o *Options, rt *Runtime) { o.Store = failingStore{o.Store} }
	tests := []struct {
		name, path, contentType, body string
		header                        map[string]string
		mutate                        func(*Options, *Runtime)
		code                          int
		errText                       string
		detail                        string
	}{
		{name: "400 malformed JSON", path: "/hooks/website", contentType: "application/json", body: `{"client": `, code: 400, errText: "malformed body"},
		{name: "401 wrong token", path: "/hooks/secured", contentType: "application/json", body: `{"email": "a@example.com"}`, header: map[string]string{"X-Token": "nope"}, mutate: tokenMapping, code: 401, errText: "source authentication failed"},
		{name: "401 no token", path: "/hooks/secured", contentType: "application/json", body: `{"email": "a@example.com"}`, mutate: tokenMapping, code: 401, errText: "source authentication failed"},
		{name: "404 unknown source", path: "/hooks/nope", contentType: "application/json", body: `{}`, code: 404, errText: "unknown source", detail: "nope"},
		{name: "413 body over the limit", path: "/hooks/website", contentType: "application/json", body: `{"notes": "` + strings.Repeat("x", 5000) + `"}`, code: 413, errText: "body too large"},
		{name: "415 content type", path: "/hooks/website", contentType: "application/xml", body: `<lead/>`, code: 415, errText: "unsupported content type"},
		{name: "422 no identity", path: "/hooks/website", contentType: "application/json", body: `{"client": "c", "lead_details": [{"lead_field": "name", "lead_value": "No Contact"}]}`, code: 422, errText: "required field missing or of the wrong type"},
		{name: "422 score of the wrong type", path: "/hooks/save_lead", contentType: "application/json", body: `{"data": {"email": "a@example.com", "score": "lots"}}`, code: 422, errText: "required field missing or of the wrong type", detail: "score"},
		{name: "503 store unreachable", path: "/hooks/website", contentType: "application/json", body: ledsakSeed, mutate: down, code: 503, errText: "store unavailable, retry later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mutate []func(*Options, *Runtime)
			if tt.mutate != nil {
				mutate = append(mutate, tt.mutate)
			}
			h := newHarness(t, mutate...)
			req := httptest.NewRequest(http.MethodPost, tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			a := h.do(t, req)
			if a.code != tt.code || a.body["error"] != tt.errText {
				t.Fatalf("answer = %d %s, want %d with error %q", a.code, a.raw, tt.code, tt.errText)
			}
			if _, ok := a.body["details"].([]any); !ok {
				t.Errorf("details = %v, want a list", a.body["details"])
			}
			if tt.detail != "" && !strings.Contains(fmt.Sprint(a.body["details"]), tt.detail) {
				t.Errorf("details %v do not name %q", a.body["details"], tt.detail)
			}
			if a.header.Get("RateLimit-Policy") == "" || a.header.Get("RateLimit") == "" {
				t.Errorf("%d without the rate-limit headers: %v", a.code, a.header)
			}
			if tt.code == 503 && a.header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
			if _, isFailing := any(h.store).(failingStore); !isFailing && tt.code != 503 {
				if n := len(h.pending(t, "crm")); n != 0 {
					t.Errorf("a rejected request queued %d deliveries", n)
				}
			}
		})
	}
}

func TestInboundRateLimit(t *testing.T) {
	h := newHarness(t)
	for i := range 25 {
		a := h.post(t, "/hooks/website", "application/json", fmt.Sprintf(`{"email": "r%d@example.com"}`, i))
		if a.code != 200 {
			t.Fatalf("request %d = %d %s, want 200", i+1, a.code, a.raw)
		}
	}
	a := h.post(t, "/hooks/website", "application/json", `{"email": "over@example.com"}`)
	if a.code != 429 || a.body["error"] != "rate limited" {
		t.Fatalf("26th request = %d %s, want 429", a.code, a.raw)
	}
	if ra := a.header.Get("Retry-After"); ra != "5" {
		t.Errorf("Retry-After = %q, want 5 (the first admission leaves the window in 5 s)", ra)
	}
	if got, want := a.header.Get("RateLimit-Policy"), `"inbound";q=25;w=5`; got != want {
		t.Errorf("RateLimit-Policy = %q, want %q", got, want)
	}
	if got := a.header.Get("RateLimit"); !strings.HasPrefix(got, `"inbound";r=0;`) {
		t.Errorf("RateLimit = %q, want r=0", got)
	}
	if got := testutil.ToFloat64(h.metrics.RateLimited.WithLabelValues("inbound")); got != 1 {
		t.Errorf("gateway_rate_limited_total{scope=inbound} = %v, want 1", got)
	}
	h.now = h.now.Add(5*time.Second + time.Millisecond)
	if a := h.post(t, "/hooks/website", "application/json", `{"email": "later@example.com"}`); a.code != 200 {
		t.Fatalf("after the window = %d %s, want 200", a.code, a.raw)
	}
}

func TestInboundMetrics(t *testing.T) {
	h := newHarness(t)
	h.post(t, "/hooks/website", "application/json", ledsakSeed)
	h.post(t, "/hooks/website", "application/json", `{"client": `)
	h.post(t, "/hooks/no-such-source-"+fmt.Sprint(time.Now().UnixNano()), "application/json", `{}`)
	// A reload empties the server's cache of series; counting goes on in
	// the same ones.
	h.srv.Swap(h.srv.Runtime())
	h.post(t, "/hooks/website", "application/json", strings.Replace(ledsakSeed, "johndoe@", "janedoe@", 1))
	checks := []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"inbound 200", h.metrics.InboundRequests.WithLabelValues("website", "200"), 2},
		{"inbound 400", h.metrics.InboundRequests.WithLabelValues("website", "400"), 1},
		{"inbound 404 under unknown", h.metrics.InboundRequests.WithLabelValues("unknown", "404"), 1},
		{"malformed", h.metrics.NormalizeFailures.WithLabelValues("website", metrics.ReasonMalformed), 1},
		{"form.submitted", h.metrics.Events.WithLabelValues("website", lead.FormSubmitted), 2},
		{"lead.created", h.metrics.Events.WithLabelValues("website", lead.LeadCreated), 2},
	}
	for _, c := range checks {
		if got := testutil.ToFloat64(c.c); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestAdmin(t *testing.T) {
	h := newHarness(t)
	h.post(t, "/hooks/website", "application/json", ledsakSeed)
	ds := h.pending(t, "crm")
	if len(ds) != 2 {
		t.Fatalf("queued %d deliveries, want 2", len(ds))
	}
	// Dead-letter the first one.
	err := h.store.Settle(context.Background(), []store.Outcome{{Delivery: ds[0], State: store.Dead,
		Attempt: store.Attempt{At: h.now, Code: 400, DurationMS: 12, Error: "400 Bad Request"}}})
	if err != nil {
		t.Fatal(err)
	}
	admin := func(method, path string, keys bool) answer {
		req := httptest.NewRequest(method, path, nil)
		if keys {
			req.Header.Set("X-Access-Key", accessKey)
			req.Header.Set("X-Secret-Key", secretKey)
		}
		return h.do(t, req)
	}
	for _, path := range []string{"/admin/events/" + ds[0].EventID, "/admin/dead-letters"} {
		if a := admin(http.MethodGet, path, false); a.code != 401 {
			t.Errorf("GET %s without keys = %d, want 401", path, a.code)
		}
	}
	wrong := httptest.NewRequest(http.MethodGet, "/admin/dead-letters", nil)
	wrong.Header.Set("X-Access-Key", accessKey)
	wrong.Header.Set("X-Secret-Key", "guess")
	if a := h.do(t, wrong); a.code != 401 {
		t.Errorf("wrong secret = %d, want 401", a.code)
	}

	ev := admin(http.MethodGet, "/admin/events/"+ds[0].EventID, true)
	if ev.code != 200 || ev.body["id"] != ds[0].EventID || ev.body["source"] != "website" {
		t.Fatalf("event = %d %s", ev.code, ev.raw)
	}
	deliveries := ev.body["deliveries"].([]any)
	d0 := deliveries[0].(map[string]any)
	attempts := d0["attempts"].([]any)
	if d0["destination"] != "crm" || d0["status"] != "dead" || len(attempts) != 1 || attempts[0].(map[string]any)["code"] != 400.0 {
		t.Errorf("deliveries = %v, want crm dead with one 400 attempt", deliveries)
	}
	if a := admin(http.MethodGet, "/admin/events/evt_missing", true); a.code != 404 {
		t.Errorf("unknown event = %d, want 404", a.code)
	}

	dl := admin(http.MethodGet, "/admin/dead-letters?destination=crm", true)
	items := dl.body["items"].([]any)
	if dl.code != 200 || len(items) != 1 || dl.body["next"] != "" {
		t.Fatalf("dead letters = %d %s, want one item and no next", dl.code, dl.raw)
	}
	item := items[0].(map[string]any)
	if item["event_id"] != ds[0].EventID || item["last_error"] != "400 Bad Request" || item["destination"] != "crm" {
		t.Errorf("dead letter = %v", item)
	}
	if a := admin(http.MethodPost, "/admin/dead-letters/"+item["id"].(string)+"/replay", true); a.code != 200 {
		t.Fatalf("replay = %d %s", a.code, a.raw)
	}
	again := h.pending(t, "crm")
	if len(again) != 1 || again[0].EventID != ds[0].EventID {
		t.Fatalf("after replay the queue holds %v, want the dead event again with its id", again)
	}
	if a := admin(http.MethodPost, "/admin/dead-letters/replay", true); a.code != 400 {
		t.Errorf("replay all without destination = %d, want 400", a.code)
	}
	if a := admin(http.MethodPost, "/admin/dead-letters/replay?destination=crm", true); a.code != 200 || a.body["replayed"] != 0.0 {
		t.Errorf("replay all = %d %s, want 0 replayed (none left dead)", a.code, a.raw)
	}
}

func TestReadiness(t *testing.T) {
	h := newHarness(t)
	if a := h.do(t, httptest.NewRequest(http.MethodGet, "/readyz", nil)); a.code != 200 {
		t.Errorf("readyz = %d %s, want 200", a.code, a.raw)
	}
	if a := h.do(t, httptest.NewRequest(http.MethodGet, "/healthz", nil)); a.code != 200 {
		t.Errorf("healthz = %d %s, want 200", a.code, a.raw)
	}
	down := newHarness(t, func(o *Options, rt *Runtime) { o.Store = failingStore{o.Store} })
	a := down.do(t, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if a.code != 503 || a.raw != `{"status":"not ready"}` {
		t.Errorf("readyz with the store down = %d %s, want 503 saying only not ready", a.code, a.raw)
	}
	if !errors.Is(failingStore{}.Ping(context.Background()), store.ErrUnavailable) {
		t.Fatal("fake store does not fail")
	}
}

func TestRequestID(t *testing.T) {
	h := newHarness(t)
	made := h.post(t, "/hooks/website", "application/json", ledsakSeed)
	if id := made.header.Get(requestid.Header); len(id) != 28 {
		t.Errorf("made request id = %q, want 28 hex characters", id)
	}
	other := h.post(t, "/hooks/nope", "application/json", `{}`)
	if a, b := made.header.Get(requestid.Header), other.header.Get(requestid.Header); a == b {
		t.Errorf("two requests share the id %q", a)
	}
	tests := []struct{ sent, kept string }{
		{"abc-123_X.y", "abc-123_X.y"},
		{"bad id\nforged=1", ""},
		{strings.Repeat("a", 65), ""},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		req.Header.Set(requestid.Header, tt.sent)
		a := h.do(t, req)
		got := a.header.Get(requestid.Header)
		if tt.kept != "" && got != tt.kept {
			t.Errorf("sent %q, answered %q, want it kept", tt.sent, got)
		}
		if tt.kept == "" && (got == tt.sent || len(got) != 28) {
			t.Errorf("sent unsafe %q, answered %q, want a made id", tt.sent, got)
		}
	}
}
