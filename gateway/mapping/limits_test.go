package mapping

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// TestMapSizeLimits: a value no store can keep (bbolt takes identity keys
// of at most 4096 bytes) is a 422 naming the field, never a failed write.
func TestMapSizeLimits(t *testing.T) {
	set := loadShipped(t)
	long := func(n int) string { return strings.Repeat("a", n) }
	email := func(local int) string { return long(local) + "@example.com" }
	tests := []struct {
		name, source, query, body string
		want                      []FieldError // nil: maps
	}{
		{"email at the limit", "save_lead", "", `{"data": {"email": "` + email(MaxEmail-len("@example.com")) + `"}}`, nil},
		{"email over the limit", "save_lead", "", `{"data": {"email": "` + email(5006-len("@example.com")) + `"}}`,
			[]FieldError{{"email", "is longer than 320 characters"}}},
		{"email of multi-byte characters at the limit", "save_lead", "", `{"data": {"email": "` + strings.Repeat("é", MaxEmail-len("@example.com")) + `@example.com"}}`, nil},
		{"phone over the limit", "save_lead", "", `{"data": {"email": "a@example.com", "phone": "` + strings.Repeat("1", 40) + `"}}`,
			[]FieldError{{"phone", "is longer than 32 characters"}}},
		{"website form phone over the limit", "website", "", `{"name": "A B", "phone": "` + strings.Repeat("5", 33) + `"}`,
			[]FieldError{{"phone", "is longer than 32 characters"}}},
		{"key at the limit", "leadsie", "customUserId=" + long(MaxKey), `{"status": "SUCCESS"}`, nil},
		{"key over the limit", "leadsie", "customUserId=" + long(MaxKey+1), `{"status": "SUCCESS"}`,
			[]FieldError{{"user", "is longer than 256 characters, too long to identify the lead"}}},
		{"key from the second identity target", "leadsie", "", `{"requestName": "` + long(5000) + `"}`,
			[]FieldError{{"fields.requestName", "is longer than 256 characters, too long to identify the lead"}}},
		{"notes over the limit", "save_lead", "", `{"data": {"email": "a@example.com", "notes": "` + long(MaxValue+1) + `"}}`,
			[]FieldError{{"notes", "is longer than 65536 bytes"}}},
		{"notes at the limit", "save_lead", "", `{"data": {"email": "a@example.com", "notes": "` + long(MaxValue) + `"}}`, nil},
		{"extra field over the limit", "save_lead", "", `{"data": {"email": "a@example.com", "budget": "` + long(MaxValue+1) + `"}}`,
			[]FieldError{{"fields.budget", "is longer than 65536 bytes"}}},
		{"extra field name over the limit", "save_lead", "", `{"data": {"email": "a@example.com", "` + long(MaxKey+1) + `": "x"}}`,
			[]FieldError{{"fields." + long(32) + "…", "name is longer than 256 characters"}}},
		{"asset over the limit", "leadsie", "customUserId=u1", `{"connectionAssets": [{"type": "Page", "name": "` + long(MaxValue+1) + `", "isSuccess": true}]}`,
			[]FieldError{{"assets[0].name", "is longer than 65536 bytes"}, {"fields.page_name", "is longer than 65536 bytes"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := set.Get(tt.source)
			q, _ := url.ParseQuery(tt.query)
			_, err := m.Map(Input{Body: []byte(tt.body), Query: q.Get})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Map: %v, want a lead", err)
				}
				return
			}
			var fe *FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *FieldErrors", err)
			}
			got, _ := json.Marshal(fe.Errors)
			want, _ := json.Marshal(tt.want)
			if string(got) != string(want) {
				t.Fatalf("errors:\n got %s\nwant %s", got, want)
			}
		})
	}
}
