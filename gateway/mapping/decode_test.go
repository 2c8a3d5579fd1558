package mapping

import (
	"strings"
	"testing"
)

// TestDecodeShape: what has the wrong shape is reported with its line by
// the decoder, before anything is compiled; YAML merge keys work in a
// mapping file as they do in gateway.yaml.
func TestDecodeShape(t *testing.T) {
	for _, tt := range []struct {
		name, src, want string
	}{
		{"merge key", "fields:\n  <<: {email: email}\n  phone: phone\n", ""},
		{"repeated top key", "fields: {email: email}\nfields: {phone: phone}\n", "m.yaml:2: key \"fields\" is repeated"},
		{"bad merge", "fields:\n  <<: 5\n  email: email\n", "m.yaml:2: << must merge a mapping or a list of mappings"},
		{"merge into itself", "fields: &a\n  email: email\n  <<: *a\n", "m.yaml:3: << merges a mapping into itself"},
		{"second document", "fields: {email: email}\n---\nfields: {phone: phone}\n", "m.yaml:2: only one YAML document is allowed"},
		{"repeated target", "fields:\n  email: a\n  email: b\n", "m.yaml:3: duplicate target \"email\""},
		{"from not a value", "fields:\n  email: {path: email, from: [body]}\n", "m.yaml:2: from must be a single value"},
		{"paths not values", "fields:\n  email: [a, [b]]\n", "m.yaml:2: email: each entry must be a single value"},
		{"not YAML", "fields: [\n", "m.yaml:1: yaml: line 1:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile("m", "m.yaml", []byte(tt.src))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Compile: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestCompileErrorsInFileOrder: problems come out in the order of their
// lines, though the decoder finds those of shape (line 3 here) before the
// compiler finds those of meaning (line 1).
func TestCompileErrorsInFileOrder(t *testing.T) {
	_, err := Compile("m", "m.yaml", []byte("events: [lead.bogus]\nfields: {email: email}\nrate_limit_key: [a, b]\n"))
	if err == nil {
		t.Fatal("compiled a mapping with two problems")
	}
	lines := strings.Split(err.Error(), "\n")
	if !strings.HasPrefix(lines[0], "m.yaml:1: ") || !strings.HasPrefix(lines[len(lines)-1], "m.yaml:3: ") {
		t.Fatalf("problems out of file order:\n%v", err)
	}
}
