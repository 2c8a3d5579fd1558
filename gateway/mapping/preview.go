package mapping

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"leadgate/gateway/lead"
)

// PastedMappingFile names a pasted mapping in its problems ("mapping.yaml:3: …").
const PastedMappingFile = "mapping.yaml"

// PreviewResult is what a payload would produce for a lead seen for the first
// time: what `gateway map` prints and the playground shows.
type PreviewResult struct {
	Source   string       `json:"source"`
	Identity []string     `json:"identity"`
	Events   []lead.Event `json:"events"`
	Trace    []Trace      `json:"trace"`
	// Respond says who would answer the payload's sender, for a mapping
	// with a respond section (see Answering); absent otherwise.
	Respond *RespondPreview `json:"respond,omitempty"`
}

// Problem is one reason a preview failed: a line of a pasted mapping, a
// field of the payload, or the request itself.
type Problem struct {
	// Line is the pasted mapping's line, when the problem is in it.
	Line int `json:"line,omitempty"`
	// Field is the lead field, when the payload did not map.
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// PreviewError lists every problem of a preview.
type PreviewError struct {
	Problems []Problem
}

// Error writes one problem a line, as `gateway map` prints them:
// "mapping.yaml:3: message", "field: problem" or the message alone.
func (e *PreviewError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		switch {
		case p.Line > 0:
			lines[i] = PastedMappingFile + ":" + strconv.Itoa(p.Line) + ": " + p.Message
		case p.Field != "":
			lines[i] = p.Field + ": " + p.Message
		default:
			lines[i] = p.Message
		}
	}
	return strings.Join(lines, "\n")
}

func problem(format string, args ...any) *PreviewError {
	return &PreviewError{Problems: []Problem{{Message: fmt.Sprintf(format, args...)}}}
}

