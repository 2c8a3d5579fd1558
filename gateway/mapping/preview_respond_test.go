package mapping_test

import (
	"strings"
	"testing"

	"leadgate/gateway/deliver"
	"leadgate/gateway/mapping"
)

func TestPreviewSaysWhoAnswers(t *testing.T) {
	const pasted = "events: [form.submitted, lead.created]\nfields: {email: email}\nrespond: {destination: ledsak, timeout: 3s}\n"
	dest := func(name string, enabled bool, events ...string) deliver.Destination {
		return deliver.Destination{Name: name, URL: "http://127.0.0.1:9/", Enabled: enabled, Events: events}
	}
	tests := []struct {
		name      string
		dests     []deliver.Destination
		wantEvent string
		wantSays  string
	}{
		{"the first event it takes", []deliver.Destination{dest("crm", true), dest("ledsak", true)}, "form.submitted", "ledsak answers: the form.submitted event"},
		{"a later event", []deliver.Destination{dest("ledsak", true, "lead.created")}, "lead.created", "After 3s"},
		{"none of them", []deliver.Destination{dest("ledsak", true, "lead.updated")}, "", "ledsak takes none of these events: Leadgate answers itself"},
		{"not configured", []deliver.Destination{dest("crm", true)}, "", "ledsak is not a configured destination"},
		{"disabled", []deliver.Destination{dest("ledsak", false)}, "", "ledsak is disabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := mapping.Preview(nil, "form", pasted, "", nil, []byte(`{"email": "a@example.com"}`))
			if err != nil {
				t.Fatalf("preview: %v", err)
			}
			if res.Respond == nil || res.Respond.Destination != "ledsak" || res.Respond.Timeout != "3s" {
				t.Fatalf("respond = %+v, want ledsak within 3s", res.Respond)
			}
			res.Answering(deliver.Destinations(tt.dests))
			if res.Respond.Event != tt.wantEvent || !strings.Contains(res.Respond.Says, tt.wantSays) {
				t.Fatalf("respond = %+v, want event %q saying %q", res.Respond, tt.wantEvent, tt.wantSays)
			}
		})
	}

	res, err := mapping.Preview(nil, "form", "fields: {email: email}\n", "", nil, []byte(`{"email": "a@example.com"}`))
	if err != nil || res.Respond != nil {
		t.Fatalf("a mapping without respond: respond = %+v, %v; want none", res.Respond, err)
	}
}
