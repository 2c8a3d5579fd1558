package mapping

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"leadgate/gateway/lead"
)

// compiler turns one file's spec into a Mapping, collecting every problem.
type compiler struct {
	file     string
	errs     []error
	m        *Mapping
	prefixOf map[string]int
}

func (c *compiler) errf(line int, format string, args ...any) {
	if line == 0 {
		line = 1
	}
	c.errs = append(c.errs, &lineError{c.file, line, fmt.Sprintf(format, args...)})
}

// lineError is one problem of a mapping file, "file:line: message".
type lineError struct {
	file string
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg) }

// byLine orders a file's problems as the file reads: the decoder finds
// those of shape before the compiler those of meaning.
func byLine(a, b error) int {
	la, _ := a.(*lineError)
	lb, _ := b.(*lineError)
	if la == nil || lb == nil {
		return 0
	}
	return la.line - lb.line
}

var sourceNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Compile compiles one mapping. name is the source name, filename is used
// in error messages. The error joins every problem as "file:line: message".
func Compile(name, filename string, src []byte) (*Mapping, error) {
	c := &compiler{file: filename, m: &Mapping{name: name, file: filename}, prefixOf: map[string]int{}}
	c.m.plan = newPlan()
	if !sourceNameRe.MatchString(name) {
		c.errf(1, "source name %q must be lower-case letters, digits, '_' or '-'", name)
	}
	d := &decoder{file: filename}
	fs, err := d.decodeFile(src)
	if err != nil {
		return nil, err
	}
	c.errs = append(c.errs, d.errs...)
	// Order matters: fields may read pairs, and identity, required and rest
	// refer to fields.
	c.events(fs.events)
	if fs.pairs != nil {
		c.pairs(fs.pairs)
	}
	c.fields(fs.fields)
	if fs.groupBy != nil {
		c.groupBy(fs.groupBy)
	}
	c.rest(fs.rest)
	c.identity(fs.identity)
	c.required(fs.required)
	c.rateKey(fs.rateKey)
	c.auth(fs.auth)
	if fs.respond != nil {
		c.respond(fs.respond)
	}
	if len(c.errs) > 0 {
		slices.SortStableFunc(c.errs, byLine)
		return nil, errors.Join(c.errs...)
	}
	c.finish()
	return c.m, nil
}

func (c *compiler) events(l *list) {
	if l == nil {
		c.m.events = []string{lead.LeadCreated, lead.LeadUpdated, lead.LeadScoreChanged, lead.LeadFieldUpdated}
		return
	}
	for _, e := range l.items {
		if !slices.Contains(lead.EventNames, e.val) {
			c.errf(e.line, "unknown event %q (want one of %s)", e.val, strings.Join(lead.EventNames, ", "))
			continue
		}
		if slices.Contains(c.m.events, e.val) {
			c.errf(e.line, "event %q is repeated", e.val)
			continue
		}
		c.m.events = append(c.m.events, e.val)
	}
	if len(c.m.events) == 0 {
		c.errf(l.line, "events: list at least one event")
	}
}

func (c *compiler) pairs(src *pairsSrc) {
	ps := &pairsSpec{key: "key", value: "value"}
	if v := src.path; v == nil {
		c.errf(src.line, "pairs: path is required")
	} else if v.ok {
		p, err := c.bodyPath(v.val, true)
		if err != nil {
			c.errf(v.line, "pairs.path: %v", err)
		}
		ps.path = p
	}
	for _, kv := range []struct {
		name string
		v    *scalar
		to   *string
	}{{"key", src.key, &ps.key}, {"value", src.value, &ps.value}} {
		if kv.v == nil || !kv.v.ok {
			continue
		}
		if _, err := checkPath(kv.v.val); err != nil {
			c.errf(kv.v.line, "pairs.%s: %v", kv.name, err)
		}
		*kv.to = kv.v.val
	}
	kc, _ := checkPath(ps.key)
	vc, _ := checkPath(ps.value)
	ps.plain = len(kc) == 1 && len(vc) == 1 && kc[0] == ps.key && vc[0] == ps.value
	c.m.pairs = ps
}

var fieldKeyRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// target resolves a target name.
func (c *compiler) target(line int, name string) (targetRef, bool) {
	if k, ok := canonicalTargets[name]; ok {
		return targetRef{name: name, kind: k}, true
	}
	if key, ok := strings.CutPrefix(name, "fields."); ok && fieldKeyRe.MatchString(key) {
		return targetRef{name: name, kind: tField, key: key}, true
	}
	c.errf(line, "unknown target %q (want a lead field such as email, score, assets, or fields.<key>)", name)
	return targetRef{}, false
}

