package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"leadgate/gateway/lead"
)

var update = flag.Bool("update", false, "rewrite the golden files of mappings/testdata")

const mappingsDir = "../../mappings"

// fixture is one golden case: mappings/testdata/<source>/<case>.<ext>,
// optionally with <case>.meta.json.
type fixture struct {
	source, name, bodyFile string
}

// meta is a fixture's side file: what the request carried besides its body.
type meta struct {
	ContentType string            `json:"content_type"`
	Query       string            `json:"query"`
	Headers     map[string]string `json:"headers"`
}

// golden is what a fixture maps to: the Result and the canonical events it
// makes for a lead seen for the first time (lead.Preview: placeholder ids,
// the fixture's fixed time), or the error the server would answer with.
type golden struct {
	Lead     *lead.Lead   `json:"lead,omitempty"`
	Identity []string     `json:"identity,omitempty"`
	Events   []lead.Event `json:"events,omitempty"`
	Trace    []Trace      `json:"trace,omitempty"`
	Error    string       `json:"error,omitempty"`
	Details  []FieldError `json:"details,omitempty"`
}

var extContentType = map[string]string{
	".json":      "application/json",
	".form":      "application/x-www-form-urlencoded",
	".txt":       "text/plain",
	".multipart": "", // needs meta.content_type for its boundary
}

// loadShipped compiles mappings/ with every auth secret unset, as on a
// fresh machine.
func loadShipped(t testing.TB) *Set {
	t.Helper()
	for _, v := range []string{"WEBSITE_WEBHOOK_TOKEN", "SAVE_LEAD_TOKEN", "LEADSIE_WEBHOOK_TOKEN"} {
		t.Setenv(v, "")
	}
	set, err := LoadDir(mappingsDir)
	if err != nil {
		t.Fatalf("load shipped mappings: %v", err)
	}
	return set
}

func fixtures(t testing.TB, source string) []fixture {
	t.Helper()
	dir := filepath.Join(mappingsDir, "testdata", source)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var fs []fixture
	for _, e := range entries {
		n := e.Name()
		if strings.HasSuffix(n, ".golden.json") || strings.HasSuffix(n, ".meta.json") {
			continue
		}
		ext := filepath.Ext(n)
		if _, ok := extContentType[ext]; !ok {
			t.Fatalf("%s: unknown fixture extension %q", filepath.Join(dir, n), ext)
		}
		fs = append(fs, fixture{source: source, name: strings.TrimSuffix(n, ext), bodyFile: filepath.Join(dir, n)})
	}
	return fs
}

// request reads a fixture into what the server would hand the mapping.
func (f fixture) request(t testing.TB) (contentType string, body []byte, in Input) {
	t.Helper()
	body, err := os.ReadFile(f.bodyFile)
	if err != nil {
		t.Fatal(err)
	}
	m := meta{ContentType: extContentType[filepath.Ext(f.bodyFile)]}
	metaFile := strings.TrimSuffix(f.bodyFile, filepath.Ext(f.bodyFile)) + ".meta.json"
	if b, err := os.ReadFile(metaFile); err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%s: %v", metaFile, err)
		}
		if m.ContentType == "" {
			m.ContentType = extContentType[filepath.Ext(f.bodyFile)]
		}
	}
	q, err := url.ParseQuery(m.Query)
	if err != nil {
		t.Fatalf("%s: query: %v", metaFile, err)
	}
	h := http.Header{}
	for k, v := range m.Headers {
		h.Set(k, v)
	}
	in = Input{Raw: body, Query: q.Get, Header: h.Get, RemoteIP: "192.0.2.1", Now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	return m.ContentType, body, in
}

func (f fixture) run(t testing.TB, set *Set) golden {
	m, ok := set.Get(f.source)
	if !ok {
		t.Fatalf("no mapping %q", f.source)
	}
	ct, body, in := f.request(t)
	parsed, err := ParseBody(ct, body)
	if err != nil {
		return golden{Error: err.Error()}
	}
	in.Body = parsed
	res, err := m.Map(in)
	var fe *FieldErrors
	switch {
	case errors.As(err, &fe):
		return golden{Error: "mapping failed", Details: fe.Errors}
	case err != nil:
		t.Fatalf("map: unexpected error type %T: %v", err, err)
	}
	events := lead.Preview(res.Lead, m.Emits(), m.Name(), in.Now)
	if len(events) == 0 {
		t.Fatalf("a first-seen lead of %s makes no event", f.source)
	}
	return golden{Lead: &res.Lead, Identity: res.Identity, Events: events, Trace: res.Trace}
}

// TestGolden maps every fixture of every shipped mapping and compares the
// result with its golden file; -update rewrites them. A mapping without
// fixtures fails.
func TestGolden(t *testing.T) {
	set := loadShipped(t)
	for _, source := range set.Names() {
		fs := fixtures(t, source)
		if len(fs) == 0 {
			t.Errorf("mapping %q has no fixtures in %s", source, filepath.Join(mappingsDir, "testdata", source))
		}
		sort.Slice(fs, func(i, j int) bool { return fs[i].name < fs[j].name })
		for _, f := range fs {
			t.Run(source+"/"+f.name, func(t *testing.T) {
				g := f.run(t, set)
				if g.Error == "" {
					checkFirstSeen(t, source, g)
				}
				got, err := json.MarshalIndent(g, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, '\n')
				file := filepath.Join(mappingsDir, "testdata", source, f.name+".golden.json")
				if *update {
					if err := os.WriteFile(file, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(file)
				if err != nil {
					t.Fatalf("%v (run go test ./gateway/mapping -run TestGolden -update)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from the mapping's output:\n%s", file, got)
				}
			})
		}
	}
}

// firstSeen is the events each shipped source makes for a lead seen for
// the first time (contract section 4): a website form is form.submitted and
// lead.created, a save_lead payload lead.created, a Leadsie connection
// connection.created only.
var firstSeen = map[string][]string{
	"website":   {lead.FormSubmitted, lead.LeadCreated},
	"save_lead": {lead.LeadCreated},
	"leadsie":   {lead.ConnectionCreated},
}

// checkFirstSeen holds a fixture's events to the contract, whatever its
// golden file says: the names, one source, the one lead and no changed.
func checkFirstSeen(t *testing.T, source string, g golden) {
	t.Helper()
	want, ok := firstSeen[source]
	if !ok {
		t.Fatalf("no expected events for source %q: add it to firstSeen", source)
	}
	var names []string
	for _, ev := range g.Events {
		names = append(names, ev.Event)
		if ev.Source != source || ev.LeadID != lead.PreviewLeadID || ev.ID != lead.PreviewEventID || ev.Changed != nil {
			t.Errorf("event %s: source %q, lead_id %q, id %q, changed %v", ev.Event, ev.Source, ev.LeadID, ev.ID, ev.Changed)
		}
		a, _ := json.Marshal(ev.Lead)
		b, _ := json.Marshal(g.Lead)
		if string(a) != string(b) {
			t.Errorf("event %s carries lead %s, want the mapped lead %s", ev.Event, a, b)
		}
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("events = %v, want %v", names, want)
	}
}
