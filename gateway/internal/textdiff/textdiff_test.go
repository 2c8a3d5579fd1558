package textdiff

import (
	"strconv"
	"strings"
	"testing"
)

func TestLines(t *testing.T) {
	long := func(n int, change map[int]string) string {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			if c, ok := change[i]; ok {
				if c != "" {
					b.WriteString(c + "\n")
				}
				continue
			}
			b.WriteString("l" + strconv.Itoa(i) + "\n")
		}
		return b.String()
	}
	tests := []struct {
		name, a, b, want string
	}{
		{"equal", "x\ny\n", "x\ny\n", ""},
		{"one line changed", "a\nb\nc\n", "a\nB\nc\n", "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"},
		{"added at the end", "a\n", "a\nb\n", "@@ -1,1 +1,2 @@\n a\n+b\n"},
		{"from nothing", "", "a\n", "@@ -1,0 +1,1 @@\n+a\n"},
		{
			"two hunks far apart keep three lines of context",
			long(20, nil), long(20, map[int]string{2: "X", 18: ""}),
			"@@ -1,5 +1,5 @@\n l1\n-l2\n+X\n l3\n l4\n l5\n@@ -15,6 +15,5 @@\n l15\n l16\n l17\n-l18\n l19\n l20\n",
		},
		{
			"close changes share a hunk",
			long(10, nil), long(10, map[int]string{3: "X", 7: "Y"}),
			"@@ -1,10 +1,10 @@\n l1\n l2\n-l3\n+X\n l4\n l5\n l6\n-l7\n+Y\n l8\n l9\n l10\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Lines([]byte(tt.a), []byte(tt.b)); got != tt.want {
				t.Errorf("Lines =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
