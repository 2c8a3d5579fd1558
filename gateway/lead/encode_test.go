package lead

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestAppendEventJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 123, time.UTC)
	l := Lead{Email: "a<b>&c@example.com", Fields: map[string]any{"x": "é\u2028"}, Assets: []Asset{{Type: "Page", OK: false}}}
	tests := []struct {
		name string
		ev   Event
	}{
		{"plain", Event{ID: "evt_1", Event: LeadCreated, Source: "website", LeadID: "abc", ReceivedAt: at, Lead: l}},
		{"changed with odd field names", Event{ID: "evt_2", Event: LeadUpdated, Source: "save_lead", LeadID: "abc", ReceivedAt: at,
			Changed: []string{"score", "fields.a<b", "fields.\"q\"\n", "fields.ünï"}, Lead: l}},
		{"empty", Event{}},
	}
	for _, tt := range tests {
		for _, escapeHTML := range []bool{true, false} {
			t.Run(tt.name, func(t *testing.T) {
				encode := func(v any) []byte {
					var buf bytes.Buffer
					enc := json.NewEncoder(&buf)
					enc.SetEscapeHTML(escapeHTML)
					if err := enc.Encode(v); err != nil {
						t.Fatal(err)
					}
					return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
				}
				got, err := AppendEventJSON([]byte("prefix"), &tt.ev, encode(tt.ev.Lead), escapeHTML)
				if err != nil {
					t.Fatal(err)
				}
				if want := append([]byte("prefix"), encode(tt.ev)...); !bytes.Equal(got, want) {
					t.Fatalf("escapeHTML %v:\n got %s\nwant %s", escapeHTML, got, want)
				}
			})
		}
	}
}

func TestNewEvents(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	merged := Lead{Email: "a@example.com", Score: 3}
	n := 0
	ids := func() string { n++; return "evt_" + string(rune('0'+n)) }
	got := NewEvents([]Draft{{Event: LeadUpdated, Changed: []string{"score"}}, {Event: LeadScoreChanged, Changed: []string{"score"}}},
		merged, "save_lead", "L1", 4, at, ids)
	if len(got) != 2 || got[0].ID != "evt_1" || got[1].ID != "evt_2" {
		t.Fatalf("events = %+v, want two with ids evt_1, evt_2", got)
	}
	for i, ev := range got {
		if ev.Source != "save_lead" || ev.LeadID != "L1" || ev.LeadVersion != 4 || !ev.ReceivedAt.Equal(at) || ev.Lead.Email != merged.Email || len(ev.Changed) != 1 {
			t.Errorf("event %d = %+v", i, ev)
		}
	}
}
