package mapping

import (
	"strings"
	"testing"
)

// TestNumberIdentity: an identity that is a JSON number beyond int64, a
// decimal, an int, a float or a bool identifies as its text (lead.Text)
// instead of answering "nothing identifies the lead".
func TestNumberIdentity(t *testing.T) {
	m := mustCompile(t, `
events: [lead.created]
identity: [fields.id]
fields:
  fields.id: id
  fields.f: {path: f, type: float}
rest: []
`)
	mf := mustCompile(t, `
events: [lead.created]
identity: [fields.f]
fields:
  fields.f: {path: f, type: float}
`)
	tests := []struct {
		name string
		m    *Mapping
		body string
		want string
	}{
		{"beyond int64", m, `{"id": 12345678901234567890}`, "key:test:12345678901234567890"},
		{"decimal", m, `{"id": 5000.50}`, "key:test:5000.50"},
		{"int", m, `{"id": 42}`, "key:test:42"},
		{"bool", m, `{"id": true}`, "key:test:true"},
		{"string", m, `{"id": "abc"}`, "key:test:abc"},
		{"float type", mf, `{"f": 5000.50}`, "key:test:5000.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.m.Map(Input{Body: []byte(tt.body)})
			if err != nil {
				t.Fatalf("map: %v", err)
			}
			if got := strings.Join(res.Identity, " "); got != tt.want {
				t.Fatalf("identity = %s, want %s", got, tt.want)
			}
		})
	}
}
