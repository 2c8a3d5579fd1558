package leadsquared

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"leadgate/gateway/deliver"
	"leadgate/gateway/lead"
	"leadgate/gateway/metrics"
	"leadgate/gateway/policy"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/store"
	"leadgate/gateway/store/bolt"
)

const (
	testAccess = "AK-test"
	testSecret = "SK-test"
	keys       = "accessKey=" + testAccess + "&secretKey=" + testSecret
)

type harness struct {
	app     *fiber.App
	api     *API
	store   store.Store
	metrics *metrics.Metrics
}

// frozenLimiter is the in-process limiter on a clock that never moves, so a
// burst test needs no timing: nothing ever leaves the window.
func frozenLimiter() ratelimit.Limiter {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	return ratelimit.NewLocal(ratelimit.LocalOptions{Now: func() time.Time { return at }})
}

// newHarness serves the API on a fake store.
func newHarness(t *testing.T, mutate ...func(*Options)) *harness {
	t.Helper()
	return newHarnessOn(t, newFakeStore(), mutate...)
}

// openBolt opens the embedded store in dir, closed when the test ends.
func openBolt(t *testing.T, dir string) *bolt.Store {
	t.Helper()
	st, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		t.Fatalf("open bolt store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newHarnessOn(t *testing.T, st store.Store, mutate ...func(*Options)) *harness {
	t.Helper()
	m := metrics.New(prometheus.NewRegistry())
	opts := Options{
		Store:     st,
		Limiter:   frozenLimiter(),
		Metrics:   m,
		AccessKey: testAccess,
		SecretKey: testSecret,
	}
	for _, f := range mutate {
		f(&opts)
	}
	api := New(opts)
	app := fiber.New()
	api.Mount(app)
	return &harness{app: app, api: api, store: st, metrics: m}
}

// call sends one request and returns the status and the decoded JSON body.
func (h *harness) call(t *testing.T, method, target, body string) (int, map[string]any, http.Header) {
	t.Helper()
	code, raw, hdr := h.callRaw(t, method, target, body)
	var out map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, target, raw, err)
		}
	}
	return code, out, hdr
}

func (h *harness) callRaw(t *testing.T, method, target, body string) (int, []byte, http.Header) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.app.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, raw, resp.Header
}

// create posts body and returns the new subscription's id.
func (h *harness) create(t *testing.T, body string) string {
	t.Helper()
	code, out, _ := h.call(t, "POST", "/v2/Webhook.svc/Create?"+keys, body)
	if code != 200 {
		t.Fatalf("Create: status %d, body %v", code, out)
	}
	msg, _ := out["Message"].(map[string]any)
	id, _ := msg["Id"].(string)
	if out["Status"] != "Success" || id == "" {
		t.Fatalf("Create: body %v, want Status Success and an Id", out)
	}
	return id
}

func (h *harness) destinations(t *testing.T) []deliver.Destination {
	t.Helper()
	d, err := h.api.Destinations(context.Background())
	if err != nil {
		t.Fatalf("Destinations: %v", err)
	}
	return d
}

