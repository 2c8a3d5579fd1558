package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/console"
	"leadgate/gateway/server"
)

// client talks to a test gateway without following redirects, so the
// sign-in answer itself can be checked.
func client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

func do(t *testing.T, method, u string, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// signIn posts the keys through the form and returns the session cookie.
func signIn(t *testing.T, g *gateway, access, secret string) (*http.Response, string) {
	t.Helper()
	form := url.Values{"access_key": {access}, "secret_key": {secret}}.Encode()
	return do(t, http.MethodPost, g.base+"/ui/login", form, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

func sessionCookie(t *testing.T, g *gateway) string {
	t.Helper()
	res, _ := signIn(t, g, testAccess, testSecret)
	for _, c := range res.Cookies() {
		if c.Name == console.CookieName {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("sign-in set no %s cookie (status %d)", console.CookieName, res.StatusCode)
	return ""
}

func consoleHeaders(cookie string) map[string]string {
	return map[string]string{"Cookie": cookie, console.CSRFHeader: "1", "Content-Type": "application/json"}
}

func TestSignIn(t *testing.T) {
	g := startGateway(t, "http://127.0.0.1:9/")
	tests := []struct {
		name           string
		access, secret string
		wantCode       int
		wantCookie     bool
	}{
		{"right keys", testAccess, testSecret, http.StatusSeeOther, true},
		{"wrong secret", testAccess, "nope", http.StatusUnauthorized, false},
		{"wrong access", "nope", testSecret, http.StatusUnauthorized, false},
		{"swapped", testSecret, testAccess, http.StatusUnauthorized, false},
		{"empty", "", "", http.StatusUnauthorized, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := signIn(t, g, tt.access, tt.secret)
			if res.StatusCode != tt.wantCode {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.wantCode)
			}
			var cookie *http.Cookie
			for _, c := range res.Cookies() {
				if c.Name == console.CookieName {
					cookie = c
				}
			}
			if (cookie != nil) != tt.wantCookie {
				t.Fatalf("cookie set = %v, want %v", cookie != nil, tt.wantCookie)
			}
			if !tt.wantCookie {
				if !strings.Contains(body, `action="/ui/login"`) || !strings.Contains(body, "not right") {
					t.Fatalf("wrong keys did not get the form again: %s", body)
				}
				return
			}
			if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/ui" {
				t.Fatalf("cookie = %+v, want HttpOnly, SameSite=Strict, Path=/ui", cookie)
			}
			for _, key := range []string{testAccess, testSecret} {
				if strings.Contains(cookie.Value, key) || strings.Contains(res.Header.Get("Location"), key) {
					t.Fatalf("a key leaked into the cookie or the redirect")
				}
			}
		})
	}
}

func TestIndexServesFormOrConsole(t *testing.T) {
	g := startGateway(t, "http://127.0.0.1:9/")
	cookie := sessionCookie(t, g)
	_, body := do(t, http.MethodGet, g.base+"/ui/", "", nil)
	if !strings.Contains(body, `action="/ui/login"`) {
		t.Fatalf("signed-out /ui/ is not the sign-in form: %s", body)
	}
	res, body := do(t, http.MethodGet, g.base+"/ui/", "", map[string]string{"Cookie": cookie})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "/ui/assets/app.js") {
		t.Fatalf("signed-in /ui/ = %d %s", res.StatusCode, body)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("Content-Security-Policy = %q", csp)
	}
	for _, asset := range []string{"/ui/assets/app.js", "/ui/assets/app.css", "/ui/assets/samples.json"} {
		if res, _ := do(t, http.MethodGet, g.base+asset, "", nil); res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", asset, res.StatusCode)
		}
	}
}

