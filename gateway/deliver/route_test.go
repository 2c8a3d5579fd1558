package deliver

import (
	"slices"
	"testing"

	"leadgate/gateway/lead"
)

func TestMatches(t *testing.T) {
	leadsie := &lead.Event{ID: "evt_2", Event: lead.ConnectionCreated, Source: "leadsie",
		Lead: lead.Lead{Status: "SUCCESS", Assets: []lead.Asset{{Type: "Ad Account", OK: true}, {Type: "Page"}}}}
	form := &lead.Event{ID: "evt_3", Event: lead.FormSubmitted, Source: "website",
		Lead: lead.Lead{LandingPage: "HTTPS://Example.com/offer/"}}
	for _, tc := range []struct {
		name string
		d    Destination
		ev   *lead.Event
		want bool
	}{
		{"all", Destination{Enabled: true}, leadsie, true},
		{"disabled", Destination{}, leadsie, false},
		{"event listed", Destination{Enabled: true, Events: []string{lead.ConnectionCreated}}, leadsie, true},
		{"event not listed", Destination{Enabled: true, Events: []string{lead.LeadCreated}}, leadsie, false},
		{"source not listed", Destination{Enabled: true, Sources: []string{"website"}}, leadsie, false},
		{"status filter", Destination{Enabled: true, Filters: []FieldFilter{{Path: "lead.status", Equals: []string{"SUCCESS"}}}}, leadsie, true},
		{"status filter fails", Destination{Enabled: true, Filters: []FieldFilter{{Path: "lead.status", Equals: []string{"FAILED"}}}}, leadsie, false},
		{"array filter", Destination{Enabled: true, Filters: []FieldFilter{{Path: "lead.assets.#.type", Equals: []string{"Page"}}}}, leadsie, true},
		{"all filters must match", Destination{Enabled: true, Filters: []FieldFilter{
			{Path: "lead.status", Equals: []string{"SUCCESS"}}, {Path: "source", Equals: []string{"website"}}}}, leadsie, false},
		{"landing page", Destination{Enabled: true, LandingPages: []string{"https://example.com/offer"}}, form, true},
		{"other landing page", Destination{Enabled: true, LandingPages: []string{"https://example.com/other"}}, form, false},
		{"landing pages only gate forms", Destination{Enabled: true, LandingPages: []string{"https://example.com/other"}}, leadsie, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Matches(&tc.d, tc.ev); got != tc.want {
				t.Fatalf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRoute(t *testing.T) {
	ds := []Destination{
		{Name: "a", Enabled: true},
		{Name: "b", Enabled: true, Filters: []FieldFilter{{Path: "lead.status", Equals: []string{"SUCCESS"}}}},
		{Name: "c", Enabled: true, Sources: []string{"website"}},
		{Name: "d", Enabled: false},
	}
	ev := &lead.Event{Event: lead.ConnectionCreated, Source: "leadsie", Lead: lead.Lead{Status: "SUCCESS"}}
	if got, want := Route(ds, ev), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Fatalf("Route = %v, want %v", got, want)
	}
}
