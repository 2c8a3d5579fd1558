package mapping

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"leadgate/config/yamlpos"
)

// decoder reads a mapping file into its spec, collecting every problem
// of its shape as "file:line: message".
type decoder struct {
	file string
	errs []error
}

func (d *decoder) errf(line int, format string, args ...any) {
	if line == 0 {
		line = 1
	}
	d.errs = append(d.errs, &lineError{d.file, line, fmt.Sprintf(format, args...)})
}

var topKeys = []string{"description", "events", "identity", "auth", "rate_limit_key", "required", "pairs", "fields", "rest", "group_by", "respond"}

// decodeFile reads src. A file that is not YAML, or not a mapping of
// keys, is the error alone; problems of shape are in d.errs.
func (d *decoder) decodeFile(src []byte) (*fileSpec, error) {
	doc, err := yamlpos.Parse(src)
	if err != nil {
		line := 1
		if se, ok := err.(*yamlpos.SyntaxError); ok && se.Line > 0 {
			line = se.Line
		}
		return nil, fmt.Errorf("%s:%d: %w", d.file, line, err)
	}
	if doc.Root == nil || doc.Root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:1: a mapping file must be a YAML mapping of keys", d.file)
	}
	if doc.More {
		// What follows a "---" would be dropped without a word: refuse it,
		// as gateway.yaml does.
		return nil, fmt.Errorf("%s:%d: only one YAML document is allowed", d.file, doc.MoreLine)
	}
	top := d.keys(doc.Root, topKeys)
	fs := &fileSpec{
		events:   d.optList(top["events"], "events"),
		identity: d.optList(top["identity"], "identity"),
		required: d.optList(top["required"], "required"),
		rest:     d.optList(top["rest"], "rest"),
		rateKey:  d.optScalar(top["rate_limit_key"], "rate_limit_key"),
	}
	if n := top["pairs"]; n != nil {
		k := d.keys(n, []string{"path", "key", "value"})
		fs.pairs = &pairsSrc{line: n.Line, path: d.optScalar(k["path"], "pairs.path"),
			key: d.optScalar(k["key"], "pairs.key"), value: d.optScalar(k["value"], "pairs.value")}
	}
	if n := top["fields"]; n != nil {
		fs.fields = d.targets(n, true)
	}
	if n := top["group_by"]; n != nil {
		fs.groupBy = d.groupBy(n)
	}
	if n := top["auth"]; n != nil {
		fs.auth = d.auth(n)
	}
	if n := top["respond"]; n != nil {
		k := d.keys(n, []string{"destination", "timeout"})
		fs.respond = &respondSrc{line: n.Line, mapping: n.Kind == yaml.MappingNode,
			destination: d.optScalar(k["destination"], "respond.destination"),
			timeout:     d.optScalar(k["timeout"], "respond.timeout")}
	}
	return fs, nil
}

// keys returns the values of a mapping node by key, reporting unknown and
// repeated keys.
func (d *decoder) keys(n *yaml.Node, allowed []string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		d.errf(n.Line, "want a mapping of keys")
		return out
	}
	for _, p := range d.pairs(n, "key %q is repeated") {
		if !slices.Contains(allowed, p.Key.Value) {
			d.errf(p.Key.Line, "unknown key %q (want one of %s)", p.Key.Value, strings.Join(allowed, ", "))
			continue
		}
		out[p.Key.Value] = p.Value
	}
	return out
}

// pairs lists a mapping node's keys; repeated says how to report a key
// written twice.
func (d *decoder) pairs(n *yaml.Node, repeated string) []yamlpos.Pair {
	return yamlpos.Pairs(n, func(k *yaml.Node, issue yamlpos.Issue) {
		switch issue {
		case yamlpos.KeyRepeated:
			d.errf(k.Line, repeated, k.Value)
		case yamlpos.BadMerge:
			d.errf(k.Line, "<< must merge a mapping or a list of mappings")
		case yamlpos.MergeCycle:
			d.errf(k.Line, "<< merges a mapping into itself")
		default:
			d.errf(k.Line, "unknown key %q", k.Value)
		}
	})
}

// scalar reads a single value, reporting any other node.
func (d *decoder) scalar(n *yaml.Node, what string) scalar {
	if n.Kind != yaml.ScalarNode {
		d.errf(n.Line, "%s must be a single value", what)
		return scalar{line: n.Line}
	}
	return scalar{val: n.Value, tag: n.Tag, line: n.Line, ok: true}
}

// optScalar is scalar for an optional key: nil when it is absent.
func (d *decoder) optScalar(n *yaml.Node, what string) *scalar {
	if n == nil {
		return nil
	}
	s := d.scalar(n, what)
	return &s
}

// raw is a value as written, whatever its kind, as auth reads its
// secrets and tolerance.
func raw(n *yaml.Node) *scalar {
	if n == nil {
		return nil
	}
	return &scalar{val: n.Value, tag: n.Tag, line: n.Line, ok: true}
}

// list reads a value or a list of values (null is none).
func (d *decoder) list(n *yaml.Node, what string) *list {
	l := &list{line: n.Line}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag != "!!null" {
			l.items = []scalar{{val: n.Value, tag: n.Tag, line: n.Line, ok: true}}
		}
	case yaml.SequenceNode:
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode {
				d.errf(e.Line, "%s: each entry must be a single value", what)
				continue
			}
			l.items = append(l.items, scalar{val: e.Value, tag: e.Tag, line: e.Line, ok: true})
		}
	default:
		d.errf(n.Line, "%s must be a value or a list of values", what)
	}
	return l
}

// optList is list for an optional key: nil when it is absent.
func (d *decoder) optList(n *yaml.Node, what string) *list {
	if n == nil {
		return nil
	}
	return d.list(n, what)
}
