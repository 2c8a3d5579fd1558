package mapping

import (
	"slices"
	"strings"
)

// fieldSpec compiles one target: a path, a list of paths or the long
// form.
func (c *compiler) fieldSpec(t *targetSrc, ref targetRef) *fieldSpec {
	f := &fieldSpec{target: ref.name, kind: ref.kind, key: ref.key, line: t.name.line}
	switch ref.kind {
	case tScore:
		f.typ = typeInt
	case tField:
		f.typ = typeAuto
	case aOK:
		f.typ = typeBool
	default:
		f.typ = typeString
	}
	if ref.kind == tAssets {
		if !t.long {
			c.errf(t.line, "assets: want {each: <array path>, fields: {type: ..., name: ..., id: ..., ok: ..., message: ..., time: ...}}")
			return nil
		}
		c.assetsSpec(t, f)
		return f
	}
	from := fromBody
	if t.long {
		from = c.longForm(t, f)
	}
	if t.paths != nil {
		c.fieldPaths(t, f, from)
	}
	return f
}

// longForm compiles the keys of a long-form target besides its paths and
// returns where its paths read from.
func (c *compiler) longForm(t *targetSrc, f *fieldSpec) source {
	name := f.target
	_, each := t.written["each"]
	if _, fields := t.written["fields"]; each || fields {
		c.errf(t.line, "%s: each and fields are for assets only", name)
	}
	from := fromBody
	if v := t.from; v != nil {
		switch v.val {
		case "body":
		case "query":
			from = fromQuery
		case "header":
			from = fromHeader
		case "pair":
			from = fromPair
		default:
			c.errf(v.line, "%s: from %q: want body, query, header or pair", name, v.val)
		}
	}
	if v := t.typ; v != nil {
		typ, ok := typeNames[v.val]
		switch {
		case !ok:
			c.errf(v.line, "%s: unknown type %q (want string, int, float, bool)", name, v.val)
		case f.kind == tField:
			f.typ = typ
		case typ != f.typ:
			c.errf(v.line, "%s: type %s does not fit this field (it is %s)", name, v.val, typeName(f.typ))
		}
	}
	if t.transforms != nil {
		for _, tr := range t.transforms.items {
			fn, err := parseTransform(tr.val)
			if err != nil {
				c.errf(tr.line, "%s: %v", name, err)
				continue
			}
			f.transforms = append(f.transforms, fn)
		}
	}
	if v := t.required; v != nil {
		switch v.val {
		case "true":
			f.required = true
		case "false":
		default:
			c.errf(v.line, "%s: required must be true or false", name)
		}
	}
	c.fieldDefault(t, f)
	if t.paths == nil && !f.hasDef {
		c.errf(t.line, "%s: path (or default) is required", name)
	}
	return from
}

// fieldDefault compiles a long-form target's default, coerced as its
// type says (a fields.* default keeps its YAML type).
func (c *compiler) fieldDefault(t *targetSrc, f *fieldSpec) {
	v := t.def
	if v == nil || !v.ok {
		return
	}
	typ := f.typ
	if typ == typeAuto {
		typ = autoTypeOfTag(v.tag)
	}
	val, problem, ok := coerce(v.val, typ)
	if problem != "" || !ok {
		c.errf(v.line, "%s: default %q: %s", f.target, v.val, orStr(problem, "is empty"))
	}
	f.def, f.hasDef, f.defTrace = val, ok && problem == "", v.val
}

// fieldPaths compiles a target's paths.
func (c *compiler) fieldPaths(t *targetSrc, f *fieldSpec, from source) {
	bad := false
	for _, pn := range t.paths.items {
		p, err := c.pathOf(pn.val, from, f.kind >= aType)
		if err != nil {
			c.errf(pn.line, "%s: %v", f.target, err)
			bad = true
			continue
		}
		f.paths = append(f.paths, p)
	}
	if len(f.paths) == 0 && !f.hasDef && !bad {
		c.errf(t.pathsLine, "%s: no path", f.target)
	}
}

