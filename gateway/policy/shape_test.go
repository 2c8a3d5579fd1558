package policy

import (
	"slices"
	"strings"
	"testing"
)

func TestShapeValidate(t *testing.T) {
	tests := []struct {
		name  string
		shape Shape
		want  []string
	}{
		{"json canonical", Shape{"POST", ContentJSON, FormatCanonical}, nil},
		{"form template", Shape{"PATCH", ContentForm, FormatTemplatePrefix + "x.tmpl"}, nil},
		{"text slack", Shape{"PUT", ContentText, FormatSlack}, nil},
		{"method", Shape{"GET", ContentJSON, FormatLedsak}, []string{`method: must be POST, PUT or PATCH, got "GET"`}},
		{"lower-case method", Shape{"post", ContentJSON, FormatSaveLead}, []string{`method: must be POST, PUT or PATCH, got "post"`}},
		{"content type", Shape{"POST", "application/xml", FormatCanonical},
			[]string{`content_type: must be application/json, application/x-www-form-urlencoded or text/plain, got "application/xml"`}},
		{"format", Shape{"POST", ContentJSON, "xml"},
			[]string{`format: must be canonical, ledsak, save_lead, slack or template:FILE, got "xml"`}},
		{"every problem at once", Shape{}, []string{
			`method: must be POST, PUT or PATCH, got ""`,
			`content_type: must be application/json, application/x-www-form-urlencoded or text/plain, got ""`,
			`format: must be canonical, ledsak, save_lead, slack or template:FILE, got ""`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			if err := tt.shape.Validate(); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Validate() =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestHeaderChecks(t *testing.T) {
	if err := HeaderCount(MaxHeaders); err != nil {
		t.Fatalf("HeaderCount(%d) = %v", MaxHeaders, err)
	}
	if err := HeaderCount(MaxHeaders + 1); err == nil || err.Error() != "headers: at most 10 headers, got 11" {
		t.Fatalf("HeaderCount(%d) = %v", MaxHeaders+1, err)
	}
	for v, want := range map[string]bool{"Bearer abc": true, "a\tb": true, "": true, "a\rb": false, "a\nb": false, "a\x00b": false, "a\x01b": false, "a\x1fb": false, "a\x7fb": false, "café": true} {
		t.Run(v, func(t *testing.T) {
			if got := HeaderValue(v); got != want {
				t.Fatalf("HeaderValue(%q) = %v, want %v", v, got, want)
			}
		})
	}
}

func TestSecretProblem(t *testing.T) {
	tests := []struct{ secret, want string }{
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ""},
		{"whsec_c2VjcmV0", ""}, // short keys are config's to refuse
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with whsec_ (value not shown)"},
		{"whsec_ ", "has no key after whsec_ (write ${VAR:-} for an optional secret, or leave secret out)"},
		{"whsec_!!!", "must be whsec_ followed by base64; the rest is not valid base64 (value not shown)"},
	}
	for _, tt := range tests {
		t.Run(tt.secret, func(t *testing.T) {
			if got := SecretProblem(tt.secret); got != tt.want {
				t.Fatalf("SecretProblem(%q) = %q, want %q", tt.secret, got, tt.want)
			}
		})
	}
}