func seedBody(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/seed-create.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var defaultSchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

func TestCreateSeedExample(t *testing.T) {
	h := newHarness(t)
	code, out, hdr := h.call(t, "POST", "/v2/Webhook.svc/Create?"+keys, seedBody(t))
	if code != 200 {
		t.Fatalf("status %d, body %v", code, out)
	}
	if out["Status"] != "Success" {
		t.Fatalf("Status = %v, want Success", out["Status"])
	}
	id := out["Message"].(map[string]any)["Id"].(string)
	if _, err := uuid.Parse(id); err != nil {
		t.Fatalf("Id %q is not a uuid: %v", id, err)
	}
	if hdr.Get("RateLimit-Policy") == "" || hdr.Get("RateLimit") == "" {
		t.Fatalf("rate limit headers missing: %v", hdr)
	}

	got := h.destinations(t)
	want := []deliver.Destination{{
		Name:        "lsq-" + id,
		URL:         "https://requestb.in/19n3y3u1",
		Method:      "POST",
		ContentType: "application/json",
		Format:      "canonical",
		Headers: []deliver.Header{
			{Key: "x-api-key", Value: "j5FtwJk44e6fJHzbKc3fa82pJQQoBa7MebQHXAP"},
			{Key: "x-api-key", Value: "j5FtwJk44e6fJHzbKc3fa82pJQQoBa7MebQHXAP6"},
		},
		Events:  []string{lead.FormSubmitted},
		Enabled: true,
		Delivery: policy.Delivery{
			Timeout:     15 * time.Second,
			Retry:       policy.Retry{MaxAttempts: 8, Schedule: defaultSchedule},
			Concurrency: policy.SubscriptionConcurrency,
			Ordered:     true, // a CRM gets a lead's events in order
		},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Destinations:\n got %+v\nwant %+v", got, want)
	}
}

func TestCreateBodyForms(t *testing.T) {
	tests := []struct {
		name string
		body string
		want func(d *deliver.Destination)
	}{
		{
			name: "event as number, form content type, notify off",
			body: `{"URL":"http://crm.example.com/hook","WebhookEvent":3,"ContentType":"application/x-www-form-urlencoded","NotifyOnFailure":false}`,
			want: func(d *deliver.Destination) {
				d.URL = "http://crm.example.com/hook"
				d.Events = []string{lead.LeadCreated}
				d.ContentType = "application/x-www-form-urlencoded"
				d.NoNotify = true
			},
		},
		{
			name: "string booleans and landing pages",
			body: `{"URL":"https://crm.example.com/h","WebhookEvent":"1","IsSpecificLandingPage":"true","LandingPageUrls":["https://example.com/a","https://example.com/b"],"NotifyOnFailure":"TRUE"}`,
			want: func(d *deliver.Destination) {
				d.URL = "https://crm.example.com/h"
				d.LandingPages = []string{"https://example.com/a", "https://example.com/b"}
			},
		},
		{
			name: "headers and properties as JSON strings, text/plain, event 26",
			body: `{"URL":"https://crm.example.com/h","WebhookEvent":"26","ContentType":"text/plain","WebhookProperties":"{\"ActivityEvent\":\"247\",\"ActivityData\":\"[]\",\"WebPageNames\":\"[]\"}","CustomHeaders":"[{\"Key\":\"X-Token\",\"Value\":\"abc\"}]"}`,
			want: func(d *deliver.Destination) {
				d.URL = "https://crm.example.com/h"
				d.Events = []string{lead.LeadFieldUpdated}
				d.ContentType = "text/plain"
				d.Headers = []deliver.Header{{Key: "X-Token", Value: "abc"}}
				d.NoNotify = true // NotifyOnFailure left out is false
			},
		},
		{
			name: "properties as an object, events 6 and 9 by number strings",
			body: `{"URL":"https://crm.example.com/h","WebhookEvent":" 9 ","WebhookProperties":{"ActivityEvent":"247"},"Unknown":"ignored"}`,
			want: func(d *deliver.Destination) {
				d.URL = "https://crm.example.com/h"
				d.Events = []string{lead.LeadScoreChanged}
				d.NoNotify = true
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.create(t, tt.body)
			want := deliver.Destination{
				Name: "lsq-" + id, Method: "POST", ContentType: "application/json", Format: "canonical",
				Events: []string{lead.FormSubmitted}, Enabled: true,
				Delivery: policy.Delivery{Timeout: 15 * time.Second, Retry: policy.Retry{MaxAttempts: 8, Schedule: defaultSchedule},
					Concurrency: policy.SubscriptionConcurrency, Ordered: true},
			}
			tt.want(&want)
			got := h.destinations(t)
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Fatalf("Destinations:\n got %+v\nwant %+v", got, want)
			}
			if err := got[0].Validate(); err != nil {
				t.Fatalf("deliver refuses the destination: %v", err)
			}
		})
	}
}

func TestCreateErrors(t *testing.T) {
	var eleven []string
	for i := 0; i < 11; i++ {
		eleven = append(eleven, fmt.Sprintf(`{"Key":"x-h%d","Value":"v"}`, i))
	}
	const base = `"URL":"https://crm.example.com/h","WebhookEvent":"1"`
	tests := []struct {
		name     string
		body     string
		wantType string
		// wantIn must all appear in the ExceptionMessage.
		wantIn []string
	}{
		{"eleven custom headers", `{` + base + `,"CustomHeaders":[` + strings.Join(eleven, ",") + `]}`,
			"MXInvalidInputException", []string{"CustomHeaders", "10"}},
		{"unsupported event", `{"URL":"https://crm.example.com/h","WebhookEvent":"2"}`,
			"MXInvalidInputException", []string{"WebhookEvent", "1 (form.submitted)", "3 (lead.created)", "6 (lead.updated)", "9 (lead.score_changed)", "26 (lead.field_updated)"}},
		{"opportunity event number", `{"URL":"https://crm.example.com/h","WebhookEvent":31}`,
			"MXInvalidInputException", []string{"WebhookEvent", "31", "1 (", "26 ("}},
		{"event not a number", `{"URL":"https://crm.example.com/h","WebhookEvent":"lead"}`,
			"MXInvalidInputException", []string{"WebhookEvent"}},
		{"event missing", `{"URL":"https://crm.example.com/h"}`,
			"MXMandatoryAttributeMissingException", []string{"WebhookEvent"}},
		{"specific landing page without urls", `{` + base + `,"IsSpecificLandingPage":true}`,
			"MXMandatoryAttributeMissingException", []string{"LandingPageUrls"}},
		{"specific landing page with empty list", `{` + base + `,"IsSpecificLandingPage":"true","LandingPageUrls":[]}`,
			"MXMandatoryAttributeMissingException", []string{"LandingPageUrls"}},
		{"landing pages without the flag", `{` + base + `,"LandingPageUrls":["https://example.com/a"]}`,
			"MXInvalidInputException", []string{"IsSpecificLandingPage"}},
		{"landing pages on a lead event", `{"URL":"https://crm.example.com/h","WebhookEvent":3,"IsSpecificLandingPage":true,"LandingPageUrls":["a"]}`,
			"MXInvalidInputException", []string{"IsSpecificLandingPage"}},
		{"opportunity properties as a string", `{` + base + `,"WebhookProperties":"{\"OpportunityEvents\":[\"12002\"], \"IsAsyncEnable\":true}"}`,
			"MXInvalidInputException", []string{"WebhookProperties", "opportunit"}},
		{"opportunity stage properties as an object", `{` + base + `,"WebhookProperties":{"StageFrom":"Budget constraints","StageTo":"Negotiation"}}`,
			"MXInvalidInputException", []string{"WebhookProperties", "opportunit"}},
		{"properties not an object", `{` + base + `,"WebhookProperties":[1]}`,
			"MXInvalidInputException", []string{"WebhookProperties"}},
		{"url missing", `{"WebhookEvent":"1"}`, "MXMandatoryAttributeMissingException", []string{"URL"}},
		{"url relative", `{"URL":"/hook","WebhookEvent":"1"}`, "MXInvalidInputException", []string{"URL", "absolute"}},
		{"url ftp", `{"URL":"ftp://example.com/x","WebhookEvent":"1"}`, "MXInvalidInputException", []string{"URL", "http"}},
		{"url not a string", `{"URL":12,"WebhookEvent":"1"}`, "MXInvalidInputException", []string{"URL"}},
		{"url loopback", `{"URL":"http://127.0.0.1:9000/x","WebhookEvent":"1"}`, "MXInvalidInputException", []string{"URL", "private"}},
		{"url metadata", `{"URL":"http://169.254.169.254/latest","WebhookEvent":"1"}`, "MXInvalidInputException", []string{"URL"}},
		{"url localhost", `{"URL":"http://localhost/x","WebhookEvent":"1"}`, "MXInvalidInputException", []string{"URL"}},
		{"url private v6", `{"URL":"http://[fd00::1]/x","WebhookEvent":"1"}`, "MXInvalidInputException", []string{"URL"}},
		{"method GET", `{` + base + `,"Method":"GET"}`, "MXInvalidInputException", []string{"Method", "POST"}},
		{"content type xml", `{` + base + `,"ContentType":"application/xml"}`, "MXInvalidInputException", []string{"ContentType", "text/plain"}},
		{"boolean not a boolean", `{` + base + `,"NotifyOnFailure":"yes"}`, "MXInvalidInputException", []string{"NotifyOnFailure"}},
		{"header value with a line break", `{` + base + `,"CustomHeaders":[{"Key":"X-A","Value":"a\r\nX-B: b"}]}`,
			"MXInvalidInputException", []string{"CustomHeaders[0].Value"}},
		{"header value with a control byte", `{` + base + `,"CustomHeaders":[{"Key":"X-A","Value":"a\u0001b"}]}`,
			"MXInvalidInputException", []string{"CustomHeaders[0].Value"}},
		{"header with a bad name", `{` + base + `,"CustomHeaders":[{"Key":"X A","Value":"a"}]}`,
			"MXInvalidInputException", []string{"CustomHeaders[0].Key"}},
		{"header the gateway sets", `{` + base + `,"CustomHeaders":[{"Key":"Webhook-Signature","Value":"v1,x"}]}`,
			"MXInvalidInputException", []string{"CustomHeaders[0].Key"}},
		{"header without a key", `{` + base + `,"CustomHeaders":[{"Value":"a"}]}`,
			"MXInvalidInputException", []string{"CustomHeaders[0]"}},
		{"headers not a list", `{` + base + `,"CustomHeaders":{"Key":"a"}}`,
			"MXInvalidInputException", []string{"CustomHeaders"}},
		{"not json", `Description=x`, "MXInvalidInputException", []string{"body"}},
		{"broken json", `{"URL": `, "MXInvalidInputException", []string{"body"}},
		{"empty body", ``, "MXInvalidInputException", []string{"body"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			code, out, _ := h.call(t, "POST", "/v2/Webhook.svc/Create?"+keys, tt.body)
			if code != 400 {
				t.Fatalf("status %d, want 400; body %v", code, out)
			}
			if out["Status"] != "Error" || out["ExceptionType"] != tt.wantType {
				t.Fatalf("body %v, want Status Error and ExceptionType %s", out, tt.wantType)
			}
			msg, _ := out["ExceptionMessage"].(string)
			for _, w := range tt.wantIn {
				if !strings.Contains(msg, w) {
					t.Fatalf("ExceptionMessage %q does not mention %q", msg, w)
				}
			}
			if n := len(h.destinations(t)); n != 0 {
				t.Fatalf("a refused body stored %d subscriptions", n)
			}
		})
	}
}

func TestDefaultsReachDestinations(t *testing.T) {
	d := Defaults{
		Delivery: policy.Delivery{Timeout: 3 * time.Second, Retry: policy.Retry{MaxAttempts: 2, Schedule: []time.Duration{time.Second}},
			Concurrency: 7},
		Secrets: []string{"whsec_c2VjcmV0"},
	}
	h := newHarness(t, func(o *Options) { o.Defaults = d })
	h.create(t, seedBody(t))
	got := h.destinations(t)
	if len(got) != 1 || got[0].Timeout != d.Delivery.Timeout || got[0].Retry.MaxAttempts != 2 ||
		!reflect.DeepEqual(got[0].Retry.Schedule, d.Delivery.Retry.Schedule) || got[0].Concurrency != 7 || !reflect.DeepEqual(got[0].Secrets, d.Secrets) {
		t.Fatalf("Destinations = %+v, want the Defaults %+v", got, d)
	}
	if err := got[0].Validate(); err != nil {
		t.Fatalf("deliver refuses the destination: %v", err)
	}
}

// gateway.yaml's subscriptions.ordered: false (Delivery.Ordered false)
// makes subscriptions unordered; they are ordered otherwise.
func TestUnorderedSubscriptions(t *testing.T) {
	for _, unordered := range []bool{false, true} {
		pol := policy.Subscription()
		pol.Ordered = !unordered
		h := newHarness(t, func(o *Options) { o.Defaults = Defaults{Delivery: pol} })
		h.create(t, seedBody(t))
		if got := h.destinations(t); len(got) != 1 || got[0].Ordered == unordered {
			t.Fatalf("Unordered %v: destinations = %+v, want Ordered %v", unordered, got, !unordered)
		}
	}
}

func TestPrivateAllowedWhenGatewaySaysSo(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.AllowPrivate = true })
	h.create(t, `{"URL":"http://127.0.0.1:9000/x","WebhookEvent":"1"}`)
	d := h.destinations(t)
	if len(d) != 1 || !d[0].AllowPrivate {
		t.Fatalf("Destinations = %+v, want one with AllowPrivate", d)
	}
}

