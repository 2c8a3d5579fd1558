package lead

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var allEvents = EventNames

func TestDecide(t *testing.T) {
	known := &Lead{
		Email: "john@example.com", FirstName: "John", LastName: "Doe", FullName: "John Doe",
		Score: 42, Client: "acme",
		Fields: map[string]any{"budget": "5000", "count": float64(3)},
	}
	tests := []struct {
		name   string
		prev   *Lead
		next   Lead
		emits  []string
		want   []Draft
		merged func(Lead) bool
	}{
		{
			name:  "new lead makes only lead.created",
			next:  Lead{Email: "a@b.c", Score: 10},
			emits: []string{LeadCreated, LeadUpdated, LeadScoreChanged, LeadFieldUpdated},
			want:  []Draft{{Event: LeadCreated}},
		},
		{
			name:  "new lead from a form adds form.submitted",
			next:  Lead{Email: "a@b.c"},
			emits: allEvents,
			want:  []Draft{{Event: FormSubmitted}, {Event: LeadCreated}, {Event: ConnectionCreated}},
		},
		{
			name:  "changed score",
			prev:  known,
			next:  Lead{Email: "john@example.com", Score: 50},
			emits: []string{LeadCreated, LeadUpdated, LeadScoreChanged, LeadFieldUpdated},
			want: []Draft{
				{Event: LeadUpdated, Changed: []string{"score"}},
				{Event: LeadScoreChanged, Changed: []string{"score"}},
				{Event: LeadFieldUpdated, Changed: []string{"score"}},
			},
		},
		{
			name:  "score set to zero is a change",
			prev:  known,
			next:  Lead{Email: "john@example.com", Score: 0, HasScore: true},
			emits: []string{LeadCreated, LeadUpdated, LeadScoreChanged, LeadFieldUpdated},
			want: []Draft{
				{Event: LeadUpdated, Changed: []string{"score"}},
				{Event: LeadScoreChanged, Changed: []string{"score"}},
				{Event: LeadFieldUpdated, Changed: []string{"score"}},
			},
			merged: func(m Lead) bool { return m.Score == 0 && !m.HasScore && m.FullName == "John Doe" },
		},
		{
			name:  "score zero again is no change",
			prev:  &Lead{Email: "john@example.com"},
			next:  Lead{Email: "john@example.com", Score: 0, HasScore: true},
			emits: []string{LeadCreated, LeadUpdated, LeadScoreChanged, LeadFieldUpdated},
			want:  nil,
		},
		{
			name:  "changed name recomputes full_name",
			prev:  known,
			next:  Lead{FirstName: "Johnny"},
			emits: []string{LeadUpdated, LeadFieldUpdated, LeadScoreChanged},
			want: []Draft{
				{Event: LeadUpdated, Changed: []string{"first_name", "full_name"}},
				{Event: LeadFieldUpdated, Changed: []string{"first_name", "full_name"}},
			},
			merged: func(m Lead) bool { return m.FullName == "Johnny Doe" && m.LastName == "Doe" },
		},
		{
			name:  "unchanged known lead makes nothing",
			prev:  known,
			next:  Lead{Email: " John@Example.com ", FirstName: "John", Score: 42, Fields: map[string]any{"budget": "5000", "count": int64(3)}},
			emits: []string{LeadCreated, LeadUpdated, LeadScoreChanged, LeadFieldUpdated},
			want:  nil,
		},
		{
			name:  "unchanged known lead still makes form.submitted",
			prev:  known,
			next:  Lead{Email: "john@example.com"},
			emits: allEvents,
			want:  []Draft{{Event: FormSubmitted}, {Event: ConnectionCreated}},
		},
		{
			name:  "empty values never clear",
			prev:  known,
			next:  Lead{Email: "", Score: 0, Fields: map[string]any{"budget": "", "other": nil}},
			emits: allEvents,
			want:  []Draft{{Event: FormSubmitted}, {Event: ConnectionCreated}},
			merged: func(m Lead) bool {
				return m.Email == "john@example.com" && m.Score == 42 && m.Fields["budget"] == "5000" && len(m.Fields) == 2
			},
		},
		{
			name:  "fields merge key by key",
			prev:  known,
			next:  Lead{Fields: map[string]any{"budget": "6000", "ok": false}},
			emits: []string{LeadUpdated},
			want:  []Draft{{Event: LeadUpdated, Changed: []string{"fields.budget", "fields.ok"}}},
			merged: func(m Lead) bool {
				return m.Fields["budget"] == "6000" && m.Fields["ok"] == false && m.Fields["count"] == float64(3)
			},
		},
		{
			name:  "assets replace as a whole",
			prev:  &Lead{Email: "x@y.z", Assets: []Asset{{Type: "Page", OK: true}}},
			next:  Lead{Assets: []Asset{{Type: "Page", OK: false}}},
			emits: []string{LeadUpdated, LeadFieldUpdated},
			want: []Draft{
				{Event: LeadUpdated, Changed: []string{"assets"}},
				{Event: LeadFieldUpdated, Changed: []string{"assets"}},
			},
		},
		{
			name:  "several changes in canonical order",
			prev:  known,
			next:  Lead{Phone: "+1", Score: 1, Status: "won", Fields: map[string]any{"a": "1"}},
			emits: []string{LeadUpdated},
			want:  []Draft{{Event: LeadUpdated, Changed: []string{"phone", "score", "status", "fields.a"}}},
		},
		{
			name:  "nil emits makes nothing",
			next:  Lead{Email: "a@b.c"},
			emits: nil,
			want:  nil,
		},
		{
			name:  "connection source",
			next:  Lead{User: "u1"},
			emits: []string{ConnectionCreated, LeadCreated},
			want:  []Draft{{Event: LeadCreated}, {Event: ConnectionCreated}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			merged, got := Decide(tt.prev, tt.next, tt.emits)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("events = %+v, want %+v", got, tt.want)
			}
			if tt.merged != nil && !tt.merged(merged) {
				t.Fatalf("merged = %+v", merged)
			}
		})
	}
}