// Preview maps one payload without side effects: nothing is stored,
// authenticated or delivered. The source's compiled mapping from set is
// used, unless mappingYAML is not empty: that text is then compiled in its
// place (named after source, or "playground"), and its problems come back
// with their lines. query is a query string (k=v&…), headers are request
// headers (names in any case; Content-Type picks the body's parser and
// defaults to application/json). Every failure is a *PreviewError.
func Preview(set *Set, source, mappingYAML, query string, headers map[string]string, body []byte) (PreviewResult, error) {
	m, err := pick(set, source, mappingYAML)
	if err != nil {
		return PreviewResult{}, err
	}
	q, err := url.ParseQuery(strings.TrimPrefix(query, "?"))
	if err != nil {
		return PreviewResult{}, problem("query: %v", err)
	}
	h := make(map[string]string, len(headers))
	for k, v := range headers {
		h[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	ct := h["content-type"]
	if ct == "" {
		ct = "application/json"
	}
	parsed, err := ParseBody(ct, body)
	if err != nil {
		return PreviewResult{}, problem("parse body as %s: %v", ct, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	res, err := m.Map(Input{
		Body:   parsed,
		Raw:    body,
		Query:  q.Get,
		Header: func(k string) string { return h[strings.ToLower(k)] },
		Now:    now,
	})
	if err != nil {
		var fe *FieldErrors
		if errors.As(err, &fe) {
			pe := &PreviewError{}
			for _, p := range fe.Errors {
				pe.Problems = append(pe.Problems, Problem{Field: p.Field, Message: p.Problem})
			}
			return PreviewResult{}, pe
		}
		return PreviewResult{}, problem("%v", err)
	}
	events := lead.Preview(res.Lead, m.Emits(), m.Name(), now)
	trace := res.Trace
	if trace == nil {
		trace = []Trace{}
	}
	out := PreviewResult{Source: m.Name(), Identity: res.Identity, Events: events, Trace: trace}
	if r := m.Respond(); r != nil {
		// Answering, given the destinations, names the event that answers.
		out.Respond = &RespondPreview{Destination: r.Destination, Timeout: r.Timeout.String(),
			Says: r.Destination + " answers if it takes one of these events."}
	}
	return out, nil
}

// problemLine reads "file:line: message" as Compile writes it.
var problemLine = regexp.MustCompile(`^[^:]*:(\d+): (.*)$`)

// pick finds the source's mapping, or compiles the pasted one.
func pick(set *Set, source, mappingYAML string) (*Mapping, error) {
	if strings.TrimSpace(mappingYAML) == "" {
		if set == nil {
			return nil, problem("no mappings are loaded")
		}
		m, ok := set.Get(source)
		if !ok {
			return nil, problem("unknown source %q (have %s)", source, strings.Join(set.Names(), ", "))
		}
		return m, nil
	}
	name := source
	if name == "" {
		name = "playground"
	}
	m, err := Compile(name, PastedMappingFile, []byte(mappingYAML))
	if err == nil {
		return m, nil
	}
	pe := &PreviewError{}
	for _, line := range ErrorLines(err) {
		if sm := problemLine.FindStringSubmatch(line); sm != nil {
			n, _ := strconv.Atoi(sm[1])
			pe.Problems = append(pe.Problems, Problem{Line: n, Message: sm[2]})
			continue
		}
		pe.Problems = append(pe.Problems, Problem{Message: line})
	}
	return nil, pe
}

// ErrorLines flattens joined errors into one line each, as `gateway
// validate` and `gateway map` print them and the playground lists them.
func ErrorLines(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, inner := range j.Unwrap() {
				walk(inner)
			}
			return
		}
		for _, line := range strings.Split(e.Error(), "\n") {
			if line != "" {
				out = append(out, line)
			}
		}
	}
	walk(err)
	return out
}

// RespondPreview says who would answer a payload's sender when its mapping
// has a respond section (contract §3, the reverse-proxy answer): what
// `gateway map` prints and the playground shows.
type RespondPreview struct {
	// Destination is the respond destination.
	Destination string `json:"destination"`
	// Timeout is how long the sender would wait for it.
	Timeout string `json:"timeout"`
	// Event is the event that would be sent to it at once and whose answer
	// would be relayed: the first of the payload's events it takes. Empty
	// when it takes none (or is not configured): the gateway answers.
	Event string `json:"event,omitempty"`
	// Says is the same in a sentence.
	Says string `json:"says"`
}

// Routes is what Answering asks of the destinations the gateway runs
// with: whether dest exists and is enabled, and whether it takes ev (a
// nil ev asks only the first two).
type Routes interface {
	Route(dest string, ev *lead.Event) (found, enabled, takes bool)
}

// Answering fills r.Respond's event and sentence from the destinations the
// gateway runs with (those of gateway.yaml and the subscriptions). A
// result whose mapping has no respond is left as it is.
func (r *PreviewResult) Answering(routes Routes) {
	rp := r.Respond
	if rp == nil {
		return
	}
	rp.Event = ""
	found, enabled, _ := routes.Route(rp.Destination, nil)
	switch {
	case !found:
		rp.Says = rp.Destination + " is not a configured destination: Leadgate answers itself (200 with its own lead_id)."
		return
	case !enabled:
		rp.Says = rp.Destination + " is disabled: Leadgate answers itself (200 with its own lead_id)."
		return
	}
	for i := range r.Events {
		if _, _, takes := routes.Route(rp.Destination, &r.Events[i]); takes {
			rp.Event = r.Events[i].Event
			break
		}
	}
	if rp.Event == "" {
		rp.Says = rp.Destination + " takes none of these events: Leadgate answers itself (200 with its own lead_id)."
		return
	}
	rp.Says = rp.Destination + " answers: the " + rp.Event + " event is sent to it at once and its 2xx or 4xx answer is relayed. " +
		"After " + rp.Timeout + ", or on an error, a 5xx or 429, or while it is paced, Leadgate answers itself and the delivery retries."
}
