package yamlpos

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		root      bool
		more      bool
		moreLine  int
		errLine   int
		errMsg    string
	}{
		{name: "empty", src: ""},
		{name: "one document", src: "a: 1\n", root: true},
		{name: "two documents", src: "a: 1\n---\nb: 2\n", root: true, more: true, moreLine: 2},
		{name: "syntax error", src: "a: 1\nb: [\n", errLine: 2, errMsg: "did not find expected node content"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse([]byte(tt.src))
			if tt.errMsg != "" {
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("err = %v, want a *SyntaxError", err)
				}
				if se.Line != tt.errLine || !strings.Contains(se.Msg, tt.errMsg) || strings.HasPrefix(se.Msg, "yaml:") {
					t.Fatalf("SyntaxError = line %d %q, want line %d %q", se.Line, se.Msg, tt.errLine, tt.errMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if (doc.Root != nil) != tt.root || doc.More != tt.more || doc.MoreLine != tt.moreLine {
				t.Fatalf("Parse = root %v more %v line %d, want %v %v %d", doc.Root != nil, doc.More, doc.MoreLine, tt.root, tt.more, tt.moreLine)
			}
		})
	}
}

func TestPairs(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		keys      string // key=line, in order
		issues    string // issue@line
	}{
		{name: "plain", src: "a: 1\nb: 2\n", keys: "a=1 b=2"},
		{name: "repeated", src: "a: 1\na: 2\n", keys: "a=1", issues: "2@2"},
		{name: "not a string", src: "[x]: 1\nb: 2\n", keys: "b=2", issues: "1@1"},
		{name: "merge", src: "base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n", keys: "y=4 x=1"},
		{name: "bad merge", src: "c:\n  <<: 5\n  y: 3\n", keys: "y=3", issues: "3@2"},
		{name: "merge into itself", src: "c: &a\n  x: 1\n  <<: *a\n", keys: "x=2", issues: "4@3"},
		{name: "merged twice", src: "base: &b {x: 1}\nc:\n  <<: [*b, *b]\n  y: 3\n", keys: "y=4 x=1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse([]byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			n := doc.Root
			if last := n.Content[len(n.Content)-1]; last.Kind == yaml.MappingNode {
				n = last
			}
			var issues []string
			pairs := Pairs(n, func(n *yaml.Node, is Issue) { issues = append(issues, fmt.Sprintf("%d@%d", is, n.Line)) })
			var keys []string
			for _, p := range pairs {
				keys = append(keys, fmt.Sprintf("%s=%d", p.Key.Value, p.Key.Line))
			}
			if got := strings.Join(keys, " "); got != tt.keys {
				t.Errorf("keys = %q, want %q", got, tt.keys)
			}
			if got := strings.Join(issues, " "); got != tt.issues {
				t.Errorf("issues = %q, want %q", got, tt.issues)
			}
		})
	}
}

func TestNearest(t *testing.T) {
	known := []string{"listen", "log_level", "storage", "redis"}
	for _, tt := range []struct{ key, want string }{
		{"listn", "listen"},
		{"redsi", "redis"},
		{"completely_else", ""},
		{"log_levle", "log_level"},
	} {
		t.Run(tt.key, func(t *testing.T) {
			if got := Nearest(tt.key, known); got != tt.want {
				t.Fatalf("Nearest(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

// TestPairsMergeFanOut: each level merges the one before it twice, so a
// reader that expands every merge again does 2^40 expansions; one that
// reads a mapping once per Pairs call answers at once.
func TestPairsMergeFanOut(t *testing.T) {
	var b strings.Builder
	b.WriteString("l0: &l0 {x: 1}\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "l%d: &l%d\n  <<: [*l%d, *l%d]\n  k%d: %d\n", i, i, i-1, i-1, i, i)
	}
	doc, err := Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	last := doc.Root.Content[len(doc.Root.Content)-1]
	pairs := Pairs(last, func(n *yaml.Node, is Issue) { t.Errorf("issue %d at line %d", is, n.Line) })
	if len(pairs) != 41 {
		t.Fatalf("%d keys, want 41 (k1..k40 and x)", len(pairs))
	}
}
