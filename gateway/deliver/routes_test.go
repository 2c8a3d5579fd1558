package deliver

import (
	"testing"

	"leadgate/gateway/lead"
)

func TestDestinationsRoute(t *testing.T) {
	ds := Destinations{
		{Name: "crm", URL: "http://127.0.0.1:9/", Enabled: true, Events: []string{lead.LeadCreated}},
		{Name: "off", URL: "http://127.0.0.1:9/", Enabled: false},
	}
	created := &lead.Event{Event: lead.LeadCreated}
	updated := &lead.Event{Event: lead.LeadUpdated}
	for _, tt := range []struct {
		name                  string
		dest                  string
		ev                    *lead.Event
		found, enabled, takes bool
	}{
		{"takes", "crm", created, true, true, true},
		{"not that event", "crm", updated, true, true, false},
		{"no event asked", "crm", nil, true, true, false},
		{"disabled", "off", created, true, false, false},
		{"unknown", "nope", created, false, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			found, enabled, takes := ds.Route(tt.dest, tt.ev)
			if found != tt.found || enabled != tt.enabled || takes != tt.takes {
				t.Fatalf("Route = %v %v %v, want %v %v %v", found, enabled, takes, tt.found, tt.enabled, tt.takes)
			}
		})
	}
}