func (c *compiler) fields(ts *targetsSrc) {
	if ts == nil {
		c.errf(1, "fields: required")
		return
	}
	if !ts.mapping {
		c.errf(ts.line, "fields must be a mapping of target: path")
		return
	}
	seen := map[string]bool{}
	for i := range ts.targets {
		t := &ts.targets[i]
		ref, ok := c.target(t.name.line, t.name.val)
		if !ok {
			continue
		}
		if seen[ref.name] {
			c.errf(t.name.line, "duplicate target %q", ref.name)
			continue
		}
		seen[ref.name] = true
		f := c.fieldSpec(t, ref)
		if f == nil {
			continue
		}
		if f.kind == tAssets {
			c.m.assets = f
			continue
		}
		c.m.fields = append(c.m.fields, f)
	}
}

func (c *compiler) rest(l *list) {
	if l == nil {
		return
	}
	for _, e := range l.items {
		switch {
		case e.val == "pairs":
			if c.m.pairs == nil {
				c.errf(e.line, "rest: pairs needs a pairs: section")
				continue
			}
			c.m.rest = append(c.m.rest, restSpec{pairs: true, raw: c.m.pairs.path.raw})
		case e.val == "body":
			c.m.rest = append(c.m.rest, restSpec{prefix: 0, raw: "body"})
		case strings.HasPrefix(e.val, "body:"):
			c.restObject(e)
		default:
			c.errf(e.line, "rest: unknown entry %q (want pairs, body or body:<object path>)", e.val)
		}
	}
}

// restObject compiles rest's body:<object path>.
func (c *compiler) restObject(e scalar) {
	p := strings.TrimPrefix(e.val, "body:")
	comps, err := checkPath(p)
	if err != nil {
		c.errf(e.line, "rest: %v", err)
		return
	}
	if comps == nil {
		c.errf(e.line, "rest: %q must be a plain object path (no wildcards, queries or modifiers)", p)
		return
	}
	// The object itself is read by rest, so its parent must not copy it.
	_, _ = c.bodyPath(p, true)
	c.m.rest = append(c.m.rest, restSpec{prefix: c.prefixIndex(comps), raw: p})
}

// mapped reports whether a target is written by some field or derived
// from one (first and last from a name, a name from first and last).
func (c *compiler) mapped(ref targetRef) bool {
	has := func(k targetKind, key string) bool {
		return slices.ContainsFunc(c.m.fields, func(f *fieldSpec) bool { return f.kind == k && f.key == key })
	}
	switch ref.kind {
	case tAssets:
		return c.m.assets != nil
	case tFirstName, tLastName, tFullName, tName:
		return has(tFirstName, "") || has(tLastName, "") || has(tFullName, "") || has(tName, "")
	case tField:
		return has(tField, ref.key) || len(c.m.rest) > 0 || c.m.group != nil
	}
	return has(ref.kind, "")
}

func (c *compiler) identity(l *list) {
	if l == nil {
		return
	}
	for _, e := range l.items {
		ref, ok := c.target(e.line, e.val)
		if !ok {
			continue
		}
		if ref.kind == tAssets || ref.kind == tEmail || ref.kind == tPhone {
			c.errf(e.line, "identity: %s cannot be the key (email and phone always identify a lead)", ref.name)
			continue
		}
		if !c.mapped(ref) {
			c.errf(e.line, "identity: target %q is not mapped", ref.name)
			continue
		}
		c.m.identity = append(c.m.identity, &fieldSpec{target: ref.name, kind: ref.kind, key: ref.key})
	}
}

func (c *compiler) required(l *list) {
	for _, f := range c.m.fields {
		if f.required {
			c.m.required = append(c.m.required, targetRef{name: f.target, kind: f.kind, key: f.key})
		}
	}
	if a := c.m.assets; a != nil && a.required {
		c.m.required = append(c.m.required, targetRef{name: "assets", kind: tAssets})
	}
	if l == nil {
		return
	}
	for _, e := range l.items {
		ref, ok := c.target(e.line, e.val)
		if !ok {
			continue
		}
		if !c.mapped(ref) {
			c.errf(e.line, "required: target %q is not mapped", ref.name)
			continue
		}
		if slices.ContainsFunc(c.m.required, func(r targetRef) bool { return r.name == ref.name }) {
			continue
		}
		c.m.required = append(c.m.required, ref)
	}
}

func (c *compiler) rateKey(s *scalar) {
	if s == nil || !s.ok {
		return
	}
	kind, arg, _ := strings.Cut(s.val, ":")
	switch {
	case s.val == "ip":
		c.m.rate = rateKeySpec{kind: rateIP}
	case kind == "body" && arg != "":
		if _, err := checkPath(arg); err != nil {
			c.errf(s.line, "rate_limit_key: %v", err)
			return
		}
		c.m.rate = rateKeySpec{kind: rateBody, name: arg}
	case kind == "query" && arg != "":
		c.m.rate = rateKeySpec{kind: rateQuery, name: arg}
	case kind == "header" && arg != "":
		c.m.rate = rateKeySpec{kind: rateHeader, name: arg}
	default:
		c.errf(s.line, "rate_limit_key %q: want ip, body:<path>, query:<name> or header:<name>", s.val)
	}
}
