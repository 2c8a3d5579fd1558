package mapping

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"leadgate/gateway/lead"
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

// TestNumbersKeepTheirText: a JSON number kept with its JSON type reaches
// the lead as it was written (contract §5: numbers as they were), not as a
// float64 that turns 5000.50 into 5000.5, 1e3 into 1000 and loses digits of
// a 20-digit id; an int64 stays an int64.
func TestNumbersKeepTheirText(t *testing.T) {
	m, _ := loadShipped(t).Get("save_lead")
	res, err := m.Map(Input{Body: []byte(`{"data": {"email": "n@example.com", "budget": 5000.50, "exp": 1e3, "id": 12345678901234567890, "n": 42}}`)})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"budget": json.Number("5000.50"), "exp": json.Number("1e3"), "id": json.Number("12345678901234567890"), "n": int64(42)} {
		if got := res.Lead.Fields[k]; got != want {
			t.Errorf("fields.%s = %#v, want %#v", k, got, want)
		}
	}
	b, err := lead.AppendLeadJSON(nil, &res.Lead, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"budget":5000.50`, `"exp":1e3`, `"id":12345678901234567890`, `"n":42`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("lead JSON %s lacks %s", b, want)
		}
	}
}

// TestRestCopiesAtMostMaxFields: rest copies at most lead.MaxFields keys of
// one payload, in the payload's order, and counts the others, so a payload
// of invented keys maps to a bounded lead rather than a refused one.
func TestRestCopiesAtMostMaxFields(t *testing.T) {
	set := loadShipped(t)
	m, _ := set.Get("website")
	var b strings.Builder
	b.WriteString(`{"email":"rest@example.com"`)
	for i := 0; i < lead.MaxFields+100; i++ {
		fmt.Fprintf(&b, `,"k%03d":"v"`, i)
	}
	b.WriteString("}")
	res, err := m.Map(Input{Body: []byte(b.String())})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Lead.Fields); n != lead.MaxFields {
		t.Fatalf("fields = %d keys, want %d", n, lead.MaxFields)
	}
	if _, ok := res.Lead.Fields["k199"]; !ok {
		t.Fatal("k199 left out; want the payload's first keys kept")
	}
	if res.FieldsDropped != 100 {
		t.Fatalf("FieldsDropped = %d, want 100", res.FieldsDropped)
	}
}
