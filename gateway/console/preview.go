package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/httperr"
	"leadgate/gateway/lead"
	"leadgate/gateway/mapping"
)

// PastedMappingFile names a pasted mapping in its problems ("mapping.yaml:3: …").
const PastedMappingFile = "mapping.yaml"

// Result is what a payload would produce for a lead seen for the first
// time: what `gateway map` prints and the playground shows.
type Result struct {
	Source   string          `json:"source"`
	Identity []string        `json:"identity"`
	Events   []lead.Event    `json:"events"`
	Trace    []mapping.Trace `json:"trace"`
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
func Preview(set *mapping.Set, source, mappingYAML, query string, headers map[string]string, body []byte) (Result, error) {
	m, err := pick(set, source, mappingYAML)
	if err != nil {
		return Result{}, err
	}
	q, err := url.ParseQuery(strings.TrimPrefix(query, "?"))
	if err != nil {
		return Result{}, problem("query: %v", err)
	}
	h := make(map[string]string, len(headers))
	for k, v := range headers {
		h[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	ct := h["content-type"]
	if ct == "" {
		ct = "application/json"
	}
	parsed, err := mapping.ParseBody(ct, body)
	if err != nil {
		return Result{}, problem("parse body as %s: %v", ct, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	res, err := m.Map(mapping.Input{
		Body:   parsed,
		Raw:    body,
		Query:  q.Get,
		Header: func(k string) string { return h[strings.ToLower(k)] },
		Now:    now,
	})
	if err != nil {
		var fe *mapping.FieldErrors
		if errors.As(err, &fe) {
			pe := &PreviewError{}
			for _, p := range fe.Errors {
				pe.Problems = append(pe.Problems, Problem{Field: p.Field, Message: p.Problem})
			}
			return Result{}, pe
		}
		return Result{}, problem("%v", err)
	}
	events := lead.Preview(res.Lead, m.Emits(), m.Name(), now)
	trace := res.Trace
	if trace == nil {
		trace = []mapping.Trace{}
	}
	out := Result{Source: m.Name(), Identity: res.Identity, Events: events, Trace: trace}
	if r := m.Respond(); r != nil {
		// Answering, given the destinations, names the event that answers.
		out.Respond = &RespondPreview{Destination: r.Destination, Timeout: r.Timeout.String(),
			Says: r.Destination + " answers if it takes one of these events."}
	}
	return out, nil
}

// problemLine reads "file:line: message" as mapping.Compile writes it.
var problemLine = regexp.MustCompile(`^[^:]*:(\d+): (.*)$`)

// pick finds the source's mapping, or compiles the pasted one.
func pick(set *mapping.Set, source, mappingYAML string) (*mapping.Mapping, error) {
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
	m, err := mapping.Compile(name, PastedMappingFile, []byte(mappingYAML))
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

// previewRequest is the playground's (and POST /admin/preview's) body. The
// payload is a string so that forms and text bodies can be tried as sent.
type previewRequest struct {
	Source  string            `json:"source"`
	Mapping string            `json:"mapping"`
	Query   string            `json:"query"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// previewAnswer carries either a result or the problems; both are a 200,
// since problems are what the playground is for.
type previewAnswer struct {
	OK       bool      `json:"ok"`
	Result   *Result   `json:"result,omitempty"`
	Problems []Problem `json:"problems"`
}

func (c *Console) preview(ctx *fiber.Ctx) error {
	var req previewRequest
	if err := json.Unmarshal(ctx.Request().Body(), &req); err != nil {
		return &httperr.Error{Code: fiber.StatusBadRequest, Msg: "malformed body",
			Details: []any{`want {"source", "mapping", "query", "headers", "body"}`}}
	}
	rt := c.runtime()
	res, err := Preview(rt.Mappings, req.Source, req.Mapping, req.Query, req.Headers, []byte(req.Body))
	if err == nil {
		res.Answering(rt.Destinations)
	}
	if err != nil {
		var pe *PreviewError
		if !errors.As(err, &pe) {
			return err
		}
		return ctx.JSON(previewAnswer{Problems: pe.Problems})
	}
	return ctx.JSON(previewAnswer{OK: true, Result: &res, Problems: []Problem{}})
}
