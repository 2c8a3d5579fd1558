package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The reverse-proxy answer (contract §3) through the real binary: a
// mapping's respond sends the form's event to a destination at once, and
// the destination's answer, or the gateway's own 200, is the form's.

// scripted is a destination whose n-th request (from 1) is answered by
// reply, recording the webhook-id of each.
type scripted struct {
	mu    sync.Mutex
	ids   []string
	reply func(n int, w http.ResponseWriter)
}

func newScripted(t *testing.T, reply func(n int, w http.ResponseWriter)) (*scripted, *httptest.Server) {
	t.Helper()
	s := &scripted{reply: reply}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	s.mu.Lock()
	s.ids = append(s.ids, r.Header.Get("webhook-id"))
	n := len(s.ids)
	s.mu.Unlock()
	s.reply(n, w)
}

// requests lists the webhook-id of every request so far.
func (s *scripted) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

// answer writes one answer.
func answer(w http.ResponseWriter, code int, contentType, body string) {
	if contentType != "" {
		w.Header().Set("Content-Type", contentType)
	}
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

// ledsakAnswer is what Ledsak's website webhook answers (the seed).
func ledsakAnswer(id string) string {
	return fmt.Sprintf(`{"message": "Successfully created", "lead_id": %q}`, id)
}

// writeRespondMapping writes mappings/<source>.yaml: the shipped website
// mapping answering through dest.
func writeRespondMapping(t *testing.T, dir, source, dest string) {
	t.Helper()
	web, err := os.ReadFile("../mappings/website.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := string(web) + fmt.Sprintf("respond: {destination: %s, timeout: 1s}\n", dest)
	if err := os.WriteFile(filepath.Join(dir, "mappings", source+".yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// respondDest is a destination entry taking form.submitted of source
// form_<name> only, with quick retries unless extra sets its own.
func respondDest(name, url, extra string) string {
	if !strings.Contains(extra, "retry:") {
		extra += "    retry: {max_attempts: 5, schedule: [200ms]}\n"
	}
	return fmt.Sprintf(`  - name: %s
    url: %s
    events: [form.submitted]
    sources: [form_%s]
    timeout: 2s
%s`, name, url, name, extra)
}

// formPayload is a Ledsak website form post of a new person.
func formPayload(who string) string {
	return fmt.Sprintf(`{"client":"example_client","source":"website","branch":"Main Branch","lead_details":[`+
		`{"lead_field":"name","lead_value":"John Doe"},{"lead_field":"email","lead_value":"%s@example.com"}]}`, who)
}

// attempts asks the admin API for the attempts' codes of event id's
// delivery to dest, and its status.
func (p *proc) attempts(t *testing.T, id, dest string) (string, []int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.base+"/admin/events/"+id, nil)
	req.Header.Set("X-Access-Key", "test-access")
	req.Header.Set("X-Secret-Key", "test-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("admin event: %v", err)
	}
	defer resp.Body.Close()
	var rec struct {
		Deliveries []struct {
			Destination string `json:"destination"`
			Status      string `json:"status"`
			Attempts    []struct {
				Code int `json:"code"`
			} `json:"attempts"`
		} `json:"deliveries"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
		t.Fatalf("admin event %s: %v", id, err)
	}
	for _, d := range rec.Deliveries {
		if d.Destination == dest {
			codes := make([]int, len(d.Attempts))
			for i, a := range d.Attempts {
				codes[i] = a.Code
			}
			return d.Status, codes
		}
	}
	return "", nil
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// postRaw posts a JSON body and returns status, Content-Type and body.
func (p *proc) postRaw(t *testing.T, path, body string) (int, string, string) {
	t.Helper()
	resp, err := http.Post(p.base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("post %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestRespondRelaysTheDestinationsAnswer(t *testing.T) {
	ledsak, ledsakSrv := newScripted(t, func(n int, w http.ResponseWriter) {
		answer(w, http.StatusOK, "application/json; charset=utf-8", ledsakAnswer(fmt.Sprintf("ledsak-%d", n)))
	})
	reject, rejectSrv := newScripted(t, func(n int, w http.ResponseWriter) {
		answer(w, http.StatusUnprocessableEntity, "application/json", `{"error": "branch is not known"}`)
	})
	// Each of these fails the first send in its own way, then takes it.
	firstFails := func(first func(w http.ResponseWriter)) func(n int, w http.ResponseWriter) {
		return func(n int, w http.ResponseWriter) {
			if n == 1 {
				first(w)
				return
			}
			answer(w, http.StatusOK, "application/json", ledsakAnswer("late"))
		}
	}
	flaky, flakySrv := newScripted(t, firstFails(func(w http.ResponseWriter) { answer(w, http.StatusServiceUnavailable, "text/plain", "down") }))
	busy, busySrv := newScripted(t, firstFails(func(w http.ResponseWriter) { answer(w, http.StatusTooManyRequests, "text/plain", "slow down") }))
	slow, slowSrv := newScripted(t, firstFails(func(w http.ResponseWriter) { time.Sleep(1500 * time.Millisecond) }))
	paced, pacedSrv := newScripted(t, func(n int, w http.ResponseWriter) {
		answer(w, http.StatusCreated, "application/json", ledsakAnswer(fmt.Sprintf("paced-%d", n)))
	})
	closedAddr := freeAddr(t) // nothing listens there until the test says so

	dir := t.TempDir()
	listen := freeAddr(t)
	config := writeDestinations(t, dir, listen,
		respondDest("ledsak", ledsakSrv.URL, "")+
			respondDest("reject", rejectSrv.URL, "")+
			respondDest("flaky", flakySrv.URL, "")+
			respondDest("busy", busySrv.URL, "")+
			respondDest("slow", slowSrv.URL, "")+
			respondDest("closed", "http://"+closedAddr+"/leads", "    retry: {max_attempts: 100, schedule: [200ms]}\n")+
			respondDest("paced", pacedSrv.URL, "    rate_limit: {requests: 1, per: 3s}\n"))
	for _, name := range []string{"ledsak", "reject", "flaky", "busy", "slow", "closed", "paced"} {
		writeRespondMapping(t, dir, "form_"+name, name)
	}
	g := start(t, config, listen)

	t.Run("a Ledsak-like answer is the form's", func(t *testing.T) {
		code, ct, body := g.postRaw(t, "/hooks/form_ledsak", formPayload("relayed"))
		if code != http.StatusOK || ct != "application/json; charset=utf-8" || body != ledsakAnswer("ledsak-1") {
			t.Fatalf("answer = %d %q %s, want Ledsak's own 200 with lead_id ledsak-1", code, ct, body)
		}
		ids := ledsak.requests()
		if len(ids) != 1 {
			t.Fatalf("ledsak got %d requests, want 1", len(ids))
		}
		// Settled before the answer: delivered, so never sent again.
		if status, codes := g.attempts(t, ids[0], "ledsak"); status != "delivered" || fmt.Sprint(codes) != "[200]" {
			t.Fatalf("delivery = %s %v, want delivered after one attempt", status, codes)
		}

		code, ct, body = g.postRaw(t, "/hooks/form_ledsak", formPayload("relayed"))
		if code != http.StatusOK || ct != "application/json; charset=utf-8" || body != ledsakAnswer("ledsak-1") {
			t.Fatalf("duplicate's answer = %d %q %s, want the first answer again", code, ct, body)
		}
		if n := len(ledsak.requests()); n != 1 {
			t.Fatalf("the duplicate was sent: ledsak got %d requests", n)
		}
	})

	t.Run("a 4xx is relayed and the event is dead-lettered", func(t *testing.T) {
		code, ct, body := g.postRaw(t, "/hooks/form_reject", formPayload("rejected"))
		if code != http.StatusUnprocessableEntity || ct != "application/json" || body != `{"error": "branch is not known"}` {
			t.Fatalf("answer = %d %q %s, want the destination's 422", code, ct, body)
		}
		ids := reject.requests()
		if len(ids) != 1 {
			t.Fatalf("reject got %d requests, want 1", len(ids))
		}
		if status, codes := g.attempts(t, ids[0], "reject"); status != "dead" || fmt.Sprint(codes) != "[422]" {
			t.Fatalf("delivery = %s %v, want dead after one attempt", status, codes)
		}
		dls := g.deadLetters(t, "reject")
		if len(dls) != 1 || dls[0] != ids[0] {
			t.Fatalf("dead letters of reject = %v, want the event %s", dls, ids[0])
		}
	})

	fallbacks := []struct {
		name, source string
		sink         *scripted
		codes        string // the attempts once delivered
	}{
		{"5xx", "form_flaky", flaky, "[503 200]"},
		{"429", "form_busy", busy, "[429 200]"},
		{"timeout", "form_slow", slow, "[0 200]"},
	}
	for _, tt := range fallbacks {
		t.Run("fallback on "+tt.name, func(t *testing.T) {
			code, _, body := g.postRaw(t, "/hooks/"+tt.source, formPayload(tt.source))
			if code != http.StatusOK || !strings.Contains(body, `"message":"Successfully created"`) || strings.Contains(body, "late") {
				t.Fatalf("answer = %d %s, want the gateway's own 200", code, body)
			}
			leadID(t, body)
			var id string
			eventually(t, "delivered after a retry", func() bool {
				ids := tt.sink.requests()
				if len(ids) == 0 {
					return false
				}
				id = ids[0]
				status, _ := g.attempts(t, id, tt.source[len("form_"):])
				return status == "delivered"
			})
			if _, codes := g.attempts(t, id, tt.source[len("form_"):]); fmt.Sprint(codes) != tt.codes {
				t.Fatalf("attempts = %v, want %s: the inline send is the first, one retry takes it", codes, tt.codes)
			}
			ids := tt.sink.requests()
			if len(ids) != 2 || ids[0] != id || ids[1] != id {
				t.Fatalf("requests = %v, want the event twice (the first send and one retry)", ids)
			}
		})
	}

	t.Run("fallback on a network error", func(t *testing.T) {
		code, _, body := g.postRaw(t, "/hooks/form_closed", formPayload("closed"))
		if code != http.StatusOK || !strings.Contains(body, `"message":"Successfully created"`) {
			t.Fatalf("answer = %d %s, want the gateway's own 200", code, body)
		}
		up, srv := newScripted(t, func(n int, w http.ResponseWriter) { answer(w, http.StatusOK, "", "") })
		srv.Close()
		l, err := net.Listen("tcp", closedAddr)
		if err != nil {
			t.Fatalf("listen on the closed port: %v", err)
		}
		later := &http.Server{Handler: up}
		go later.Serve(l)
		t.Cleanup(func() { later.Close() })
		var id string
		eventually(t, "delivered once the port is open", func() bool {
			ids := up.requests()
			if len(ids) == 0 {
				return false
			}
			id = ids[0]
			status, _ := g.attempts(t, id, "closed")
			return status == "delivered"
		})
		_, codes := g.attempts(t, id, "closed")
		if len(codes) < 2 || codes[0] != 0 || codes[len(codes)-1] != 200 {
			t.Fatalf("attempts = %v, want a failed first (the inline send) and a delivery last", codes)
		}
		if n := len(up.requests()); n != 1 {
			t.Fatalf("the open port got %d requests, want 1", n)
		}
	})

	t.Run("fallback when pacing holds the destination", func(t *testing.T) {
		code, _, body := g.postRaw(t, "/hooks/form_paced", formPayload("paced1"))
		if code != http.StatusCreated || body != ledsakAnswer("paced-1") {
			t.Fatalf("first answer = %d %s, want the destination's 201", code, body)
		}
		code, _, body = g.postRaw(t, "/hooks/form_paced", formPayload("paced2"))
		if code != http.StatusOK || !strings.Contains(body, `"message":"Successfully created"`) || strings.Contains(body, "paced-") {
			t.Fatalf("second answer = %d %s, want the gateway's own 200: the rate limit has no room", code, body)
		}
		if n := len(paced.requests()); n != 1 {
			t.Fatalf("paced got %d requests at once, want 1", n)
		}
		eventually(t, "the second delivered when pacing allows", func() bool {
			ids := paced.requests()
			return len(ids) == 2 && func() bool { s, _ := g.attempts(t, ids[1], "paced"); return s == "delivered" }()
		})
		ids := paced.requests()
		if ids[0] == ids[1] {
			t.Fatalf("requests = %v, want two events once each", ids)
		}
		if _, codes := g.attempts(t, ids[1], "paced"); fmt.Sprint(codes) != "[201]" {
			t.Fatalf("attempts = %v, want one: nothing was sent while paced", codes)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get(g.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, want := range []string{
			`gateway_respond_total{answer="relayed",source="form_ledsak"} 1`,
			`gateway_respond_total{answer="duplicate",source="form_ledsak"} 1`,
			`gateway_respond_total{answer="relayed",source="form_reject"} 1`,
			`gateway_respond_total{answer="retrying",source="form_flaky"} 1`,
			`gateway_respond_total{answer="paced",source="form_paced"} 1`,
			`gateway_inbound_requests_total{code="422",source="form_reject"} 1`,
		} {
			if !strings.Contains(string(b), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

// deadLetters lists the event ids of dest's dead letters.
func (p *proc) deadLetters(t *testing.T, dest string) []string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.base+"/admin/dead-letters?destination="+dest, nil)
	req.Header.Set("X-Access-Key", "test-access")
	req.Header.Set("X-Secret-Key", "test-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("dead letters: %v", err)
	}
	defer resp.Body.Close()
	var page struct {
		Items []struct {
			EventID string `json:"event_id"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatalf("dead letters: %v", err)
	}
	var ids []string
	for _, it := range page.Items {
		ids = append(ids, it.EventID)
	}
	return ids
}

// TestRespondSendSurvivesKill kills the gateway with SIGKILL while its
// inline send waits for the destination: the payload was stored, so after
// a restart the held delivery's hold runs out and the dispatcher sends it.
func TestRespondSendSurvivesKill(t *testing.T) {
	sent := make(chan struct{}, 1)
	release := make(chan struct{})
	dest, srv := newScripted(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			sent <- struct{}{}
			<-release
		}
		answer(w, http.StatusOK, "application/json", ledsakAnswer(fmt.Sprintf("ledsak-%d", n)))
	})
	defer close(release)
	dir := t.TempDir()
	listen := freeAddr(t)
	config := writeDestinations(t, dir, listen, respondDest("ledsak", srv.URL, ""))
	writeRespondMapping(t, dir, "form_ledsak", "ledsak")
	g := start(t, config, listen)
	go g.post("/hooks/form_ledsak", formPayload("killed")) // its answer dies with the gateway
	select {
	case <-sent:
	case <-time.After(30 * time.Second):
		t.Fatalf("the inline send never reached the destination; logs:\n%s", g.logs)
	}
	g.cmd.Process.Signal(syscall.SIGKILL)
	g.cmd.Wait()

	g = start(t, config, listen)
	eventually(t, "the held delivery sent again after the restart", func() bool { return len(dest.requests()) == 2 })
	ids := dest.requests()
	if ids[0] != ids[1] {
		t.Fatalf("requests = %v, want the same event (webhook-id) again", ids)
	}
	eventually(t, "delivered", func() bool { s, _ := g.attempts(t, ids[0], "ledsak"); return s == "delivered" })
}

// TestValidateRespond checks a mapping's respond against gateway.yaml:
// each problem is one file:line line of `gateway validate`.
func TestValidateRespond(t *testing.T) {
	dests := `  - name: ledsak
    url: http://127.0.0.1:9/leads
    events: [form.submitted]
  - name: crm
    url: http://127.0.0.1:9/crm
    events: [lead.created]
    sources: [website]
  - name: connections
    url: http://127.0.0.1:9/c
    events: [connection.created]
  - name: inorder
    url: http://127.0.0.1:9/o
    ordered: true
`
	tests := []struct {
		name, respond, want string
	}{
		{"ok", "respond: {destination: ledsak}\n", ""},
		{"unknown destination", "respond:\n  destination: ledsack\n",
			`shop.yaml:3: respond.destination: "ledsack" is not a destination in `},
		{"other sources only", "respond: {destination: crm}\n",
			`shop.yaml:2: respond.destination: destination "crm" does not take source shop (its sources: website)`},
		{"none of the events", "respond: {destination: connections, timeout: 2s}\n",
			`shop.yaml:2: respond.destination: destination "connections" takes none of the events shop emits (it takes connection.created; shop emits form.submitted, lead.created)`},
		{"ordered", "respond: {destination: inorder}\n",
			`shop.yaml:2: respond.destination: destination "inorder" is ordered: a lead's events wait there for its earlier ones, so none can answer at once`},
		{"timeout over 10s", "respond: {destination: ledsak, timeout: 30s}\n",
			`shop.yaml:2: respond.timeout "30s": want a duration above 0 and at most 10s, such as 5s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, "mappings"), 0o755)
			os.WriteFile(filepath.Join(dir, "mappings", "shop.yaml"), []byte("events: [form.submitted, lead.created]\n"+tt.respond+"fields: {email: email}\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "mappings", "website.yaml"), []byte("fields: {email: email}\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte("mappings_dir: mappings\ndestinations:\n"+dests), 0o644)
			var out, errOut strings.Builder
			code := run([]string{"validate", "-config", filepath.Join(dir, "gateway.yaml")}, nil, &out, &errOut)
			if tt.want == "" {
				if code != 0 {
					t.Fatalf("validate = exit %d: %s", code, &errOut)
				}
				return
			}
			lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
			if code != 1 || len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
				t.Fatalf("validate = exit %d:\n%s\nwant one line containing:\n%s", code, &errOut, tt.want)
			}
		})
	}
}

// TestMapSaysWhoAnswers: `gateway map` names the destination whose answer
// the payload's sender would get, and the event sent to it.
func TestMapSaysWhoAnswers(t *testing.T) {
	dir := t.TempDir()
	config := writeDestinations(t, dir, "127.0.0.1:0", respondDest("ledsak", "http://127.0.0.1:9/leads", ""))
	writeRespondMapping(t, dir, "form_ledsak", "ledsak")
	var out, errOut strings.Builder
	code := run([]string{"map", "-config", config, "-source", "form_ledsak"}, strings.NewReader(formPayload("map")), &out, &errOut)
	if code != 0 {
		t.Fatalf("map = exit %d: %s", code, &errOut)
	}
	var res struct {
		Respond struct {
			Destination, Timeout, Event, Says string
		} `json:"respond"`
	}
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
		t.Fatalf("map printed %s: %v", &out, err)
	}
	r := res.Respond
	if r.Destination != "ledsak" || r.Timeout != "1s" || r.Event != "form.submitted" || !strings.Contains(r.Says, "ledsak answers") {
		t.Fatalf("respond = %+v, want ledsak answering form.submitted within 1s", r)
	}
}

// TestLedsakDefaultsFillAPlainForm: a plain form has no client or branch;
// a ledsak destination's defaults fill them, so Ledsak takes the lead, and
// through respond the form gets Ledsak's answer.
func TestLedsakDefaultsFillAPlainForm(t *testing.T) {
	bodies := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- string(b)
		answer(w, http.StatusOK, "application/json", ledsakAnswer("ledsak-42"))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	listen := freeAddr(t)
	config := writeDestinations(t, dir, listen, respondDest("ledsak", srv.URL,
		"    format: ledsak\n    ledsak: {client: example_client, branch: Main Branch}\n"))
	writeRespondMapping(t, dir, "form_ledsak", "ledsak")
	g := start(t, config, listen)
	code, _, body := g.postRaw(t, "/hooks/form_ledsak", `{"name": "Jane Roe", "email": "jane@example.com"}`)
	if code != http.StatusOK || body != ledsakAnswer("ledsak-42") {
		t.Fatalf("answer = %d %s, want Ledsak's", code, body)
	}
	got := <-bodies
	want := `{"client":"example_client","source":"form_ledsak","branch":"Main Branch","lead_details":[{"lead_field":"name","lead_value":"Jane Roe"},{"lead_field":"email","lead_value":"jane@example.com"}]}`
	if got != want {
		t.Fatalf("Ledsak got\n%s\nwant\n%s", got, want)
	}
}