func TestAuthentication(t *testing.T) {
	tests := []struct {
		name   string
		access string
		secret string
		query  string
	}{
		{"wrong secret", testAccess, testSecret, "accessKey=" + testAccess + "&secretKey=nope"},
		{"wrong access", testAccess, testSecret, "accessKey=nope&secretKey=" + testSecret},
		{"missing keys", testAccess, testSecret, ""},
		{"missing secret", testAccess, testSecret, "accessKey=" + testAccess},
		{"admin keys unset", "", "", "accessKey=&secretKey="},
		{"admin secret unset", testAccess, "", "accessKey=" + testAccess + "&secretKey="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(o *Options) { o.AccessKey, o.SecretKey = tt.access, tt.secret })
			for _, call := range []struct{ method, path string }{
				{"POST", "/v2/Webhook.svc/Create"},
				{"GET", "/v2/Webhook.svc/Retrieve"},
				{"POST", "/v2/Webhook.svc/Update?id=x"},
				{"POST", "/v2/Webhook.svc/Delete?id=x"},
			} {
				target := call.path
				if tt.query != "" {
					sep := "?"
					if strings.Contains(target, "?") {
						sep = "&"
					}
					target += sep + tt.query
				}
				code, out, _ := h.call(t, call.method, target, seedBody(t))
				if code != 401 || out["Status"] != "Error" || out["ExceptionType"] != "MXUnAuthorizedAccessException" {
					t.Fatalf("%s %s: status %d body %v, want 401 MXUnAuthorizedAccessException", call.method, target, code, out)
				}
			}
			if n := len(h.destinations(t)); n != 0 {
				t.Fatalf("an unauthenticated call stored %d subscriptions", n)
			}
		})
	}
}

