// Package yamlpos reads a YAML file as the gateway's files are read: into
// nodes that keep their line, so that every problem a reader finds can be
// reported as "file:line: …", all at once, and a misspelt key can be
// answered with "did you mean". The config loader and the mapping
// compiler both decode through it, each with its own words.
package yamlpos

import (
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// SyntaxError is a file that is not YAML.
type SyntaxError struct {
	// Line is the 1-based line yaml.v3 names, 0 when it names none.
	Line int
	// Msg is yaml.v3's message without its "yaml: line N: " prefix.
	Msg string
	// Err is yaml.v3's error.
	Err error
}

// Error is yaml.v3's message as it wrote it.
func (e *SyntaxError) Error() string { return e.Err.Error() }

// Unwrap returns yaml.v3's error.
func (e *SyntaxError) Unwrap() error { return e.Err }

var (
	linePrefix = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	lineAny    = regexp.MustCompile(`line (\d+)`)
)

// Doc is one parsed file.
type Doc struct {
	// Root is the first document's top node, nil for a file with none.
	Root *yaml.Node
	// More is set when the file holds a second document (or something
	// after the first that does not parse); MoreLine is its line, 0 when
	// unknown.
	More     bool
	MoreLine int
}

// Parse parses src. A syntax error in the first document is a
// *SyntaxError.
func Parse(src []byte) (Doc, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(src)))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return Doc{}, nil
	case err != nil:
		return Doc{}, syntaxError(err)
	}
	var out Doc
	if len(doc.Content) > 0 {
		out.Root = doc.Content[0]
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		out.More, out.MoreLine = true, extra.Line
	}
	return out, nil
}

func syntaxError(err error) *SyntaxError {
	e := &SyntaxError{Msg: strings.TrimPrefix(err.Error(), "yaml: "), Err: err}
	if m := linePrefix.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
	} else if m := lineAny.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
	}
	return e
}

// Pair is one key of a mapping node and its value.
type Pair struct{ Key, Value *yaml.Node }

// Issue is what is wrong with one key of a mapping node.
type Issue uint8

// The issues Pairs reports.
const (
	// KeyNotString: the key is a list or a mapping.
	KeyNotString Issue = iota + 1
	// KeyRepeated: the key was written before in the same mapping.
	KeyRepeated
	// BadMerge: a merge key (<<) whose value is not a mapping or a list
	// of mappings; the node is that value.
	BadMerge
	// MergeCycle: a merge key that brings in a mapping it is itself
	// inside (<<: *a within &a); the node is that merge key.
	MergeCycle
)

// Pairs lists mapping node n's keys and values in the order written,
// then those brought in by YAML merge keys (<<: *anchor) that n does not
// set itself, earlier merges winning. Each key it leaves out is passed to
// report with why. A mapping merged twice is read once, and one merged
// into itself is reported, not followed: a file cannot make the reader
// recurse without end or expand one anchor exponentially often.
func Pairs(n *yaml.Node, report func(n *yaml.Node, issue Issue)) []Pair {
	m := merger{report: report, open: map[*yaml.Node]bool{n: true}, done: map[*yaml.Node]bool{}}
	return m.pairs(n)
}

// merger walks one Pairs call's merges: open holds the mappings being
// read (a merge of one of them is a cycle), done those already merged.
type merger struct {
	report func(*yaml.Node, Issue)
	open   map[*yaml.Node]bool
	done   map[*yaml.Node]bool
}

func (m *merger) pairs(n *yaml.Node) []Pair {
	var out, merged []Pair
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			m.report(k, KeyNotString)
		case k.ShortTag() == "!!merge":
			merged = append(merged, m.merge(k, v)...)
		case seen[k.Value]:
			m.report(k, KeyRepeated)
		default:
			seen[k.Value] = true
			out = append(out, Pair{k, v})
		}
	}
	for _, p := range merged {
		if !seen[p.Key.Value] {
			seen[p.Key.Value] = true
			out = append(out, p)
		}
	}
	return out
}

// merge returns the pairs merge key k's value v brings.
func (m *merger) merge(k, v *yaml.Node) []Pair {
	for v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	switch v.Kind {
	case yaml.MappingNode:
		switch {
		case m.open[v]:
			m.report(k, MergeCycle)
			return nil
		case m.done[v]:
			return nil // its keys are in already, and earlier merges win
		}
		m.open[v], m.done[v] = true, true
		defer delete(m.open, v)
		return m.pairs(v)
	case yaml.SequenceNode:
		var out []Pair
		for _, e := range v.Content {
			out = append(out, m.merge(k, e)...)
		}
		return out
	}
	m.report(v, BadMerge)
	return nil
}

// Nearest returns the known key closest to a misspelt one when it is close
// enough (an edit distance under 3) to be a likely typo, else "". Ties go
// to the key that sorts first.
func Nearest(key string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if dist := editDistance(key, k); dist < bestDist || (dist == bestDist && best != "" && k < best) {
			best, bestDist = k, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
