package mapping

import "gopkg.in/yaml.v3"

var fieldSpecKeys = []string{"path", "from", "type", "default", "required", "transform", "each", "fields"}

// targets reads a mapping of targets; top is set for the fields section,
// whose assets target has a shape of its own.
func (d *decoder) targets(n *yaml.Node, top bool) *targetsSrc {
	ts := &targetsSrc{line: n.Line, mapping: n.Kind == yaml.MappingNode}
	if !ts.mapping {
		return ts
	}
	repeated := "duplicate target %q"
	if !top {
		repeated = "assets: duplicate asset field %q"
	}
	for _, p := range d.pairs(n, repeated) {
		name := scalar{val: p.Key.Value, tag: p.Key.Tag, line: p.Key.Line, ok: true}
		ts.targets = append(ts.targets, d.target(name, p.Value, top && p.Key.Value == "assets"))
	}
	return ts
}

// target reads one target's value: a path, a list of paths or the long
// form.
func (d *decoder) target(name scalar, vn *yaml.Node, assets bool) targetSrc {
	t := targetSrc{name: name, line: vn.Line}
	if vn.Kind != yaml.MappingNode {
		if !assets {
			t.pathsLine, t.paths = vn.Line, d.list(vn, name.val)
		}
		return t
	}
	t.long = true
	k := d.keys(vn, fieldSpecKeys)
	t.written = map[string]int{}
	for key, v := range k {
		t.written[key] = v.Line
	}
	if assets {
		// Assets reads each and its element fields; the other keys only
		// have their lines, to say they do not apply.
		t.required = raw(k["required"])
		t.each = d.optScalar(k["each"], "each")
		if fn := k["fields"]; fn != nil {
			t.fields = d.targets(fn, false)
		}
		return t
	}
	t.from = d.optScalar(k["from"], "from")
	t.typ = d.optScalar(k["type"], "type")
	if v := k["transform"]; v != nil {
		t.transforms = d.list(v, "transform")
	}
	t.required = d.optScalar(k["required"], "required")
	if v := k["path"]; v != nil {
		t.pathsLine, t.paths = v.Line, d.list(v, name.val)
	}
	t.def = d.optScalar(k["default"], "default")
	return t
}

func (d *decoder) groupBy(n *yaml.Node) *groupSrc {
	k := d.keys(n, []string{"each", "key", "fields", "join"})
	g := &groupSrc{line: n.Line, each: d.optScalar(k["each"], "group_by.each"),
		key: d.optScalar(k["key"], "group_by.key"), join: d.optScalar(k["join"], "group_by.join")}
	fn := k["fields"]
	if fn == nil || fn.Kind != yaml.MappingNode {
		return g
	}
	g.fields = []groupFieldSrc{}
	for _, p := range d.pairs(fn, "group_by: duplicate suffix %q") {
		suffix := scalar{val: p.Key.Value, line: p.Key.Line, ok: true}
		g.fields = append(g.fields, groupFieldSrc{suffix: suffix, path: d.scalar(p.Value, "group_by."+p.Key.Value)})
	}
	return g
}

var authKeys = []string{"type", "header", "query", "token", "secret", "encoding", "prefix", "timestamp_header", "tolerance"}

// auth reads the auth section. Secrets and the tolerance are taken as
// written; the other keys must be single values.
func (d *decoder) auth(n *yaml.Node) *authSrc {
	k := d.keys(n, authKeys)
	a := &authSrc{line: n.Line, keys: map[string]*scalar{}}
	for _, key := range authKeys {
		v := k[key]
		if v == nil {
			continue
		}
		switch key {
		case "token", "secret", "tolerance":
			a.keys[key] = raw(v)
		default:
			a.keys[key] = d.optScalar(v, "auth."+key)
		}
	}
	return a
}