func TestKeysInHeadersAndAnyCase(t *testing.T) {
	h := newHarness(t)
	code, _, _ := h.call(t, "GET", "/v2/Webhook.svc/Retrieve?AccessKey="+testAccess+"&SECRETKEY="+testSecret, "")
	if code != 200 {
		t.Fatalf("keys in other case: status %d, want 200", code)
	}
	req := httptest.NewRequest("GET", "/v2/Webhook.svc/Retrieve", nil)
	req.Header.Set("x-LSQ-AccessKey", testAccess)
	req.Header.Set("x-LSQ-SecretKey", testSecret)
	resp, err := h.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("keys in headers: status %d, want 200", resp.StatusCode)
	}
}

func TestUnknownPath(t *testing.T) {
	for _, call := range []struct{ method, path string }{
		{"GET", "/v2/"},
		{"GET", "/v2/LeadManagement.svc/Leads.Get?" + keys},
		{"POST", "/v2/Webhook.svc/Nope?" + keys},
		{"GET", "/v2/Webhook.svc/Create?" + keys},
	} {
		t.Run(call.method+" "+call.path, func(t *testing.T) {
			h := newHarness(t)
			code, out, hdr := h.call(t, call.method, call.path, "")
			if code != 404 || out["Status"] != "Error" || out["ExceptionType"] != "MXInvalidAPIException" {
				t.Fatalf("status %d body %v, want 404 MXInvalidAPIException", code, out)
			}
			if hdr.Get("RateLimit") == "" {
				t.Fatalf("404 lacks RateLimit headers")
			}
		})
	}
}

