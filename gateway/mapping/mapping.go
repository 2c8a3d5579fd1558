// Package mapping turns an inbound webhook payload into the canonical lead.
//
// Each source has one YAML file in the mappings directory (mappings/<source>.yaml);
// LoadDir compiles every file once, so that a bad gjson path, an unknown
// target or a duplicate target is a validation error at start-up or reload,
// never a failed request. A file goes through three steps:
//
//   - spec: decode.go reads it (through config/yamlpos, as gateway.yaml is
//     read) into spec.go's typed values, each with its line, reporting
//     what has the wrong shape;
//   - plan: compile.go resolves the spec into compiled targets and a plan
//     (plan.go) of what a request walks and where each value lands,
//     reporting what does not make sense; the result is immutable;
//   - run: Map (run.go) runs it over a payload. It parses nothing beyond
//     one walk of the JSON body with gjson (scratch.go): top-level objects
//     and key/value arrays (Ledsak's lead_details) are indexed once and
//     every simple path is a lookup; an array of objects that assets and
//     group_by read (Leadsie's connectionAssets) is walked once, element by
//     element, for both (arrays.go).
//
// Preview (preview.go) is what `gateway map` and the console's playground
// show: a payload mapped without side effects.
//
// The language itself is described, with an example per feature, in the
// "Mapping language" section of the repository's README.md; those examples
// are compiled by TestReadmeExamples.
package mapping

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"leadgate/gateway/lead"
)

// Errors callers branch on with errors.Is.
var (
	// ErrUnsupportedMediaType: ParseBody does not take that content type (415).
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrMalformedBody: the body does not parse as its content type says (400).
	ErrMalformedBody = errors.New("malformed body")
	// ErrUnauthorized: source authentication failed (401).
	ErrUnauthorized = errors.New("unauthorized")
)

// Input is one inbound request as the mapping sees it.
type Input struct {
	// Body is the JSON object that ParseBody produced.
	Body []byte
	// Raw is the body as received, which signatures are computed over;
	// when nil, Body is used.
	Raw []byte
	// Query returns a query parameter's value; nil means no query string.
	Query func(string) string
	// Header returns a request header's value; nil means no headers.
	Header func(string) string
	// RemoteIP is the client address, for the default rate-limit key (the
	// server passes an IPv6 address as its /64).
	RemoteIP string
	// Now is the time of receipt, for signature timestamp tolerance; the
	// zero time means time.Now().
	Now time.Time
	// NoTrace leaves Result.Trace empty: the server does not need it, and
	// building it is a good part of Map's allocations. `gateway map`
	// leaves it false.
	NoTrace bool
}

func (in *Input) query(name string) string {
	if in.Query == nil {
		return ""
	}
	return in.Query(name)
}

func (in *Input) header(name string) string {
	if in.Header == nil {
		return ""
	}
	return in.Header(name)
}

// Result is a mapped payload: the canonical lead, the keys that identify it
// and where each field came from.
type Result struct {
	Lead lead.Lead `json:"lead"`
	// Identity lists the lead index keys in priority order: "email:<e>",
	// "phone:<p>", "key:<source>:<v>"; never empty.
	Identity []string `json:"identity"`
	// Trace names the path that produced each field, for `gateway map`.
	Trace []Trace `json:"trace,omitempty"`
	// FieldsDropped counts the keys rest left out of Lead.Fields: it
	// copies at most lead.MaxFields keys per payload.
	FieldsDropped int `json:"fields_dropped,omitempty"`
}

// Trace says which path produced one lead field, or, for a mapped field
// that came out empty, which paths were tried: what an ops person needs to
// see why a field is empty.
type Trace struct {
	// Field is the target: "email", "fields.budget", "assets".
	Field string `json:"field"`
	// Path is the path as the mapping wrote it, empty for derived values.
	Path string `json:"path,omitempty"`
	// From is body, query, header, pair, default, rest, group_by or
	// derived; "empty" when no path gave a value (absent, null, blank, or
	// blank after its transforms) and there is no default.
	From string `json:"from"`
	// Tried lists, for an empty field, every path it reads in order, each
	// with its source prefix unless it reads the body ("pair:email",
	// "query:customUserId", "data.email").
	Tried []string `json:"tried,omitempty"`
}

