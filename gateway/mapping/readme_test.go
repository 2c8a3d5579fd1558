package mapping

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeExamples compiles every YAML example of the README's mapping
// language section, and checks that the section still has an example of
// each feature: documentation that does not compile misleads.
func TestReadmeExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(readme)
	start := strings.Index(doc, "\n## Mapping language\n")
	if start < 0 {
		t.Fatal("README.md has no \"## Mapping language\" section")
	}
	section := doc[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	blocks := regexp.MustCompile("(?s)\n```yaml\n(.*?)\n```").FindAllStringSubmatch(section, -1)
	if len(blocks) < 10 {
		t.Fatalf("found %d YAML examples in the mapping language section, want at least 10", len(blocks))
	}
	// Every ${VAR} an example needs is set, to a value that is a valid
	// token, HMAC secret and whsec_ key at once.
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`).FindAllStringSubmatch(section, -1) {
		t.Setenv(m[1], "whsec_c2VjcmV0")
	}
	var all strings.Builder
	for i, b := range blocks {
		src := b[1]
		all.WriteString(src + "\n")
		if _, err := Compile("example", fmt.Sprintf("README.md example %d", i+1), []byte(src)); err != nil {
			t.Errorf("example %d does not compile:\n%s\n%v", i+1, src, err)
		}
	}
	for _, feature := range []string{
		"transform: [", "header:", "query:", "from: query", "email: [", "type: bool", "type: int", "type: float",
		"default:", "required:", "name: name", "given_name", "e164", "each:", "group_by:", "identity:", "pairs:", "rest:",
		"type: token", "prefix:", "type: hmac", "encoding:", "timestamp_header:", "tolerance:", "type: standard_webhooks",
	} {
		if !strings.Contains(all.String(), feature) {
			t.Errorf("no YAML example of the mapping language section shows %q", feature)
		}
	}
}