func TestRateLimitBurst(t *testing.T) {
	h := newHarness(t)
	firstRefused := -1
	for i := 0; i < 30; i++ {
		code, out, hdr := h.call(t, "GET", "/v2/Webhook.svc/Retrieve?"+keys, "")
		if hdr.Get("RateLimit-Policy") != `"api";q=25;w=5` || hdr.Get("RateLimit") == "" {
			t.Fatalf("call %d: RateLimit-Policy %q RateLimit %q", i+1, hdr.Get("RateLimit-Policy"), hdr.Get("RateLimit"))
		}
		if code == 429 {
			if firstRefused < 0 {
				firstRefused = i
			}
			if out["ExceptionType"] != "MXAPIRateLimitExceededException" || hdr.Get("Retry-After") != "5" {
				t.Fatalf("call %d: body %v Retry-After %q", i+1, out, hdr.Get("Retry-After"))
			}
			if msg := out["ExceptionMessage"]; msg != "API calls exceeded the limit of 25 in 5 second(s)" {
				t.Fatalf("ExceptionMessage = %q", msg)
			}
			continue
		}
		if code != 200 {
			t.Fatalf("call %d: status %d", i+1, code)
		}
		if firstRefused >= 0 {
			t.Fatalf("call %d answered 200 after a 429", i+1)
		}
	}
	if firstRefused != 25 {
		t.Fatalf("%d calls answered before the first 429, want 25", firstRefused)
	}
	if got := testutil.ToFloat64(h.metrics.RateLimited.WithLabelValues("api")); got != 5 {
		t.Fatalf("gateway_rate_limited_total{scope=api} = %v, want 5", got)
	}
	// Another access key has its own budget (and is then refused by auth).
	if code, _, _ := h.call(t, "GET", "/v2/Webhook.svc/Retrieve?accessKey=other&secretKey=x", ""); code != 401 {
		t.Fatalf("other access key: status %d, want 401", code)
	}
}

