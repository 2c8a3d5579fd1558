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

// A landing page matches on scheme, host and path: a Referer carrying
// utm_… tags or a fragment is the same page.
func TestLandingPageIgnoresQueryAndFragment(t *testing.T) {
	for _, tc := range []struct {
		page, listed string
		want         bool
	}{
		{"https://example.com/offer?utm_source=google&utm_medium=cpc", "https://example.com/offer", true},
		{"https://example.com/offer/#form", "https://example.com/offer", true},
		{"HTTPS://EXAMPLE.com/offer/?x=1", "https://example.com/offer/", true},
		{"https://example.com/offer", "https://example.com/offer?utm_campaign=a", true},
		{"https://example.com/Offer", "https://example.com/offer", false},
		{"https://example.com/offer/more?utm_source=x", "https://example.com/offer", false},
		{"http://example.com/offer", "https://example.com/offer", false},
		{"https://other.example.com/offer?utm_source=x", "https://example.com/offer", false},
		{"example.com/offer?utm_source=x", "example.com/offer", true},
	} {
		t.Run(tc.page, func(t *testing.T) {
			d := Destination{Enabled: true, LandingPages: []string{tc.listed}}
			ev := &lead.Event{Event: lead.FormSubmitted, Source: "website", Lead: lead.Lead{LandingPage: tc.page}}
			if got := Matches(&d, ev); got != tc.want {
				t.Fatalf("page %q against %q: Matches = %v, want %v", tc.page, tc.listed, got, tc.want)
			}
		})
	}
}