func TestDecideDoesNotEditPrev(t *testing.T) {
	prev := &Lead{Email: "a@b.c", Fields: map[string]any{"x": "1"}, Assets: []Asset{{Type: "Page"}}}
	Decide(prev, Lead{Fields: map[string]any{"x": "2", "y": "3"}, Assets: []Asset{{Type: "Ad"}}}, allEvents)
	if prev.Fields["x"] != "1" || len(prev.Fields) != 1 || prev.Assets[0].Type != "Page" {
		t.Fatalf("prev edited: %+v", prev)
	}
}

func TestDecideNewLeadFullName(t *testing.T) {
	tests := []struct {
		name string
		next Lead
		want string
	}{
		{"first and last", Lead{FirstName: "Ann", LastName: "Lee"}, "Ann Lee"},
		{"first only", Lead{FirstName: "Ann"}, "Ann"},
		{"full name kept without parts", Lead{FullName: "Ann Lee"}, "Ann Lee"},
		{"parts win over a stale full name", Lead{FirstName: "Ann", LastName: "Lee", FullName: "X"}, "Ann Lee"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := Decide(nil, tt.next, nil)
			if m.FullName != tt.want {
				t.Fatalf("full_name = %q, want %q", m.FullName, tt.want)
			}
		})
	}
}

func TestDiffNumbersFromJSON(t *testing.T) {
	a := Lead{Fields: map[string]any{"n": int64(9007199254740993), "f": 1.5}}
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var b Lead
	if err := dec.Decode(&b); err != nil {
		t.Fatal(err)
	}
	if got := Diff(a, b); len(got) != 0 {
		t.Fatalf("diff = %v, want none", got)
	}
	b.Fields["n"] = json.Number("9007199254740992")
	if got := Diff(a, b); !reflect.DeepEqual(got, []string{"fields.n"}) {
		t.Fatalf("diff = %v, want [fields.n]", got)
	}
}

func TestIDs(t *testing.T) {
	leadRe := regexp.MustCompile(`^[0-9a-f]{24}$`)
	eventRe := regexp.MustCompile(`^evt_[0-9a-f]{32}$`)
	if id := NewLeadID(); !leadRe.MatchString(id) {
		t.Fatalf("lead id %q", id)
	}
	const n = 2000
	var mu sync.Mutex
	seen := make(map[string]bool, 4*n)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			prev := ""
			for range n {
				id := NewEventID()
				if !eventRe.MatchString(id) {
					t.Errorf("event id %q", id)
					return
				}
				if id <= prev {
					t.Errorf("event id %q not after %q", id, prev)
					return
				}
				prev = id
				mu.Lock()
				if seen[id] {
					t.Errorf("event id %q repeated", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func BenchmarkDecideNewLead(b *testing.B) {
	// What the website mapping makes of scripts/bench.sh's payload.
	next := Lead{Email: "john.1@example.com", FirstName: "John", LastName: "Doe", FullName: "John Doe", Client: "bench",
		Branch: "Main Branch", Fields: map[string]any{"budget": "5000", "source": "website"}}
	emits := []string{FormSubmitted, LeadCreated, LeadUpdated, LeadScoreChanged, LeadFieldUpdated}
	b.ReportAllocs()
	for b.Loop() {
		Decide(nil, next, emits)
	}
}

func TestIsFullNameAgreesWithConcatenation(t *testing.T) {
	names := []string{"", "John", "Doe", " John", "Doe ", "Jo hn", "\u00a0Kim", "Kim\u3000", "John Doe", "John  Doe", " "}
	for _, full := range names {
		for _, first := range names {
			for _, last := range names {
				want := full == strings.TrimSpace(first+" "+last)
				if isFullName(full, first, last) && !want {
					t.Fatalf("isFullName(%q, %q, %q) = true, but the concatenation is %q", full, first, last, strings.TrimSpace(first+" "+last))
				}
				if first != "" && last != "" && strings.TrimSpace(first) == first && strings.TrimSpace(last) == last &&
					isFullName(full, first, last) != want {
					t.Fatalf("isFullName(%q, %q, %q) = %v, want %v", full, first, last, !want, want)
				}
			}
		}
	}
}