// TestNoCallWithoutKeys: every console call needs the session cookie and
// the anti-forgery header; every /admin call needs the admin key headers.
// The calls are read from the app's routes, so a new one mounted without
// its guard fails here.
func TestNoCallWithoutKeys(t *testing.T) {
	// Each /admin route is tried from its own address (the loopback peer is
	// a trusted proxy), since wrong keys from one address are slowed down.
	g := startGateway(t, "http://127.0.0.1:9/", func(o *server.Options) { o.TrustedProxies = []string{"127.0.0.1"} })
	var ui, admin []fiber.Route
	for _, r := range g.srv.App().GetRoutes(true) {
		switch {
		case strings.HasPrefix(r.Path, "/ui/api/"):
			ui = append(ui, r)
		case strings.HasPrefix(r.Path, "/admin/"):
			admin = append(admin, r)
		}
	}
	// The enumeration itself must see the calls this test was written
	// against, or it would pass by checking nothing.
	for _, want := range []string{"GET /ui/api/meta", "POST /ui/api/dead-letters/:id/replay", "DELETE /ui/api/subscriptions/:id",
		"POST /ui/api/logout", "GET /admin/events", "GET /admin/overview", "POST /admin/preview", "GET /admin/events/:id"} {
		if !slices.ContainsFunc(append(ui, admin...), func(r fiber.Route) bool { return r.Method+" "+r.Path == want }) {
			t.Fatalf("route %s not found among %d /ui/api and %d /admin routes", want, len(ui), len(admin))
		}
	}
	for _, r := range ui {
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			good := sessionCookie(t, g) // fresh: the logout route ends its session
			forged := console.CookieName + "=" + "4102444800.AAAA.AAAA"
			for _, tt := range []struct {
				name   string
				header map[string]string
				want   int
			}{
				{"no cookie", map[string]string{console.CSRFHeader: "1"}, http.StatusUnauthorized},
				{"forged cookie", map[string]string{"Cookie": forged, console.CSRFHeader: "1"}, http.StatusUnauthorized},
				{"admin headers are not a session", map[string]string{"X-Access-Key": testAccess, "X-Secret-Key": testSecret, console.CSRFHeader: "1"}, http.StatusUnauthorized},
				{"cookie without the header", map[string]string{"Cookie": good}, http.StatusForbidden},
			} {
				if res, body := do(t, r.Method, g.base+concretePath(r.Path), "{}", tt.header); res.StatusCode != tt.want {
					t.Fatalf("%s: status = %d, want %d (%s)", tt.name, res.StatusCode, tt.want, body)
				}
			}
			// With both, the call gets past the guard.
			if res, body := do(t, r.Method, g.base+concretePath(r.Path), "{}", consoleHeaders(good)); res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
				t.Fatalf("signed in: status = %d (%s)", res.StatusCode, body)
			}
		})
	}
	good := sessionCookie(t, g)
	for i, r := range admin {
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			from := fmt.Sprintf("198.51.100.%d", i+1)
			for _, tt := range []struct {
				name   string
				header map[string]string
			}{
				{"no keys", nil},
				{"session cookie", map[string]string{"Cookie": good, console.CSRFHeader: "1"}},
				{"wrong secret", map[string]string{"X-Access-Key": testAccess, "X-Secret-Key": "wrong"}},
				{"swapped keys", map[string]string{"X-Access-Key": testSecret, "X-Secret-Key": testAccess}},
			} {
				header := map[string]string{"X-Forwarded-For": from}
				maps.Copy(header, tt.header)
				if res, body := do(t, r.Method, g.base+concretePath(r.Path), "{}", header); res.StatusCode != http.StatusUnauthorized {
					t.Fatalf("%s: status = %d, want 401 (%s)", tt.name, res.StatusCode, body)
				}
			}
		})
	}
	for _, path := range []string{"/admin/events", "/admin/overview"} {
		if res, body := do(t, http.MethodGet, g.base+path, "", map[string]string{"X-Access-Key": testAccess, "X-Secret-Key": testSecret}); res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s with the keys: status = %d, want 200 (%s)", path, res.StatusCode, body)
		}
	}
}

// concretePath fills a route's parameters (":id", "*") with a value.
func concretePath(route string) string {
	parts := strings.Split(route, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") || p == "*" || p == "+" {
			parts[i] = "x"
		}
	}
	return strings.Join(parts, "/")
}