// retrieve returns the Retrieve list.
func (h *harness) retrieve(t *testing.T, query string) []Subscription {
	t.Helper()
	code, raw, _ := h.callRaw(t, "GET", "/v2/Webhook.svc/Retrieve?"+keys+query, "")
	if code != 200 {
		t.Fatalf("Retrieve: status %d body %s", code, raw)
	}
	var subs []Subscription
	if err := json.Unmarshal(raw, &subs); err != nil {
		t.Fatalf("Retrieve: decode %s: %v", raw, err)
	}
	return subs
}

func TestRetrieveUpdateDelete(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	h := newHarnessOn(t, openBolt(t, t.TempDir()), func(o *Options) { o.Now = func() time.Time { return now } })
	if subs := h.retrieve(t, ""); len(subs) != 0 {
		t.Fatalf("Retrieve on an empty store = %v", subs)
	}
	id := h.create(t, seedBody(t))
	now = now.Add(time.Minute)
	other := h.create(t, `{"URL":"https://b.example.com/h","WebhookEvent":3}`)

	subs := h.retrieve(t, "")
	if len(subs) != 2 || subs[0].ID != id || subs[1].ID != other {
		t.Fatalf("Retrieve = %+v, want %s then %s", subs, id, other)
	}
	s := subs[0]
	wantHeaders := []Header{{"x-api-key", "j5FtwJk44e6fJHzbKc3fa82pJQQoBa7MebQHXAP"}, {"x-api-key", "j5FtwJk44e6fJHzbKc3fa82pJQQoBa7MebQHXAP6"}}
	if s.Description != "Description of webhook" || s.WebhookEvent != 1 || s.Event != lead.FormSubmitted ||
		!s.NotifyOnFailure || !reflect.DeepEqual(s.CustomHeaders, wantHeaders) || !s.CreatedAt.Equal(now.Add(-time.Minute)) {
		t.Fatalf("Retrieve item = %+v", s)
	}

	now = now.Add(time.Hour)
	code, out, _ := h.call(t, "POST", "/v2/Webhook.svc/Update?id="+id+"&"+keys,
		`{"URL":"https://c.example.com/h","WebhookEvent":"1","IsSpecificLandingPage":true,"LandingPageUrls":["https://example.com/lp"]}`)
	if code != 200 || out["Status"] != "Success" {
		t.Fatalf("Update: status %d body %v", code, out)
	}
	got := h.retrieve(t, "&id="+id)
	if len(got) != 1 || got[0].URL != "https://c.example.com/h" || got[0].CustomHeaders != nil ||
		!got[0].CreatedAt.Equal(s.CreatedAt) || !got[0].UpdatedAt.Equal(now) {
		t.Fatalf("after Update, Retrieve = %+v", got)
	}
	dests := h.destinations(t)
	if len(dests) != 2 || dests[0].Name != "lsq-"+id || !reflect.DeepEqual(dests[0].LandingPages, []string{"https://example.com/lp"}) {
		t.Fatalf("after Update, Destinations = %+v", dests)
	}

	code, out, _ = h.call(t, "POST", "/v2/Webhook.svc/Delete?id="+id+"&"+keys, "")
	if code != 200 || out["Status"] != "Success" {
		t.Fatalf("Delete: status %d body %v", code, out)
	}
	dests = h.destinations(t)
	if len(dests) != 1 || dests[0].Name != "lsq-"+other {
		t.Fatalf("after Delete, Destinations = %+v, want only lsq-%s", dests, other)
	}

	errs := []struct {
		name, method, target, body string
		code                       int
		wantType                   string
	}{
		{"delete again", "POST", "/v2/Webhook.svc/Delete?id=" + id + "&" + keys, "", 404, "MXDoesNotExistException"},
		{"update deleted", "POST", "/v2/Webhook.svc/Update?id=" + id + "&" + keys, seedBody(t), 404, "MXDoesNotExistException"},
		{"retrieve deleted", "GET", "/v2/Webhook.svc/Retrieve?id=" + id + "&" + keys, "", 404, "MXDoesNotExistException"},
		{"update without id", "POST", "/v2/Webhook.svc/Update?" + keys, seedBody(t), 400, "MXMandatoryAttributeMissingException"},
		{"delete without id", "POST", "/v2/Webhook.svc/Delete?" + keys, "", 400, "MXMandatoryAttributeMissingException"},
		{"update with a bad body", "POST", "/v2/Webhook.svc/Update?id=" + other + "&" + keys, `{"URL":"x","WebhookEvent":1}`, 400, "MXInvalidInputException"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			code, out, _ := h.call(t, tt.method, tt.target, tt.body)
			if code != tt.code || out["ExceptionType"] != tt.wantType {
				t.Fatalf("status %d body %v, want %d %s", code, out, tt.code, tt.wantType)
			}
		})
	}
	if d := h.destinations(t); len(d) != 1 || d[0].URL != "https://b.example.com/h" {
		t.Fatalf("a refused Update changed the subscription: %+v", d)
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	st := openBolt(t, dir)
	h := newHarnessOn(t, st)
	id := h.create(t, seedBody(t))
	gone := h.create(t, `{"URL":"https://b.example.com/h","WebhookEvent":3}`)
	if code, _, _ := h.call(t, "POST", "/v2/Webhook.svc/Delete?id="+gone+"&"+keys, ""); code != 200 {
		t.Fatalf("Delete: status %d", code)
	}
	before := h.destinations(t)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	reopened := New(Options{Store: openBolt(t, dir), Limiter: frozenLimiter(), Metrics: h.metrics})
	after, err := reopened.Destinations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 1 || after[0].Name != "lsq-"+id || !reflect.DeepEqual(after, before) {
		t.Fatalf("after reopen, Destinations = %+v, want %+v", after, before)
	}
}