// FieldError is one field that could not be mapped.
type FieldError struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

// FieldErrors is the error Map returns for a payload that maps to no valid
// lead: a required field is missing, a value has the wrong type or nothing
// identifies the lead. The server answers it with 422 and lists Errors.
type FieldErrors struct {
	Errors []FieldError
}

// Error joins the problems in one line.
func (e *FieldErrors) Error() string {
	var b strings.Builder
	for i, fe := range e.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(fe.Field)
		b.WriteString(": ")
		b.WriteString(fe.Problem)
	}
	return b.String()
}

// Mapping is one compiled source mapping. It is immutable and safe for
// concurrent use.
type Mapping struct {
	name     string
	file     string
	events   []string
	identity []*fieldSpec // targets tried in order for the "key:" identity
	auth     authSpec
	rate     rateKeySpec
	required []requiredSpec
	fields   []*fieldSpec
	assets   *fieldSpec
	pairs    *pairsSpec
	rest     []restSpec
	group    *groupSpec
	respond  *Respond

	// plan is how a request finds the values the fields read.
	plan
}

// Name is the source name: the mapping file's name without extension.
func (m *Mapping) Name() string { return m.name }

// File is the file the mapping was compiled from.
func (m *Mapping) File() string { return m.file }

// Emits lists the events this source may produce. The slice is shared:
// callers must not modify it.
func (m *Mapping) Emits() []string { return m.events }

// HasAuth reports whether the source authenticates its requests; a source
// without it accepts anyone, and the server warns about it at start-up.
func (m *Mapping) HasAuth() bool { return m.auth.kind != authNone }

// KeysByAddress reports whether rate_limit_key is ip (the default): the
// client key is then the client's address, known before the body is read.
func (m *Mapping) KeysByAddress() bool { return m.rate.kind == rateIP }

// Set is the compiled mappings of one directory, by source name.
type Set struct {
	byName map[string]*Mapping
	names  []string
}

// Get returns the mapping of source name.
func (s *Set) Get(name string) (*Mapping, bool) {
	m, ok := s.byName[name]
	return m, ok
}

// Names lists the source names in sorted order; callers must not modify it.
func (s *Set) Names() []string { return s.names }

// NewSet builds a Set from compiled mappings; names must be unique.
func NewSet(ms ...*Mapping) (*Set, error) {
	s := &Set{byName: make(map[string]*Mapping, len(ms))}
	for _, m := range ms {
		if _, dup := s.byName[m.name]; dup {
			return nil, fmt.Errorf("new mapping set: duplicate source %q", m.name)
		}
		s.byName[m.name] = m
		s.names = append(s.names, m.name)
	}
	sort.Strings(s.names)
	return s, nil
}

// LoadDir compiles every *.yaml and *.yml file directly in dir (not its
// subdirectories, which hold fixtures, nor hidden files). The error joins every problem of
// every file, each as "file:line: message".
func LoadDir(dir string) (*Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load mappings: %w", err)
	}
	var (
		errs []error
		ms   []*Mapping
		seen = map[string]string{}
	)
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		// Hidden files are editors' lock and swap files, not sources.
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		file := filepath.Join(dir, e.Name())
		name := strings.TrimSuffix(e.Name(), ext)
		if prev, dup := seen[name]; dup {
			errs = append(errs, fmt.Errorf("%s:1: source %q is also defined in %s", file, name, prev))
			continue
		}
		seen[name] = file
		src, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, fmt.Errorf("load mapping %q: %w", name, err))
			continue
		}
		m, err := Compile(name, file, src)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ms = append(ms, m)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("load mappings: no *.yaml file in %s", dir)
	}
	return NewSet(ms...)
}
