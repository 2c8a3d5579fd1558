package deliver

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"leadgate/gateway/lead"
)

func TestCanonicalMatchesEncoder(t *testing.T) {
	odd := sampleEvent()
	odd.ID, odd.Event, odd.Source = "evt_\"x\"", "lead.<b>", "só\u2028\u2029\x7f"
	odd.Changed = []string{"a\\b", "tab\there", "ctl\b\f\r\x01\x1f end"}
	odd.ReceivedAt = time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("X", -5*3600))
	odd.Lead.Notes = "bad utf-8 \xff\xfe end"
	odd.Lead.Fields = map[string]any{
		"num": json.Number("1e3"), "f": 1e21, "small": 1e-7, "tiny": -1.5e-300, "zero": 0.0, "big": 123456789.125, "neg": -0.25, "i": 7, "nil": nil,
		"nested": map[string]any{"z": 1, "a": []any{"x", 2.5}}, "k<&>": "v<&>", "": "empty key",
	}
	odd.Lead.Assets = []lead.Asset{{OK: true}, {Type: "Ad Account", Message: "m\n", Time: "2026", OK: false}}
	tests := []struct {
		name string
		ev   *lead.Event
	}{
		{"sample", sampleEvent()},
		{"odd values", odd},
		{"empty lead", &lead.Event{ID: "evt_2", Event: lead.LeadCreated, Source: "website", LeadID: "l"}},
		{"every field", &lead.Event{ID: "evt_3", Event: lead.LeadCreated, Source: "s", LeadID: "l", Lead: lead.Lead{
			Email: "e", Phone: "p", FirstName: "f", LastName: "l", FullName: "fl", Company: "c", Website: "w",
			Position: "po", Twitter: "t", LinkedIn: "li", Notes: "n", Score: -3, Client: "cl", Branch: "b",
			LandingPage: "lp", User: "u", Status: "st", Fields: map[string]any{},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appendCanonical(nil, tt.ev)
			if err != nil {
				t.Fatalf("appendCanonical: %v", err)
			}
			want, err := marshalJSON(tt.ev)
			if err != nil {
				t.Fatalf("marshalJSON: %v", err)
			}
			if string(got) != string(want) {
				t.Fatalf("canonical\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func TestQueryEscapeMatchesURL(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, s := range []string{"", "plain", "a b&c=d[e]", "só ✓ \u2028", string(all)} {
		if got, want := string(appendQueryEscape(nil, s)), url.QueryEscape(s); got != want {
			t.Fatalf("appendQueryEscape(%q) = %q, want %q", s, got, want)
		}
	}
}
