package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"leadgate/gateway/mapping"
)

func TestValidateShippedConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"validate", "-config", "../gateway.yaml"}, nil, &out, &errOut)
	if code != 0 {
		t.Fatalf("validate ../gateway.yaml = exit %d\nstdout: %s\nstderr: %s", code, &out, &errOut)
	}
	if !strings.Contains(out.String(), "ok") || !strings.Contains(out.String(), "website") {
		t.Errorf("validate said %q, want ok naming the mappings", &out)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "mappings"), 0o755)
	os.WriteFile(filepath.Join(dir, "mappings", "shop.yaml"), []byte("events: [lead.created]\nfields:\n  email: email\n  emial: mail\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(`mappings_dir: mappings
destinations:
  - name: crm
    url: not-a-url
    sources: [shop, nope]
`), 0o644)
	var out, errOut bytes.Buffer
	code := run([]string{"validate", "-config", filepath.Join(dir, "gateway.yaml")}, nil, &out, &errOut)
	if code != 1 {
		t.Fatalf("validate = exit %d, want 1; stderr:\n%s", code, &errOut)
	}
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	want := []string{"gateway.yaml:4: destinations[0].url", "gateway.yaml:5: destinations[0].sources[1]", "shop.yaml:4:"}
	for _, w := range want {
		found := false
		for _, l := range lines {
			if strings.Contains(l, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no line contains %q; got:\n%s", w, &errOut)
		}
	}
	if len(lines) != 3 {
		t.Errorf("got %d problem lines, want 3:\n%s", len(lines), &errOut)
	}
}

func TestMapPrintsEvents(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stdin  string
		events []string
		check  func(t *testing.T, p mapping.PreviewResult)
	}{
		{
			name:   "ledsak seed",
			args:   []string{"-source", "website"},
			stdin:  `{"client": "example_client", "source": "website", "branch": "Main Branch", "lead_details": [{"lead_field": "name", "lead_value": "John Doe"}, {"lead_field": "email", "lead_value": "JohnDoe@Example.com"}]}`,
			events: []string{"form.submitted", "lead.created"},
			check: func(t *testing.T, p mapping.PreviewResult) {
				l := p.Events[0].Lead
				if l.Email != "johndoe@example.com" || l.FirstName != "John" || l.LastName != "Doe" || l.Client != "example_client" || l.Branch != "Main Branch" {
					t.Errorf("lead = %+v", l)
				}
				traced := false
				for _, tr := range p.Trace {
					if tr.Field == "email" && tr.Path != "" {
						traced = true
					}
				}
				if !traced {
					t.Errorf("trace %+v does not say which path gave email", p.Trace)
				}
				// The seed has no phone: the trace says why, with the paths tried.
				empty := false
				for _, tr := range p.Trace {
					if tr.Field == "phone" && tr.From == "empty" && len(tr.Tried) > 0 && tr.Tried[0] == "pair:phone" {
						empty = true
					}
				}
				if !empty {
					t.Errorf("trace %+v does not list the paths tried for the empty phone", p.Trace)
				}
			},
		},
		{
			name:   "urlencoded form",
			args:   []string{"-source", "website", "-header", "Content-Type: application/x-www-form-urlencoded"},
			stdin:  "name=Jane+Roe&email=jane@example.com&budget=5000",
			events: []string{"form.submitted", "lead.created"},
			check: func(t *testing.T, p mapping.PreviewResult) {
				if fmt.Sprint(p.Events[0].Lead.Fields["budget"]) != "5000" {
					t.Errorf("fields = %v, want budget 5000", p.Events[0].Lead.Fields)
				}
			},
		},
		{
			name:   "leadsie with customUserId",
			args:   []string{"-source", "leadsie", "-query", "customUserId=user123456"},
			stdin:  `{"user": "body-user", "status": "SUCCESS", "connectionAssets": [{"type": "Ad Account", "name": "A", "id": "act_1", "isSuccess": true}, {"type": "Ad Account", "name": "B", "id": "act_2", "isSuccess": false}]}`,
			events: []string{"connection.created"}, // one per payload, and no lead.* event (mappings/leadsie.yaml)
			check: func(t *testing.T, p mapping.PreviewResult) {
				last := p.Events[0]
				if last.Lead.User != "user123456" || last.Source != "leadsie" {
					t.Errorf("connection.created from %q for user %q, want leadsie for user123456", last.Source, last.Lead.User)
				}
				if got := fmt.Sprint(last.Lead.Fields["ad_account_id"]); got != "act_1, act_2" {
					t.Errorf("ad_account_id = %q, want \"act_1, act_2\"", got)
				}
				if got := fmt.Sprint(last.Lead.Fields["ad_account_is_success"]); got != "true, false" {
					t.Errorf("ad_account_is_success = %q, want \"true, false\"", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"map", "-config", "../gateway.yaml"}, tt.args...)
			if code := run(args, strings.NewReader(tt.stdin), &out, &errOut); code != 0 {
				t.Fatalf("map = exit %d: %s", code, &errOut)
			}
			var p mapping.PreviewResult
			if err := json.Unmarshal(out.Bytes(), &p); err != nil {
				t.Fatalf("map printed non-JSON: %v\n%s", err, &out)
			}
			var got []string
			for _, e := range p.Events {
				got = append(got, e.Event)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.events) {
				t.Fatalf("events = %v, want %v", got, tt.events)
			}
			tt.check(t, p)
		})
	}
}

func TestMapErrors(t *testing.T) {
	tests := []struct {
		name, stdin, want string
		args              []string
	}{
		{"unknown source", `{}`, "unknown source", []string{"-source", "nope"}},
		{"malformed", `{"data": `, "parse body", []string{"-source", "save_lead"}},
		{"wrong type", `{"data": {"email": "a@example.com", "score": "lots"}}`, "score", []string{"-source", "save_lead"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"map", "-config", "../gateway.yaml"}, tt.args...)
			if code := run(args, strings.NewReader(tt.stdin), &out, &errOut); code != 1 {
				t.Fatalf("map = exit %d, want 1; stdout %s", code, &out)
			}
			if !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("stderr %q does not mention %q", &errOut, tt.want)
			}
		})
	}
}

// TestHotReload edits a mapping under a running gateway: a valid edit takes
// effect without a restart, a broken one is refused and the running mapping
// stays, and fixing it reloads again. SIGHUP has TestReloadOnSIGHUP.
func TestHotReload(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t)
	config := writeConfig(t, dir, listen, "http://127.0.0.1:9/", "")
	g := start(t, config, listen)
	shop := filepath.Join(dir, "mappings", "shop.yaml")
	posted := func() int {
		code, _ := g.post("/hooks/shop", `{"mail": "a@example.com"}`)
		return code
	}
	if code := posted(); code != 404 {
		t.Fatalf("before the mapping exists: %d, want 404", code)
	}
	os.WriteFile(shop, []byte("events: [lead.created]\nfields:\n  email: mail\n"), 0o644)
	waitFor(t, 10*time.Second, func() bool { return posted() == 200 }, func() string { return "new mapping never loaded; logs:\n" + g.logs.String() })

	os.WriteFile(shop, []byte("events: [lead.created]\nfields:\n  email: [mail\n"), 0o644) // broken YAML
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(g.logs.String(), "reload failed") }, func() string { return "broken edit not reported; logs:\n" + g.logs.String() })
	if code, body := g.post("/hooks/shop", `{"mail": "b@example.com"}`); code != 200 {
		t.Fatalf("after a broken edit the running mapping should stay: %d %s", code, body)
	}

	os.WriteFile(filepath.Join(dir, "mappings", "shop.yaml"), []byte("events: [lead.created]\nfields:\n  email: email\n"), 0o644)
	waitFor(t, 10*time.Second, func() bool {
		code, _ := g.post("/hooks/shop", `{"email": "c@example.com"}`)
		return code == 200
	}, func() string { return "reload after the fix never happened; logs:\n" + g.logs.String() })
	resp, err := http.Get(g.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(b.String(), `gateway_config_reloads_total{result="failure"} 1`) {
		t.Errorf("metrics do not count the failed reload:\n%s", grep(b.String(), "reloads"))
	}
	// The new mapping and the fix each reloaded.
	if strings.Contains(b.String(), `gateway_config_reloads_total{result="success"} 0`) ||
		!strings.Contains(b.String(), `gateway_config_reloads_total{result="success"}`) {
		t.Errorf("metrics do not count the successful reloads:\n%s", grep(b.String(), "reloads"))
	}
}

func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// recorder is a sink that keeps every request and answers 200.
func recorder(t *testing.T) (*httptest.Server, func() []captured) {
	t.Helper()
	var mu sync.Mutex
	var got []captured
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, captured{r.Header.Clone(), string(b)})
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv, func() []captured {
		mu.Lock()
		defer mu.Unlock()
		return append([]captured(nil), got...)
	}
}

// bodiesWith counts the captured bodies that contain every one of parts.
func bodiesWith(got []captured, parts ...string) int {
	n := 0
	for _, c := range got {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(c.body, p)
		}
		if all {
			n++
		}
	}
	return n
}

// TestReloadOnSIGHUP changes a template in a folder the watcher does not
// watch, so only SIGHUP can make the gateway read it: the change stays
// unseen until the signal, and the reload's log line names it.
func TestReloadOnSIGHUP(t *testing.T) {
	sink, got := recorder(t)
	dir := t.TempDir()
	listen := freeAddr(t)
	tmpl := filepath.Join(dir, "templates", "note.tmpl")
	os.MkdirAll(filepath.Dir(tmpl), 0o755)
	os.WriteFile(tmpl, []byte(`{"text": "v1 {{.lead.email}}"}`), 0o644)
	config := writeConfig(t, dir, listen, sink.URL, "    format: template:templates/note.tmpl\n    events: [lead.created]\n")
	g := start(t, config, listen)
	deliveredAs := func(i int, version string) {
		t.Helper()
		if code, body := g.post("/hooks/website", websitePayload(i, "hup")); code != 200 {
			t.Fatalf("post %d = %d %s", i, code, body)
		}
		email := fmt.Sprintf("lead%d.hup@example.com", i)
		waitFor(t, 10*time.Second, func() bool { return bodiesWith(got(), email) > 0 }, func() string { return "lead never delivered; logs:\n" + g.logs.String() })
		if bodiesWith(got(), version+" "+email) == 0 {
			t.Fatalf("lead %d delivered as %v, want template %s", i, got(), version)
		}
	}
	deliveredAs(1, "v1")

	os.WriteFile(tmpl, []byte(`{"text": "v2 {{.lead.email}}"}`), 0o644)
	// A watched file would reload within the watcher's 250 ms settle.
	time.Sleep(time.Second)
	deliveredAs(2, "v1")
	if strings.Contains(g.logs.String(), `"msg":"config reloaded"`) {
		t.Fatalf("reloaded without SIGHUP; logs:\n%s", g.logs)
	}

	g.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, func() bool {
		return strings.Contains(g.logs.String(), `"msg":"config reloaded","trigger":"sighup"`)
	}, func() string { return "no reload logged for SIGHUP; logs:\n" + g.logs.String() })
	deliveredAs(3, "v2")
}

// TestReloadGatewayYAML edits gateway.yaml under a running gateway: new
// admin keys apply to the LeadSquared-compatible API at once (the old ones
// get 401), a destination added receives leads, and a bad edit is counted
// and leaves all of that running.
func TestReloadGatewayYAML(t *testing.T) {
	first, _ := recorder(t)
	second, got := recorder(t)
	dir := t.TempDir()
	listen := freeAddr(t)
	config := writeConfig(t, dir, listen, first.URL, "")
	g := start(t, config, listen)
	retrieve := func(access, secret string) int {
		resp, err := http.Get(g.base + "/v2/Webhook.svc/Retrieve?accessKey=" + access + "&secretKey=" + secret)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := retrieve("test-access", "test-secret"); code != 200 {
		t.Fatalf("Retrieve with the first keys = %d, want 200", code)
	}

	b, _ := os.ReadFile(config)
	edited := strings.Replace(string(b), "admin: {access_key: test-access, secret_key: test-secret}",
		"admin: {access_key: new-access, secret_key: new-secret}", 1) +
		"  - name: second\n    url: " + second.URL + "\n    events: [lead.created]\n"
	if err := os.WriteFile(config, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	// Wait for the reload before trying the new keys: polling with keys
	// not yet loaded would be counted as failures, and the eleventh within
	// a minute is slowed down with a 429 whatever the keys.
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(g.logs.String(), `"msg":"config reloaded"`) },
		func() string { return "no reload logged; logs:\n" + g.logs.String() })
	if code := retrieve("new-access", "new-secret"); code != 200 {
		t.Fatalf("Retrieve with the new keys after the reload = %d, want 200; logs:\n%s", code, g.logs)
	}
	if code := retrieve("test-access", "test-secret"); code != 401 {
		t.Fatalf("Retrieve with the old keys after the reload = %d, want 401", code)
	}
	postTo := func(i int) {
		t.Helper()
		if code, body := g.post("/hooks/website", websitePayload(i, "yaml")); code != 200 {
			t.Fatalf("post %d = %d %s", i, code, body)
		}
		email := fmt.Sprintf("lead%d.yaml@example.com", i)
		waitFor(t, 10*time.Second, func() bool { return bodiesWith(got(), email) > 0 },
			func() string { return "the added destination got nothing; logs:\n" + g.logs.String() })
	}
	postTo(1)

	if err := os.WriteFile(config, []byte(edited+"bogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(g.logs.String(), "reload failed") },
		func() string { return "bad edit not reported; logs:\n" + g.logs.String() })
	resp, err := http.Get(g.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var m bytes.Buffer
	m.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(m.String(), `gateway_config_reloads_total{result="failure"} 1`) {
		t.Errorf("metrics do not count the failed reload:\n%s", grep(m.String(), "reloads"))
	}
	if code := retrieve("new-access", "new-secret"); code != 200 {
		t.Fatalf("after a bad edit the running keys should stay: Retrieve = %d", code)
	}
	postTo(2)

	// A reload that moves mappings_dir watches the new folder: a mapping
	// added there later is loaded without a signal.
	moved := filepath.Join(dir, "moved")
	if err := os.CopyFS(moved, os.DirFS(filepath.Join(dir, "mappings"))); err != nil {
		t.Fatal(err)
	}
	reloads := strings.Count(g.logs.String(), `"msg":"config reloaded"`)
	os.WriteFile(config, []byte(strings.Replace(edited, "mappings_dir: mappings", "mappings_dir: moved", 1)), 0o644)
	waitFor(t, 10*time.Second, func() bool { return strings.Count(g.logs.String(), `"msg":"config reloaded"`) > reloads },
		func() string { return "moving mappings_dir did not reload; logs:\n" + g.logs.String() })
	os.WriteFile(filepath.Join(moved, "shop.yaml"), []byte("events: [lead.created]\nfields:\n  email: mail\n"), 0o644)
	waitFor(t, 10*time.Second, func() bool {
		code, _ := g.post("/hooks/shop", `{"mail": "shop@example.com"}`)
		return code == 200
	}, func() string {
		return "a mapping added to the new mappings_dir never loaded; logs:\n" + g.logs.String()
	})
}
