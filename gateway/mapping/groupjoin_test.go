package mapping

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestJoinGroupMatchesTrimJoin: joinGroup gives what the join it replaced
// gave, value = trim(value + join + val), for values with and without the
// join's bytes at either end, empty ones included.
func TestJoinGroupMatchesTrimJoin(t *testing.T) {
	g := &groupSpec{join: ", "}
	for i := 0; i < len(g.join); i++ {
		g.cut[g.join[i]] = true
	}
	pieces := []string{"", " ", ",", ", ", "a", " a", "a ", ",a,", "page one", " , x , ", "true"}
	rng := rand.New(rand.NewPCG(1, 2))
	for run := 0; run < 2000; run++ {
		s := &scratch{}
		s.addGroupSlot()
		want := ""
		for n := rng.IntN(8); n >= 0; n-- {
			val := pieces[rng.IntN(len(pieces))]
			if want == "" {
				want = g.trim(val)
			} else {
				want = g.trim(want + g.join + val)
			}
			s.joinGroup(0, g, val)
		}
		if got := s.groupValue(0); got != want {
			t.Fatalf("run %d: joined %q, want %q", run, got, want)
		}
	}
}

// BenchmarkJoinGroupLong joins 45,000 values into one group field, as a
// 1 MB Leadsie body of one asset type does: linear, where re-joining the
// whole string per value took a second.
func BenchmarkJoinGroupLong(b *testing.B) {
	g := &groupSpec{join: ", "}
	g.cut[','], g.cut[' '] = true, true
	val := strings.Repeat("x", 12)
	for b.Loop() {
		s := &scratch{}
		s.addGroupSlot()
		for range 45000 {
			s.joinGroup(0, g, val)
		}
		if len(s.groupValue(0)) != 45000*12+44999*2 {
			b.Fatal("wrong length")
		}
	}
}