// TestSignInReadsOnlyTheBody: the keys count only in the POST body, URL
// encoded or multipart; a URL carrying them is refused even with the right
// keys in the body, and they reach no log line.
func TestSignInReadsOnlyTheBody(t *testing.T) {
	g := startGateway(t, "http://127.0.0.1:9/")
	form := url.Values{"access_key": {testAccess}, "secret_key": {testSecret}}
	urlencoded := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	var multipartBody strings.Builder
	mw := multipart.NewWriter(&multipartBody)
	for k, v := range form {
		if err := mw.WriteField(k, v[0]); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	tests := []struct {
		name     string
		query    string
		body     string
		header   map[string]string
		wantCode int
		wantText string
	}{
		{"urlencoded body", "", form.Encode(), urlencoded, http.StatusSeeOther, ""},
		{"multipart body", "", multipartBody.String(), map[string]string{"Content-Type": mw.FormDataContentType()}, http.StatusSeeOther, ""},
		{"keys in the query, no body", "?" + form.Encode(), "", nil, http.StatusBadRequest, "never go in the address"},
		{"keys in the query, empty form", "?" + form.Encode(), "", urlencoded, http.StatusBadRequest, "never go in the address"},
		{"keys in the query and the body", "?" + form.Encode(), form.Encode(), urlencoded, http.StatusBadRequest, "never go in the address"},
		{"one key in the query", "?secret_key=" + testSecret, url.Values{"access_key": {testAccess}}.Encode(), urlencoded, http.StatusBadRequest, "never go in the address"},
		{"LeadSquared spelling in the query", "?accessKey=" + testAccess + "&secretKey=" + testSecret, form.Encode(), urlencoded, http.StatusBadRequest, "never go in the address"},
		{"JSON body", "", `{"access_key":"` + testAccess + `","secret_key":"` + testSecret + `"}`, map[string]string{"Content-Type": "application/json"}, http.StatusUnauthorized, "not right"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := do(t, http.MethodPost, g.base+"/ui/login"+tt.query, tt.body, tt.header)
			if res.StatusCode != tt.wantCode {
				t.Fatalf("status = %d, want %d (%s)", res.StatusCode, tt.wantCode, body)
			}
			signedIn := slices.ContainsFunc(res.Cookies(), func(c *http.Cookie) bool { return c.Name == console.CookieName && c.Value != "" })
			if signedIn != (tt.wantCode == http.StatusSeeOther) {
				t.Fatalf("session cookie set = %v with status %d", signedIn, res.StatusCode)
			}
			if tt.wantText != "" && (!strings.Contains(body, tt.wantText) || !strings.Contains(body, `action="/ui/login"`)) {
				t.Fatalf("answer is not the form saying %q: %s", tt.wantText, body)
			}
			for _, key := range []string{testAccess, testSecret} {
				if strings.Contains(body, key) {
					t.Fatalf("the answer echoes a key")
				}
			}
		})
	}
	logs := g.logs.String()
	if !strings.Contains(logs, "keys in the URL") {
		t.Fatalf("no log line for the refused URL sign-in; logs:\n%s", logs)
	}
	for _, key := range []string{testAccess, testSecret} {
		if strings.Contains(logs, key) {
			t.Fatalf("a key reached the logs:\n%s", logs)
		}
	}
}

