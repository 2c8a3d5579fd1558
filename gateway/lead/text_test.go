package lead

import (
	"encoding/json"
	"testing"
)

func TestText(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{"abc", "abc"},
		{int64(42), "42"},
		{int64(-9223372036854775808), "-9223372036854775808"},
		{42, "42"},
		{json.Number("12345678901234567890"), "12345678901234567890"},
		{json.Number("5000.50"), "5000.50"},
		{json.Number("1e3"), "1e3"},
		{5000.5, "5000.5"},
		{float64(5000), "5000"},
		{1e21, "1e+21"},
		{true, "true"},
		{false, "false"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%#v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestTextMatchesJSON: a number renders as its JSON text, so a value read
// back from the stored lead (a json.Number) renders as the value written.
func TestTextMatchesJSON(t *testing.T) {
	for _, v := range []any{int64(7), 5000.5, float64(3), 1e21, 1e-7, json.Number("5000.50")} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if Text(v) != string(b) || !sameValue(v, json.Number(b)) {
			t.Errorf("Text(%#v) = %q, JSON %s", v, Text(v), b)
		}
	}
	if sameValue("42", int64(42)) || sameValue(true, "true") {
		t.Error("a string equals a number or bool of the same text")
	}
}

// TestMergeNeverReplacesEmail: a known email stays; an email is added to a
// lead that has none.
func TestMergeNeverReplacesEmail(t *testing.T) {
	merged, drafts := Decide(&Lead{Email: "a@x.com", Phone: "+1555"}, Lead{Email: "b@x.com", Phone: "+1555", FirstName: "B"}, []string{LeadUpdated})
	if merged.Email != "a@x.com" {
		t.Fatalf("email = %q, want the known a@x.com", merged.Email)
	}
	if len(drafts) != 1 || len(drafts[0].Changed) != 2 || drafts[0].Changed[0] != "first_name" {
		t.Fatalf("drafts = %+v, want first_name and full_name changed, not email", drafts)
	}
	merged, _ = Decide(&Lead{Phone: "+1555"}, Lead{Email: " B@x.com "}, nil)
	if merged.Email != "b@x.com" {
		t.Fatalf("email = %q, want b@x.com added", merged.Email)
	}
}
