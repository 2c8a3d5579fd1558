// Package textdiff writes a line diff of two texts for people: the lines
// only in the first prefixed "-", those only in the second "+", with a few
// unchanged lines around each change. It is for small texts (golden files):
// the longest common subsequence is computed in len(a)×len(b) time.
package textdiff

import (
	"bytes"
	"fmt"
	"strings"
)

// context is how many unchanged lines are shown around a change.
const context = 3

// maxCells bounds the LCS table; bigger inputs are shown whole, each side
// prefixed, rather than compared line by line.
const maxCells = 16 << 20

type op struct {
	kind byte // ' ', '-' or '+'
	line string
}

// Lines diffs a (the old, expected text) against b (the new one). Equal
// texts give "". Hunks are headed "@@ -a,n +b,m @@" like a unified diff.
func Lines(a, b []byte) string {
	if bytes.Equal(a, b) {
		return ""
	}
	al, bl := split(a), split(b)
	ops := diff(al, bl)
	var w strings.Builder
	// Walk the ops, printing each hunk: changes plus context lines.
	ai, bi := 0, 0 // line numbers (0-based) before ops[i]
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			ai, bi, i = ai+1, bi+1, i+1
			continue
		}
		// A change at i: the hunk starts context lines earlier and ends
		// when more than 2*context unchanged lines follow.
		start := max(i-context, 0)
		for k := start; k < i; k++ { // back up over the leading context
			ai, bi = ai-1, bi-1
		}
		end := i
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run == len(ops) || run-end > 2*context {
				end = min(end+context, len(ops))
				break
			}
			end = run
		}
		na, nb := 0, 0
		for _, o := range ops[start:end] {
			if o.kind != '+' {
				na++
			}
			if o.kind != '-' {
				nb++
			}
		}
		fmt.Fprintf(&w, "@@ -%d,%d +%d,%d @@\n", ai+1, na, bi+1, nb)
		for _, o := range ops[start:end] {
			w.WriteByte(o.kind)
			w.WriteString(o.line)
			w.WriteByte('\n')
		}
		ai, bi, i = ai+na, bi+nb, end
	}
	return w.String()
}

// split cuts a text into lines without their "\n"; a final newline does
// not make an empty last line.
func split(s []byte) []string {
	if len(s) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(s), "\n"), "\n")
}

// diff is the edit script from a to b by longest common subsequence,
// removals before additions within a change.
func diff(a, b []string) []op {
	if len(a)*len(b) > maxCells {
		ops := make([]op, 0, len(a)+len(b))
		for _, l := range a {
			ops = append(ops, op{'-', l})
		}
		for _, l := range b {
			ops = append(ops, op{'+', l})
		}
		return ops
	}
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	lcs := make([][]int32, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []op
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			ops = append(ops, op{' ', a[i]})
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			ops = append(ops, op{'-', a[i]})
			i++
		default:
			ops = append(ops, op{'+', b[j]})
			j++
		}
	}
	for ; i < len(a); i++ {
		ops = append(ops, op{'-', a[i]})
	}
	for ; j < len(b); j++ {
		ops = append(ops, op{'+', b[j]})
	}
	return ops
}