// TestConsoleLogsCarryRequestID: each log line a console call writes names
// the id the gateway answered in X-Request-Id, so it joins the rest of that
// request's lines.
func TestConsoleLogsCarryRequestID(t *testing.T) {
	s := newSink(t, http.StatusBadRequest)
	g := startGateway(t, s.srv.URL+"/leads")
	cookie := sessionCookie(t, g)
	postLead(t, g, "save_lead", `{"data": {"email": "dead@example.com"}}`)
	var deadID string
	waitUntil(t, "a dead letter", func() bool {
		items, _, err := g.store.DeadLetters(context.Background(), "crm", "", 10)
		if err == nil && len(items) > 0 {
			deadID = items[0].ID
		}
		return deadID != ""
	})
	res, body := do(t, http.MethodPost, g.base+"/v2/Webhook.svc/Create?accessKey="+testAccess+"&secretKey="+testSecret,
		`{"URL": "https://crm.example.com/hook", "Method": "POST", "ContentType": "application/json", "WebhookEvent": 3}`,
		map[string]string{"Content-Type": "application/json"})
	var created struct {
		Message struct {
			ID string `json:"Id"`
		}
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("create subscription = %d %s", res.StatusCode, body)
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	withID := func(h map[string]string, id string) map[string]string {
		out := maps.Clone(h)
		out["X-Request-Id"] = id
		return out
	}
	tests := []struct {
		name, method, path, body string
		header                   map[string]string
		msg                      string
	}{
		{"sign-in", http.MethodPost, "/ui/login", url.Values{"access_key": {testAccess}, "secret_key": {testSecret}}.Encode(), form, "console sign-in"},
		{"sign-in refused", http.MethodPost, "/ui/login", url.Values{"access_key": {testAccess}, "secret_key": {"wrong"}}.Encode(), form, "console sign-in refused"},
		{"keys in the URL", http.MethodPost, "/ui/login?access_key=a&secret_key=b", "", form, "console sign-in refused: keys in the URL"},
		{"replay one", http.MethodPost, "/ui/api/dead-letters/" + deadID + "/replay", "", consoleHeaders(cookie), "console replayed a dead letter"},
		{"replay all", http.MethodPost, "/ui/api/dead-letters/replay?destination=crm", "", consoleHeaders(cookie), "console replayed dead letters"},
		{"delete subscription", http.MethodDelete, "/ui/api/subscriptions/" + created.Message.ID, "", consoleHeaders(cookie), "console deleted a subscription"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "rid-" + strings.ReplaceAll(tt.name, " ", "-")
			res, body := do(t, tt.method, g.base+tt.path, tt.body, withID(tt.header, id))
			if got := res.Header.Get("X-Request-Id"); got != id {
				t.Fatalf("X-Request-Id = %q, want %q (status %d %s)", got, id, res.StatusCode, body)
			}
			for line := range strings.Lines(g.logs.String()) {
				var rec struct {
					Msg       string `json:"msg"`
					RequestID string `json:"request_id"`
				}
				if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == tt.msg && rec.RequestID == id {
					return
				}
			}
			t.Fatalf("no %q line with request_id %q (status %d); logs:\n%s", tt.msg, id, res.StatusCode, g.logs)
		})
	}
}

// waitUntil polls cond for up to 20 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s never happened", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSignOut(t *testing.T) {
	g := startGateway(t, "http://127.0.0.1:9/")
	cookie := sessionCookie(t, g)
	res, _ := do(t, http.MethodPost, g.base+"/ui/api/logout", "", consoleHeaders(cookie))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("logout = %d", res.StatusCode)
	}
	cleared := false
	for _, c := range res.Cookies() {
		cleared = cleared || (c.Name == console.CookieName && c.Value == "")
	}
	if !cleared {
		t.Fatalf("logout did not clear the cookie")
	}
}

// postLead posts a payload to a source and returns the lead id.
func postLead(t *testing.T, g *gateway, source, body string) string {
	t.Helper()
	res, out := do(t, http.MethodPost, g.base+"/hooks/"+source, body, map[string]string{"Content-Type": "application/json"})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("post lead = %d %s", res.StatusCode, out)
	}
	var a struct {
		LeadID string `json:"lead_id"`
	}
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatal(err)
	}
	return a.LeadID
}

func TestSearchEvents(t *testing.T) {
	g := startGateway(t, "http://127.0.0.1:9/")
	cookie := sessionCookie(t, g)
	john := postLead(t, g, "save_lead", `{"data": {"email": "John@Example.com", "phone": "+1 415 555 0100", "score": 1}}`)
	postLead(t, g, "save_lead", `{"data": {"email": "jane@example.com"}}`)
	postLead(t, g, "save_lead", `{"data": {"email": "john@example.com", "score": 2}}`)

	type page struct {
		Items []struct {
			ID     string `json:"id"`
			Event  string `json:"event"`
			LeadID string `json:"lead_id"`
		} `json:"items"`
		Next string `json:"next"`
	}
	search := func(t *testing.T, query string, header map[string]string, prefix string) page {
		t.Helper()
		res, body := do(t, http.MethodGet, g.base+prefix+"/events?"+query, "", header)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("search %s = %d %s", query, res.StatusCode, body)
		}
		var p page
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	all := search(t, "", consoleHeaders(cookie), "/ui/api")
	if len(all.Items) != 5 {
		t.Fatalf("all events = %d, want 5", len(all.Items))
	}
	tests := []struct {
		query string
		want  int
	}{
		{"email=" + url.QueryEscape(" JOHN@example.com "), 4},
		{"phone=" + url.QueryEscape("+1 (415) 555-0100"), 4},
		{"lead_id=" + john, 4},
		{"event_id=" + all.Items[0].ID, 1},
		{"email=nobody%40example.com", 0},
		{"limit=2", 2},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			for _, via := range []struct {
				prefix string
				header map[string]string
			}{
				{"/ui/api", consoleHeaders(cookie)},
				{"/admin", map[string]string{"X-Access-Key": testAccess, "X-Secret-Key": testSecret}},
			} {
				p := search(t, tt.query, via.header, via.prefix)
				if len(p.Items) != tt.want {
					t.Fatalf("%s: %d events, want %d", via.prefix, len(p.Items), tt.want)
				}
			}
		})
	}
	res, body := do(t, http.MethodGet, g.base+"/ui/api/events?limit=0", "", consoleHeaders(cookie))
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("limit=0 = %d %s, want 400", res.StatusCode, body)
	}
}

