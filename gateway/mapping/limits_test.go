package mapping

import (
	"net/url"
	"strings"
	"testing"
)

// TestLongValuesKeepTheLead: no lead is refused for the size of a value (a
// form or Leadsie does not retry a 422, so it would be lost). Every value is
// kept as it came; an identity value longer than MaxIdentity is hashed into
// its key, the same hash every time, so it still names one lead.
func TestLongValuesKeepTheLead(t *testing.T) {
	set := loadShipped(t)
	long := func(n int) string { return strings.Repeat("a", n) }
	longEmail := long(5000) + "@example.com"
	tests := []struct {
		name, source, query, body string
		identity                  []string
	}{
		{"email at the limit", "save_lead", "", `{"data": {"email": "` + long(MaxIdentity-len("@example.com")) + `@example.com"}}`,
			[]string{"email:" + long(MaxIdentity-len("@example.com")) + "@example.com"}},
		{"email over the limit", "save_lead", "", `{"data": {"email": "` + longEmail + `"}}`,
			[]string{"email:" + identityValue(longEmail)}},
		{"free-text phone", "website", "", `{"name": "Jane Roe", "email": "jane@example.com", "phone": "+44 (0) 20 7946 0958 ext. 1234 (office)"}`,
			[]string{"email:jane@example.com", "phone:+44 (0) 20 7946 0958 ext. 1234 (office)"}},
		{"long Leadsie user", "leadsie", "customUserId=" + long(MaxIdentity+1), `{"status": "SUCCESS"}`,
			[]string{"key:leadsie:" + identityValue(long(MaxIdentity+1))}},
		{"long notes, field and field name", "save_lead", "", `{"data": {"email": "a@example.com", "notes": "` + long(100<<10) +
			`", "budget": "` + long(100<<10) + `", "` + long(300) + `": "x"}}`, []string{"email:a@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := set.Get(tt.source)
			q, _ := url.ParseQuery(tt.query)
			res, err := m.Map(Input{Body: []byte(tt.body), Query: q.Get})
			if err != nil {
				t.Fatalf("Map: %v, want the lead", err)
			}
			if strings.Join(res.Identity, "\n") != strings.Join(tt.identity, "\n") {
				t.Fatalf("identity = %.120q, want %.120q", res.Identity, tt.identity)
			}
			for _, k := range res.Identity {
				if len(k) > len("key:leadsie:")+MaxIdentity {
					t.Fatalf("identity key of %d bytes", len(k))
				}
			}
		})
	}
	// The long values themselves are kept.
	m, _ := set.Get("save_lead")
	res, err := m.Map(Input{Body: []byte(`{"data": {"email": "` + longEmail + `", "notes": "` + long(100<<10) + `"}}`)})
	if err != nil || res.Lead.Email != longEmail || len(res.Lead.Notes) != 100<<10 {
		t.Fatalf("long values not kept: email %d bytes, notes %d bytes, %v", len(res.Lead.Email), len(res.Lead.Notes), err)
	}
	if identityValue(longEmail) != identityValue(longEmail) || identityValue(longEmail) == identityValue(longEmail+"x") {
		t.Fatal("identityValue is not a stable, distinguishing hash")
	}
}
