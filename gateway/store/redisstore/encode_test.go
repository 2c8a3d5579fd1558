package redisstore

import (
	"encoding/json"
	"testing"
	"time"

	"leadgate/gateway/lead"
)

// TestEncodeEvent: the stored event, and its head followed by its lead and
// "}", are byte for byte what json.Marshal makes of lead.Event.
func TestEncodeEvent(t *testing.T) {
	l := lead.Lead{Email: "a@b.c", FirstName: "A", Score: 3, Assets: []lead.Asset{{Type: "Page", OK: false}},
		Fields: map[string]any{"budget": "5", "n": int64(2)}}
	at := time.Date(2026, 11, 22, 10, 0, 0, 123e6, time.UTC)
	tests := []struct {
		name string
		ev   lead.Event
	}{
		{"created", lead.Event{ID: "evt_1", Event: lead.LeadCreated, Source: "website", LeadID: "x", ReceivedAt: at, Lead: l}},
		{"updated", lead.Event{ID: "evt_2", Event: lead.LeadUpdated, Source: "save_lead", LeadID: "y", ReceivedAt: at.In(time.FixedZone("X", 3600)), Changed: []string{"score"}, Lead: l}},
		{"empty lead", lead.Event{ID: "evt_3", Event: lead.FormSubmitted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(tt.ev)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			leadJSON, err := json.Marshal(tt.ev.Lead)
			if err != nil {
				t.Fatalf("marshal lead: %v", err)
			}
			got, err := encodeEvent(&tt.ev, leadJSON)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if string(got) != string(want) {
				t.Fatalf("encoded %s\nwant %s", got, want)
			}
			// What the scripts read back (eventBody) is the same event.
			frag, mid, err := eventParts(&tt.ev)
			if err != nil || frag == nil {
				t.Fatalf("parts: %q, %v", frag, err)
			}
			joined := `{"id":"` + tt.ev.ID + `",` + string(frag) + string(mid) + `,"lead":` + string(leadJSON) + "}"
			var back lead.Event
			if err := decodeJSON(joined, &back); err != nil {
				t.Fatalf("decode %s: %v", joined, err)
			}
			if again, _ := json.Marshal(back); string(again) != string(want) {
				t.Fatalf("joined %s\nreads as %s\nwant %s", joined, again, want)
			}
		})
	}
}