func TestEventDetailHidesSecrets(t *testing.T) {
	s := newSink(t, http.StatusOK)
	g := startGateway(t, s.srv.URL+"/leads/T0001/sink-path-token?token=sink-query-token")
	cookie := sessionCookie(t, g)
	postLead(t, g, "save_lead", `{"data": {"email": "john@example.com"}}`)
	var p struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	_, body := do(t, http.MethodGet, g.base+"/ui/api/events", "", consoleHeaders(cookie))
	if err := json.Unmarshal([]byte(body), &p); err != nil || len(p.Items) != 1 {
		t.Fatalf("events = %s", body)
	}
	var detail struct {
		Event struct {
			ID string `json:"id"`
		} `json:"event"`
		Deliveries []struct {
			Destination string `json:"destination"`
			Status      string `json:"status"`
			Config      struct {
				URL     string   `json:"url"`
				Headers []string `json:"headers"`
				Signed  bool     `json:"signed"`
			} `json:"config"`
		} `json:"deliveries"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body = do(t, http.MethodGet, g.base+"/ui/api/events/"+p.Items[0].ID, "", consoleHeaders(cookie))
		if err := json.Unmarshal([]byte(body), &detail); err != nil {
			t.Fatalf("detail = %s", body)
		}
		if len(detail.Deliveries) == 1 && detail.Deliveries[0].Status == "delivered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never delivered: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, secret := range []string{"sink-path-token", "T0001", "sink-query-token", "crm-secret-header-value", "whsec_"} {
		if strings.Contains(body, secret) {
			t.Fatalf("event detail shows %q: %s", secret, body)
		}
	}
	d := detail.Deliveries[0]
	if d.Config.URL != s.srv.URL+"/leads" || len(d.Config.Headers) != 1 || d.Config.Headers[0] != "X-Api-Key" || !d.Config.Signed {
		t.Fatalf("config = %+v", d.Config)
	}
	res, _ := do(t, http.MethodGet, g.base+"/ui/api/events/evt_00000000000000000000000000000000", "", consoleHeaders(cookie))
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown event = %d, want 404", res.StatusCode)
	}
}

func TestSubscriptionsListAndDelete(t *testing.T) {
	g := startGateway(t, "http://127.0.0.1:9/")
	cookie := sessionCookie(t, g)
	create := `{"Description": "CRM hook", "URL": "https://hooks.slack.example.com/services/T0001/subscriber-path-secret?key=subscriber-secret", "Method": "POST",
		"ContentType": "application/json", "WebhookEvent": 3,
		"CustomHeaders": [{"Key": "Authorization", "Value": "Bearer subscriber-header-secret"}]}`
	res, body := do(t, http.MethodPost, g.base+"/v2/Webhook.svc/Create?accessKey="+testAccess+"&secretKey="+testSecret, create,
		map[string]string{"Content-Type": "application/json"})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("create = %d %s", res.StatusCode, body)
	}
	var created struct {
		Message struct {
			ID string `json:"Id"`
		} `json:"Message"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	_, body = do(t, http.MethodGet, g.base+"/ui/api/subscriptions", "", consoleHeaders(cookie))
	if !strings.Contains(body, created.Message.ID) || !strings.Contains(body, "lead.created") {
		t.Fatalf("list = %s", body)
	}
	for _, secret := range []string{"subscriber-path-secret", "T0001", "subscriber-secret", "subscriber-header-secret"} {
		if strings.Contains(body, secret) {
			t.Fatalf("list shows %q: %s", secret, body)
		}
	}
	if !strings.Contains(body, `"url":"https://hooks.slack.example.com/services"`) {
		t.Fatalf("list does not show the URL as scheme, host and first segment: %s", body)
	}
	if res, body := do(t, http.MethodDelete, g.base+"/ui/api/subscriptions/"+created.Message.ID, "", consoleHeaders(cookie)); res.StatusCode != http.StatusOK {
		t.Fatalf("delete = %d %s", res.StatusCode, body)
	}
	if res, _ := do(t, http.MethodDelete, g.base+"/ui/api/subscriptions/"+created.Message.ID, "", consoleHeaders(cookie)); res.StatusCode != http.StatusNotFound {
		t.Fatalf("delete again = %d, want 404", res.StatusCode)
	}
	_, body = do(t, http.MethodGet, g.base+"/ui/api/subscriptions", "", consoleHeaders(cookie))
	if strings.Contains(body, created.Message.ID) {
		t.Fatalf("deleted subscription still listed: %s", body)
	}
}

func TestOverview(t *testing.T) {
	g := startGateway(t, "http://127.0.0.1:9/")
	res, body := do(t, http.MethodGet, g.base+"/admin/overview", "", map[string]string{"X-Access-Key": testAccess, "X-Secret-Key": testSecret})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("overview = %d %s", res.StatusCode, body)
	}
	var v struct {
		Sources []struct {
			Name string `json:"name"`
		} `json:"sources"`
		Destinations []struct {
			Name    string `json:"name"`
			Enabled bool   `json:"enabled"`
		} `json:"destinations"`
		Queue map[string]int64 `json:"queue"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Sources) != 3 || len(v.Destinations) != 1 || v.Destinations[0].Name != "crm" || !v.Destinations[0].Enabled {
		t.Fatalf("overview = %s", body)
	}
	for _, state := range []string{"due", "scheduled", "in_flight", "dead"} {
		if _, ok := v.Queue[state]; !ok {
			t.Fatalf("queue lacks %q: %s", state, body)
		}
	}
}

// TestDeadLettersBadCursor: a cursor no page handed out is the caller's
// mistake (400), not an outage to retry (503).
func TestDeadLettersBadCursor(t *testing.T) {
	g := startGateway(t, "http://127.0.0.1:9/")
	cookie := sessionCookie(t, g)
	res, body := do(t, http.MethodGet, g.base+"/ui/api/dead-letters?cursor=%21%21", "", consoleHeaders(cookie))
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "bad cursor") {
		t.Fatalf("bad cursor = %d %s, want 400 naming the cursor", res.StatusCode, body)
	}
	if res, body := do(t, http.MethodGet, g.base+"/ui/api/dead-letters", "", consoleHeaders(cookie)); res.StatusCode != http.StatusOK {
		t.Fatalf("no cursor = %d %s, want 200", res.StatusCode, body)
	}
}

// TestSignInLogsTheClientBehindAProxy: behind a trusted proxy the sign-in
// log names the client as the inbound route judges it (the rightmost
// address the proxy did not write itself), not the leftmost entry of
// X-Forwarded-For, which the client chose.
func TestSignInLogsTheClientBehindAProxy(t *testing.T) {
	g := startGateway(t, newSink(t, 200).srv.URL, func(o *server.Options) {
		o.TrustedProxies = []string{"127.0.0.1"}
		o.ProxyHeader = "X-Forwarded-For"
	})
	form := url.Values{"access_key": {testAccess}, "secret_key": {"wrong"}}.Encode()
	res, body := do(t, http.MethodPost, g.base+"/ui/login", form, map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": "198.51.100.7, 203.0.113.9",
		"X-Request-Id": "rid-proxy-sign-in"})
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("sign-in with wrong keys = %d %s", res.StatusCode, body)
	}
	for line := range strings.Lines(g.logs.String()) {
		var rec struct {
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
			RemoteIP  string `json:"remote_ip"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.RequestID == "rid-proxy-sign-in" && rec.Msg == "console sign-in refused" {
			if rec.RemoteIP != "203.0.113.9" {
				t.Fatalf("remote_ip = %q, want 203.0.113.9 (the client the proxy saw)", rec.RemoteIP)
			}
			return
		}
	}
	t.Fatalf("no sign-in refusal logged; logs:\n%s", g.logs)
}