func TestStoreFailureLeaksNothing(t *testing.T) {
	fake := newFakeStore()
	h := newHarnessOn(t, fake)
	fake.fail = fmt.Errorf("redis: dial tcp 10.9.8.7:6379: connection refused: %w", store.ErrUnavailable)
	for _, call := range []struct{ method, path, body string }{
		{"POST", "/v2/Webhook.svc/Create?" + keys, seedBody(t)},
		{"GET", "/v2/Webhook.svc/Retrieve?" + keys, ""},
		{"POST", "/v2/Webhook.svc/Delete?id=x&" + keys, ""},
	} {
		code, out, _ := h.call(t, call.method, call.path, call.body)
		msg, _ := out["ExceptionMessage"].(string)
		if code != 500 || out["Status"] != "Error" || out["ExceptionType"] != "MXUnknownException" || msg == "" {
			t.Fatalf("%s: status %d body %v, want 500 MXUnknownException", call.path, code, out)
		}
		for _, leak := range []string{"redis", "10.9.8.7", "6379", "unavailable", "refused"} {
			if strings.Contains(strings.ToLower(msg), leak) {
				t.Fatalf("ExceptionMessage %q leaks %q", msg, leak)
			}
		}
	}
}

// recorder collects Watch callbacks.
type recorder chan []deliver.Destination

