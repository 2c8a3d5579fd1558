package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"leadgate/gateway/lead"
)

// FixtureTime is the clock every fixture is mapped at, so that goldens do
// not change from one run to the next.
var FixtureTime = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// fixtureRemoteIP is the client address every fixture comes from.
const fixtureRemoteIP = "192.0.2.1"

// Fixture is one golden case of a mapping:
// <mappings_dir>/testdata/<source>/<name>.<ext> is the request body,
// <name>.meta.json (optional) what the request carried besides it, and
// <name>.golden.json what the mapping must make of it. The go test of this
// package and `gateway test` both run fixtures through here.
type Fixture struct {
	Source   string
	Name     string
	BodyFile string
}

// GoldenFile is the path of the fixture's expected result.
func (f Fixture) GoldenFile() string {
	return filepath.Join(filepath.Dir(f.BodyFile), f.Name+".golden.json")
}

// fixtureMeta is a fixture's side file.
type fixtureMeta struct {
	ContentType string            `json:"content_type"`
	Query       string            `json:"query"`
	Headers     map[string]string `json:"headers"`
}

// Golden is what a fixture maps to: the Result and the canonical events it
// makes for a lead seen for the first time (lead.Preview: placeholder ids,
// FixtureTime), or the error the server would answer with.
type Golden struct {
	Lead     *lead.Lead   `json:"lead,omitempty"`
	Identity []string     `json:"identity,omitempty"`
	Events   []lead.Event `json:"events,omitempty"`
	Trace    []Trace      `json:"trace,omitempty"`
	Error    string       `json:"error,omitempty"`
	Details  []FieldError `json:"details,omitempty"`
}

// Marshal is the golden file's text: indented JSON and a final newline.
func (g Golden) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// fixtureExt maps a body file's extension to the content type it is sent
// with.
var fixtureExt = map[string]string{
	".json":      "application/json",
	".form":      "application/x-www-form-urlencoded",
	".txt":       "text/plain",
	".multipart": "", // needs meta.content_type for its boundary
}

// FixtureDir is where source's fixtures live under mappingsDir.
func FixtureDir(mappingsDir, source string) string {
	return filepath.Join(mappingsDir, "testdata", source)
}

// Fixtures lists source's fixtures in mappingsDir, by name. A missing
// folder is no fixture, not an error; a file with an extension that is not
// a fixture's is an error.
func Fixtures(mappingsDir, source string) ([]Fixture, error) {
	dir := FixtureDir(mappingsDir, source)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var fs []Fixture
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasSuffix(n, ".golden.json") || strings.HasSuffix(n, ".meta.json") {
			continue
		}
		ext := filepath.Ext(n)
		if _, ok := fixtureExt[ext]; !ok {
			return nil, fmt.Errorf("%s: unknown fixture extension %q (want .json, .form, .txt or .multipart)", filepath.Join(dir, n), ext)
		}
		fs = append(fs, Fixture{Source: source, Name: strings.TrimSuffix(n, ext), BodyFile: filepath.Join(dir, n)})
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].Name < fs[j].Name })
	return fs, nil
}

// Request reads the fixture into what the server would hand the mapping:
// the content type, the raw body, and the Input without its parsed Body.
func (f Fixture) Request() (contentType string, body []byte, in Input, err error) {
	body, err = os.ReadFile(f.BodyFile)
	if err != nil {
		return "", nil, Input{}, err
	}
	m := fixtureMeta{ContentType: fixtureExt[filepath.Ext(f.BodyFile)]}
	metaFile := strings.TrimSuffix(f.BodyFile, filepath.Ext(f.BodyFile)) + ".meta.json"
	if b, err := os.ReadFile(metaFile); err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			return "", nil, Input{}, fmt.Errorf("%s: %w", metaFile, err)
		}
		if m.ContentType == "" {
			m.ContentType = fixtureExt[filepath.Ext(f.BodyFile)]
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", nil, Input{}, err
	}
	q, err := url.ParseQuery(m.Query)
	if err != nil {
		return "", nil, Input{}, fmt.Errorf("%s: query: %w", metaFile, err)
	}
	h := http.Header{}
	for k, v := range m.Headers {
		h.Set(k, v)
	}
	in = Input{Raw: body, Query: q.Get, Header: h.Get, RemoteIP: fixtureRemoteIP, Now: FixtureTime}
	return m.ContentType, body, in, nil
}

// Run maps the fixture with its source's mapping in set. A body the server
// would refuse, or a mapping error, is a Golden with Error set; err is for
// a fixture that cannot be run at all.
func (f Fixture) Run(set *Set) (Golden, error) {
	m, ok := set.Get(f.Source)
	if !ok {
		return Golden{}, fmt.Errorf("no mapping %q", f.Source)
	}
	ct, body, in, err := f.Request()
	if err != nil {
		return Golden{}, err
	}
	parsed, err := ParseBody(ct, body)
	if err != nil {
		return Golden{Error: err.Error()}, nil
	}
	in.Body = parsed
	res, err := m.Map(in)
	var fe *FieldErrors
	switch {
	case errors.As(err, &fe):
		return Golden{Error: "mapping failed", Details: fe.Errors}, nil
	case err != nil:
		return Golden{}, fmt.Errorf("map: unexpected error %T: %w", err, err)
	}
	events := lead.Preview(res.Lead, m.Emits(), m.Name(), in.Now)
	if len(events) == 0 {
		return Golden{}, fmt.Errorf("a first-seen lead of %s makes no event", f.Source)
	}
	return Golden{Lead: &res.Lead, Identity: res.Identity, Events: events, Trace: res.Trace}, nil
}

// FixtureOutcome is a fixture run against its golden file: Got is what the
// mapping gives now, Want the golden file's text (nil when the file is
// missing), both as Golden.Marshal writes them.
type FixtureOutcome struct {
	Golden    Golden
	Got, Want []byte
}

// Pass says whether the mapping still gives its golden.
func (o FixtureOutcome) Pass() bool { return o.Want != nil && bytes.Equal(o.Got, o.Want) }

// Check runs the fixture and reads its golden file.
func (f Fixture) Check(set *Set) (FixtureOutcome, error) {
	g, err := f.Run(set)
	if err != nil {
		return FixtureOutcome{}, err
	}
	got, err := g.Marshal()
	if err != nil {
		return FixtureOutcome{}, err
	}
	want, err := os.ReadFile(f.GoldenFile())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return FixtureOutcome{}, err
	}
	return FixtureOutcome{Golden: g, Got: got, Want: want}, nil
}
