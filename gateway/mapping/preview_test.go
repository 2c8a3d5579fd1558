package mapping_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"leadgate/gateway/mapping"
)

func loadSet(t *testing.T) *mapping.Set {
	t.Helper()
	set, err := mapping.LoadDir("../../mappings")
	if err != nil {
		t.Fatalf("load mappings: %v", err)
	}
	return set
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPreview(t *testing.T) {
	set := loadSet(t)
	leadsie := readFile(t, "../../mappings/testdata/leadsie/seed_success.json")
	tests := []struct {
		name        string
		source      string
		mapping     string
		query       string
		headers     map[string]string
		body        string
		wantEvents  []string
		wantFields  map[string]any
		wantProblem mapping.Problem
	}{
		{
			name: "leadsie seed with its per-type breakdown", source: "leadsie", query: "customUserId=user123456",
			body:       string(leadsie),
			wantEvents: []string{"connection.created"},
			wantFields: map[string]any{"pixel_is_success": "true", "ad_account_id": "act_1001", "page_name": "Acme Page"},
		},
		{
			name: "form body by content type", source: "website",
			headers:    map[string]string{"content-type": "application/x-www-form-urlencoded"},
			body:       "name=Jane+Roe&email=JANE%40EXAMPLE.COM&budget=5000",
			wantEvents: []string{"form.submitted", "lead.created"},
			wantFields: map[string]any{"budget": "5000"},
		},
		{
			name: "pasted mapping", source: "anything",
			mapping:    "events: [lead.created]\nfields:\n  email: data.mail\n  fields.plan: data.plan\n",
			body:       `{"data": {"mail": "x@example.com", "plan": "gold"}}`,
			wantEvents: []string{"lead.created"},
			wantFields: map[string]any{"plan": "gold"},
		},
		{
			name: "pasted mapping error has its line", source: "leadsie",
			mapping:     "events: [lead.created]\nfields:\n  email: data.mail\n  nonsense_target: data.x\n",
			body:        `{}`,
			wantProblem: mapping.Problem{Line: 4},
		},
		{
			name: "pasted mapping that is not YAML", mapping: "fields: [unclosed\n", body: `{}`,
			wantProblem: mapping.Problem{Line: 1},
		},
		{
			name: "payload without identity", source: "save_lead", body: `{"data": {"first_name": "John"}}`,
			wantProblem: mapping.Problem{Field: "identity"},
		},
		{name: "unknown source", source: "nope", body: `{}`, wantProblem: mapping.Problem{Message: `unknown source "nope"`}},
		{name: "malformed body", source: "save_lead", body: `{"data":`, wantProblem: mapping.Problem{Message: "parse body"}},
		{name: "bad query", source: "leadsie", query: "a=%zz", body: `{}`, wantProblem: mapping.Problem{Message: "query:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := mapping.Preview(set, tt.source, tt.mapping, tt.query, tt.headers, []byte(tt.body))
			if tt.wantEvents == nil {
				var pe *mapping.PreviewError
				if !errors.As(err, &pe) || len(pe.Problems) == 0 {
					t.Fatalf("err = %v, want a *PreviewError", err)
				}
				p := pe.Problems[0]
				w := tt.wantProblem
				if p.Line != w.Line || (w.Field != "" && p.Field != w.Field) || !strings.Contains(p.Message+pe.Error(), w.Message) {
					t.Fatalf("problem = %+v, want %+v (all: %v)", p, w, pe)
				}
				return
			}
			if err != nil {
				t.Fatalf("preview: %v", err)
			}
			var names []string
			for _, ev := range res.Events {
				names = append(names, ev.Event)
			}
			if !slices.Equal(names, tt.wantEvents) {
				t.Fatalf("events = %v, want %v", names, tt.wantEvents)
			}
			for k, want := range tt.wantFields {
				if got := res.Events[0].Lead.Fields[k]; got != want {
					t.Fatalf("fields.%s = %v, want %v", k, got, want)
				}
			}
			if len(res.Trace) == 0 {
				t.Fatalf("no trace")
			}
		})
	}
}

// TestPreviewErrorLines: the error prints one problem a line, as `gateway
// map` shows them.
func TestPreviewErrorLines(t *testing.T) {
	e := &mapping.PreviewError{Problems: []mapping.Problem{
		{Line: 3, Message: "unknown target"}, {Field: "email", Message: "required"}, {Message: "plain"},
	}}
	want := "mapping.yaml:3: unknown target\nemail: required\nplain"
	if got := e.Error(); got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}