func (c *compiler) assetsSpec(t *targetSrc, f *fieldSpec) {
	for _, bad := range []string{"path", "from", "type", "default", "transform"} {
		if line, ok := t.written[bad]; ok {
			c.errf(line, "assets: %s does not apply; use each and fields", bad)
		}
	}
	if v := t.required; v != nil {
		f.required = v.val == "true"
	}
	if v := t.each; v == nil {
		c.errf(t.line, "assets: each (the array path) is required")
	} else if v.ok {
		p, err := c.bodyPath(v.val, true)
		if err != nil {
			c.errf(v.line, "assets.each: %v", err)
		}
		f.each = &p
	}
	if t.fields == nil || !t.fields.mapping {
		c.errf(t.line, "assets: fields (a mapping of type, name, id, ok, message, time) is required")
		return
	}
	seen := map[string]bool{}
	for i := range t.fields.targets {
		st := &t.fields.targets[i]
		kind, ok := assetTargets[st.name.val]
		if !ok {
			c.errf(st.name.line, "assets: unknown asset field %q (want type, name, id, ok, message, time)", st.name.val)
			continue
		}
		if seen[st.name.val] {
			c.errf(st.name.line, "assets: duplicate asset field %q", st.name.val)
			continue
		}
		seen[st.name.val] = true
		if sub := c.fieldSpec(st, targetRef{name: st.name.val, kind: kind}); sub != nil {
			f.sub = append(f.sub, sub)
		}
	}
}

func (c *compiler) groupBy(src *groupSrc) {
	g := &groupSpec{join: ", "}
	g.key, _ = c.elemPath("type")
	if v := src.each; v == nil {
		c.errf(src.line, "group_by: each (the array path) is required")
	} else if v.ok {
		p, err := c.bodyPath(v.val, true)
		if err != nil {
			c.errf(v.line, "group_by.each: %v", err)
		}
		g.each = p
	}
	if v := src.key; v != nil && v.ok {
		p, err := c.elemPath(v.val)
		if err != nil {
			c.errf(v.line, "group_by.key: %v", err)
		}
		g.key = p
	}
	c.groupJoin(src.join, g)
	if len(src.fields) == 0 {
		c.errf(src.line, "group_by: fields (suffix: element path) is required")
		return
	}
	for _, gf := range src.fields {
		suffix := gf.suffix.val
		if !fieldKeyRe.MatchString(suffix) {
			c.errf(gf.suffix.line, "group_by: suffix %q must be letters, digits and '_'", suffix)
			continue
		}
		if slices.ContainsFunc(g.fields, func(f groupField) bool { return f.suffix == suffix }) {
			c.errf(gf.suffix.line, "group_by: duplicate suffix %q", suffix)
			continue
		}
		if !gf.path.ok {
			continue
		}
		p, err := c.elemPath(gf.path.val)
		if err != nil {
			c.errf(gf.path.line, "group_by.%s: %v", suffix, err)
			continue
		}
		g.fields = append(g.fields, groupField{suffix: suffix, path: p})
	}
	c.m.group = g
}

// groupJoin compiles group_by's join: an ASCII string whose bytes trim
// strips.
func (c *compiler) groupJoin(v *scalar, g *groupSpec) {
	line := 0
	if v != nil && v.ok {
		if v.val == "" {
			c.errf(v.line, "group_by.join must not be empty")
		}
		g.join, line = v.val, v.line
	}
	for i := 0; i < len(g.join); i++ {
		if g.join[i] >= 0x80 {
			c.errf(line, "group_by.join must be ASCII")
			break
		}
		g.cut[g.join[i]] = true
	}
}

// groupClash reports whether a group_by key "<type>_<suffix>" could equal
// a key that a field writes before the groups, or the key of another
// suffix: a key ends in "_<suffix>", so either ends in that too.
func (c *compiler) groupClash() bool {
	for _, g := range c.m.group.fields {
		end := "_" + g.suffix
		for _, f := range c.m.fields {
			if f.kind == tField && strings.HasSuffix(f.key, end) {
				return true
			}
		}
		for _, o := range c.m.group.fields {
			if o.suffix != g.suffix && strings.HasSuffix(o.suffix, end) {
				return true
			}
		}
	}
	return false
}
