package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestConsoleSmoke checks the console as serve.go wires it into the built
// binary: the sign-in form at /ui/, a session from the form's keys, and
// the overview's source rates moving after a lead is posted.
func TestConsoleSmoke(t *testing.T) {
	_, srv := newSink(t, func() int { return http.StatusOK })
	dir := t.TempDir()
	listen := freeAddr(t)
	g := start(t, writeConfig(t, dir, listen, srv.URL, ""), listen)
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	call := func(method, path, contentType, body string, header map[string]string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, g.base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}

	if res, body := call(http.MethodGet, "/ui/", "", "", nil); res.StatusCode != http.StatusOK || !strings.Contains(body, `action="/ui/login"`) {
		t.Fatalf("GET /ui/ signed out = %d, want the sign-in form: %s", res.StatusCode, body)
	}
	form := url.Values{"access_key": {"test-access"}, "secret_key": {"test-secret"}}.Encode()
	if res, _ := call(http.MethodPost, "/ui/login?"+form, "", "", nil); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("sign-in with the keys in the URL = %d, want 400", res.StatusCode)
	}
	res, body := call(http.MethodPost, "/ui/login", "application/x-www-form-urlencoded", form, nil)
	var cookie string
	for _, c := range res.Cookies() {
		if c.Name == "leadgate_console" && c.Value != "" {
			cookie = c.Name + "=" + c.Value
		}
	}
	if res.StatusCode != http.StatusSeeOther || cookie == "" {
		t.Fatalf("sign-in = %d with cookie %v, want 303 and a session: %s", res.StatusCode, cookie != "", body)
	}
	if res, body := call(http.MethodGet, "/ui/", "", "", map[string]string{"Cookie": cookie}); res.StatusCode != http.StatusOK || !strings.Contains(body, "/ui/assets/app.js") {
		t.Fatalf("GET /ui/ signed in = %d, want the console: %s", res.StatusCode, body)
	}
	if res, _ := call(http.MethodGet, "/ui/assets/app.js", "", "", nil); res.StatusCode != http.StatusOK {
		t.Fatalf("GET /ui/assets/app.js = %d: the assets are not embedded", res.StatusCode)
	}
	if res, _ := call(http.MethodGet, "/ui/api/overview", "", "", map[string]string{"X-Leadgate-Console": "1"}); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("overview without the cookie = %d, want 401", res.StatusCode)
	}
	if res, _ := call(http.MethodGet, "/ui/api/overview", "", "", map[string]string{"Cookie": cookie}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("overview without the header = %d, want 403", res.StatusCode)
	}

	type sourceRates struct {
		Name           string  `json:"name"`
		RequestsPerMin float64 `json:"requests_per_min"`
		AcceptedPerMin float64 `json:"accepted_per_min"`
		RequestsTotal  float64 `json:"requests_total"`
	}
	website := func() sourceRates {
		t.Helper()
		res, body := call(http.MethodGet, "/ui/api/overview", "", "", map[string]string{"Cookie": cookie, "X-Leadgate-Console": "1"})
		if res.StatusCode != http.StatusOK {
			t.Fatalf("overview = %d %s", res.StatusCode, body)
		}
		var v struct {
			Sources []sourceRates `json:"sources"`
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("overview: %v: %s", err, body)
		}
		for _, s := range v.Sources {
			if s.Name == "website" {
				return s
			}
		}
		t.Fatalf("overview lists no website source: %s", body)
		return sourceRates{}
	}
	if before := website(); before.RequestsTotal != 0 || before.RequestsPerMin != 0 {
		t.Fatalf("website before any post = %+v, want nothing counted", before)
	}
	if code, body := g.post("/hooks/website", websitePayload(1, "console")); code != http.StatusOK {
		t.Fatalf("post lead = %d %s", code, body)
	}
	// The rates need samples at least 10 s apart; the binary samples every
	// 5 s.
	var last sourceRates
	waitFor(t, 30*time.Second, func() bool {
		last = website()
		return last.RequestsTotal == 1 && last.RequestsPerMin > 0 && last.AcceptedPerMin > 0
	}, func() string {
		return "the website rates never moved: " + jsonString(last) + "\nlogs:\n" + g.logs.String()
	})

	if logs := g.logs.String(); strings.Contains(logs, "test-secret") {
		t.Fatalf("the secret key reached the logs:\n%s", logs)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