func (r recorder) fn(d []deliver.Destination) { r <- d }

func (r recorder) next(t *testing.T) []deliver.Destination {
	t.Helper()
	select {
	case d := <-r:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no change callback")
		return nil
	}
}

func names(ds []deliver.Destination) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

func TestWatchLocalAndOtherReplica(t *testing.T) {
	local, remote := make(recorder, 8), make(recorder, 8)
	h := newHarnessOn(t, openBolt(t, t.TempDir()), func(o *Options) { o.OnChange = local.fn })
	// A second replica sharing the store.
	replica := New(Options{Store: h.store, Limiter: frozenLimiter(), Metrics: h.metrics, OnChange: remote.fn})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{}, 2)
	go func() { h.api.Watch(ctx, time.Hour); done <- struct{}{} }()
	go func() { replica.Watch(ctx, time.Millisecond); done <- struct{}{} }()
	if d := local.next(t); len(d) != 0 {
		t.Fatalf("initial local callback = %v", names(d))
	}
	if d := remote.next(t); len(d) != 0 {
		t.Fatalf("initial remote callback = %v", names(d))
	}

	id := h.create(t, seedBody(t))
	// The local replica is told before Create answers: the callback is
	// already queued, though its own poll only runs hourly.
	select {
	case d := <-local:
		if !reflect.DeepEqual(names(d), []string{"lsq-" + id}) {
			t.Fatalf("local callback after Create = %v", names(d))
		}
	default:
		t.Fatal("Create answered before the local callback ran")
	}
	if d := remote.next(t); !reflect.DeepEqual(names(d), []string{"lsq-" + id}) {
		t.Fatalf("remote callback after Create = %v", names(d))
	}

	if code, _, _ := h.call(t, "POST", "/v2/Webhook.svc/Delete?id="+id+"&"+keys, ""); code != 200 {
		t.Fatalf("Delete: status %d", code)
	}
	select {
	case d := <-local:
		if len(d) != 0 {
			t.Fatalf("local callback after Delete = %v", names(d))
		}
	default:
		t.Fatal("Delete answered before the local callback ran")
	}
	if d := remote.next(t); len(d) != 0 {
		t.Fatalf("remote callback after Delete = %v", names(d))
	}
	cancel()
	<-done
	<-done
}

func TestWatchKeepsLastOnStoreFailure(t *testing.T) {
	fake := newFakeStore()
	rec := make(recorder, 8)
	h := newHarnessOn(t, fake, func(o *Options) { o.OnChange = rec.fn })
	id := h.create(t, seedBody(t))
	if d := rec.next(t); !reflect.DeepEqual(names(d), []string{"lsq-" + id}) {
		t.Fatalf("callback after Create = %v", names(d))
	}
	ctx := context.Background()
	fake.d.mu.Lock()
	fake.d.version++ // as if another replica changed something
	fake.d.mu.Unlock()
	fake.fail = errors.Join(store.ErrUnavailable)
	h.api.poll(ctx, false)
	select {
	case d := <-rec:
		t.Fatalf("callback during an outage: %v", names(d))
	default:
	}
	fake.fail = nil
	h.api.poll(ctx, false) // the change missed during the outage
	if d := rec.next(t); !reflect.DeepEqual(names(d), []string{"lsq-" + id}) {
		t.Fatalf("poll after the outage = %v", names(d))
	}
	h.api.poll(ctx, false) // unchanged version: no callback
	select {
	case d := <-rec:
		t.Fatalf("callback without a change: %v", names(d))
	default:
	}
}

func TestEventName(t *testing.T) {
	for n, want := range map[int]string{1: lead.FormSubmitted, 3: lead.LeadCreated, 6: lead.LeadUpdated, 9: lead.LeadScoreChanged, 26: lead.LeadFieldUpdated} {
		if got, ok := EventName(n); !ok || got != want {
			t.Fatalf("EventName(%d) = %q, %v; want %q", n, got, ok, want)
		}
	}
	for _, n := range []int{0, 2, 4, 5, 7, 8, 15, 16, 17, 31, 35} {
		if _, ok := EventName(n); ok {
			t.Fatalf("EventName(%d) is supported", n)
		}
	}
}
