package mapping

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
	"gopkg.in/yaml.v3"

	"leadgate/gateway/lead"
)

// source says where a path reads from.
type source uint8

const (
	fromBody source = iota
	fromQuery
	fromHeader
	fromPair
)

var sourceNames = [...]string{fromBody: "body", fromQuery: "query", fromHeader: "header", fromPair: "pair"}

// pathSpec is one compiled path.
type pathSpec struct {
	from source
	raw  string // as written, for the trace
	path string // gjson path, parameter or header name, lower-cased pair key
	// prefix indexes Mapping.prefixes for a simple body path (no wildcard,
	// query or modifier): the value is key in that indexed object. -1 for a
	// path gjson evaluates.
	prefix int
	key    string
	// slot is where the request's single walk of the object (or of the
	// pairs, or of an array element) leaves the value; -1 for none.
	slot int
}

// prefix is an object of the body that a request indexes once.
type prefix struct {
	parent int // -1 for the body itself
	key    string
}

// targetKind is what a field spec writes.
type targetKind uint8

const (
	tEmail targetKind = iota
	tPhone
	tFirstName
	tLastName
	tFullName
	tName
	tCompany
	tWebsite
	tPosition
	tTwitter
	tLinkedIn
	tNotes
	tScore
	tClient
	tBranch
	tLandingPage
	tUser
	tStatus
	tAssets
	tField // fields.<key>
	// asset element targets
	aType
	aName
	aID
	aOK
	aMessage
	aTime
)

var canonicalTargets = map[string]targetKind{
	"email": tEmail, "phone": tPhone, "first_name": tFirstName, "last_name": tLastName,
	"full_name": tFullName, "name": tName, "company": tCompany, "website": tWebsite,
	"position": tPosition, "twitter": tTwitter, "linkedin": tLinkedIn, "notes": tNotes,
	"score": tScore, "client": tClient, "branch": tBranch, "landing_page": tLandingPage,
	"user": tUser, "status": tStatus, "assets": tAssets,
}

var assetTargets = map[string]targetKind{
	"type": aType, "name": aName, "id": aID, "ok": aOK, "message": aMessage, "time": aTime,
}

// valueType is the type a value is coerced to.
type valueType uint8

const (
	typeAuto valueType = iota // keep the JSON type (fields.* only)
	typeString
	typeInt
	typeFloat
	typeBool
	// typeNumber is a JSON number kept as its text (auto type, not an
	// int64), so 5000.50, 1e3 or a 20-digit id reach the destination as
	// they came; not a type a mapping can name.
	typeNumber
)

var typeNames = map[string]valueType{"auto": typeAuto, "string": typeString, "int": typeInt, "float": typeFloat, "bool": typeBool}

// fieldSpec is one compiled target.
type fieldSpec struct {
	target     string
	kind       targetKind
	key        string // fields.<key>
	paths      []pathSpec
	typ        valueType
	transforms []transform
	def        value
	hasDef     bool
	defTrace   string
	required   bool
	each       *pathSpec    // assets: the array
	sub        []*fieldSpec // assets: element targets
	line       int
}

// targetRef names a lead field for identity and required checks.
type targetRef struct {
	name string
	kind targetKind
	key  string
}

type requiredSpec = targetRef

// pairsSpec is an array of {key, value} objects (Ledsak's lead_details).
type pairsSpec struct {
	path  pathSpec
	key   string
	value string
	plain bool // key and value are single object keys
}

// restSpec copies unmapped values into lead.fields.
type restSpec struct {
	pairs  bool
	prefix int    // object to copy from when !pairs
	raw    string // as written, for the trace
}

// groupSpec is the per-type breakdown of an array (Leadsie's assets).
type groupSpec struct {
	each   pathSpec
	key    pathSpec
	fields []groupField
	join   string
	cut    [256]bool // the bytes of join, which trim strips
}

// trim strips the bytes of join from both ends of s, as Python's
// str.strip(join) does for an ASCII join.
func (g *groupSpec) trim(s string) string {
	i, j := 0, len(s)
	for i < j && g.cut[s[i]] {
		i++
	}
	for j > i && g.cut[s[j-1]] {
		j--
	}
	return s[i:j]
}

type groupField struct {
	suffix string
	path   pathSpec
}

type rateKind uint8

const (
	rateIP rateKind = iota
	rateBody
	rateQuery
	rateHeader
)

type rateKeySpec struct {
	kind rateKind
	name string // path, parameter or header
}

// slotTable finds a key's slot: a few keys are compared in turn, which
// beats hashing them; more are looked up in the map.
type slotTable struct {
	keys []string // keys[slot-base]... in slot order when small
	slot []int
	m    map[string]int
}

const slotTableLinear = 8

func newSlotTable(m map[string]int) slotTable {
	if len(m) > slotTableLinear {
		return slotTable{m: m}
	}
	t := slotTable{}
	for k, v := range m {
		t.keys, t.slot = append(t.keys, k), append(t.slot, v)
	}
	return t
}

func (t *slotTable) get(k string) (int, bool) {
	if t.m != nil {
		slot, ok := t.m[k]
		return slot, ok
	}
	for i, key := range t.keys {
		// The length and first byte rule out most keys without a call.
		if len(key) == len(k) && (k == "" || key[0] == k[0]) && key == k {
			return t.slot[i], true
		}
	}
	return 0, false
}

// compiler collects every problem of one file.
type compiler struct {
	file     string
	errs     []error
	m        *Mapping
	prefixOf map[string]int
}

func (c *compiler) errf(n *yaml.Node, format string, args ...any) {
	line := 1
	if n != nil {
		line = n.Line
	}
	c.errs = append(c.errs, fmt.Errorf("%s:%d: %s", c.file, line, fmt.Sprintf(format, args...)))
}

var topKeys = []string{"description", "events", "identity", "auth", "rate_limit_key", "required", "pairs", "fields", "rest", "group_by", "respond"}

var sourceNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Compile compiles one mapping. name is the source name, filename is used
// in error messages. The error joins every problem as "file:line: message".
func Compile(name, filename string, src []byte) (*Mapping, error) {
	c := &compiler{
		file: filename,
		m: &Mapping{name: name, file: filename, pairUsed: map[string]bool{},
			pairSlot: map[string]int{}, elemSlot: map[string]int{}},
		prefixOf: map[string]int{},
	}
	c.m.prefixes = []prefix{{parent: -1}}
	c.m.consumed = []map[string]bool{{}}
	c.m.keySlot = []map[string]int{{}}
	if !sourceNameRe.MatchString(name) {
		c.errf(nil, "source name %q must be lower-case letters, digits, '_' or '-'", name)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("%s:%s: %w", filename, yamlErrLine(err), err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:1: a mapping file must be a YAML mapping of keys", filename)
	}
	top := c.keys(doc.Content[0], topKeys)

	// Order matters: fields may read pairs, and identity, required and rest
	// refer to fields.
	c.events(top["events"])
	if n := top["pairs"]; n != nil {
		c.pairs(n)
	}
	c.fields(top["fields"])
	if n := top["group_by"]; n != nil {
		c.groupBy(n)
	}
	c.rest(top["rest"])
	c.identity(top["identity"])
	c.required(top["required"])
	c.rateKey(top["rate_limit_key"])
	c.auth(top["auth"])
	if n := top["respond"]; n != nil {
		c.respond(n)
	}
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	for _, ks := range c.m.keySlot {
		c.m.keyTab = append(c.m.keyTab, newSlotTable(ks))
	}
	c.m.pairTab, c.m.elemTab = newSlotTable(c.m.pairSlot), newSlotTable(c.m.elemSlot)
	if a := c.m.assets; a != nil {
		c.m.both = c.m.group != nil && a.each.path == c.m.group.each.path
	}
	c.m.listed = make([]bool, len(c.m.prefixes))
	for _, p := range c.m.prefixes[1:] {
		c.m.listed[p.parent] = true
	}
	for _, r := range c.m.rest {
		if !r.pairs {
			c.m.listed[r.prefix] = true
		}
	}
	// Room for every field (set, or empty with the paths tried) and a few
	// derived or rest entries, so the trace rarely grows.
	c.m.nTrace = len(c.m.fields) + 4
	if c.m.group != nil {
		c.m.nTrace += 16
	}
	for _, f := range c.m.fields {
		if f.kind == tField {
			c.m.nFields++
		}
	}
	if c.m.group != nil {
		c.m.nFields += 4 * len(c.m.group.fields)
		c.m.groupClash = c.groupClash()
	}
	if len(c.m.rest) > 0 {
		c.m.nFields += 4
	}
	return c.m, nil
}

var yamlLineRe = regexp.MustCompile(`line (\d+)`)

func yamlErrLine(err error) string {
	if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return "1"
}

// keys returns the values of a mapping node by key, reporting unknown and
// repeated keys.
func (c *compiler) keys(n *yaml.Node, allowed []string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		c.errf(n, "want a mapping of keys")
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(allowed, k.Value) {
			c.errf(k, "unknown key %q (want one of %s)", k.Value, strings.Join(allowed, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			c.errf(k, "key %q is repeated", k.Value)
			continue
		}
		out[k.Value] = v
	}
	return out
}

// scalar returns a scalar node's value, reporting any other node.
func (c *compiler) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		c.errf(n, "%s must be a single value", what)
		return "", false
	}
	return n.Value, true
}

// list accepts a scalar or a sequence of scalars.
func (c *compiler) list(n *yaml.Node, what string) []*yaml.Node {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		return []*yaml.Node{n}
	case yaml.SequenceNode:
		var out []*yaml.Node
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode {
				c.errf(e, "%s: each entry must be a single value", what)
				continue
			}
			out = append(out, e)
		}
		return out
	}
	c.errf(n, "%s must be a value or a list of values", what)
	return nil
}

func (c *compiler) events(n *yaml.Node) {
	if n == nil {
		c.m.events = []string{lead.LeadCreated, lead.LeadUpdated, lead.LeadScoreChanged, lead.LeadFieldUpdated}
		return
	}
	for _, e := range c.list(n, "events") {
		if !slices.Contains(lead.EventNames, e.Value) {
			c.errf(e, "unknown event %q (want one of %s)", e.Value, strings.Join(lead.EventNames, ", "))
			continue
		}
		if slices.Contains(c.m.events, e.Value) {
			c.errf(e, "event %q is repeated", e.Value)
			continue
		}
		c.m.events = append(c.m.events, e.Value)
	}
	if len(c.m.events) == 0 {
		c.errf(n, "events: list at least one event")
	}
}

func (c *compiler) pairs(n *yaml.Node) {
	k := c.keys(n, []string{"path", "key", "value"})
	ps := &pairsSpec{key: "key", value: "value"}
	if v := k["path"]; v == nil {
		c.errf(n, "pairs: path is required")
	} else if s, ok := c.scalar(v, "pairs.path"); ok {
		p, err := c.bodyPath(s, true)
		if err != nil {
			c.errf(v, "pairs.path: %v", err)
		}
		ps.path = p
	}
	for _, name := range []string{"key", "value"} {
		v := k[name]
		if v == nil {
			continue
		}
		if s, ok := c.scalar(v, "pairs."+name); ok {
			if _, err := checkPath(s); err != nil {
				c.errf(v, "pairs.%s: %v", name, err)
			}
			if name == "key" {
				ps.key = s
			} else {
				ps.value = s
			}
		}
	}
	kc, _ := checkPath(ps.key)
	vc, _ := checkPath(ps.value)
	ps.plain = len(kc) == 1 && len(vc) == 1 && kc[0] == ps.key && vc[0] == ps.value
	c.m.pairs = ps
}

var fieldKeyRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// target resolves a target name.
func (c *compiler) target(n *yaml.Node, name string) (targetRef, bool) {
	if k, ok := canonicalTargets[name]; ok {
		return targetRef{name: name, kind: k}, true
	}
	if key, ok := strings.CutPrefix(name, "fields."); ok && fieldKeyRe.MatchString(key) {
		return targetRef{name: name, kind: tField, key: key}, true
	}
	c.errf(n, "unknown target %q (want a lead field such as email, score, assets, or fields.<key>)", name)
	return targetRef{}, false
}

func (c *compiler) fields(n *yaml.Node) {
	if n == nil {
		c.errf(nil, "fields: required")
		return
	}
	if n.Kind != yaml.MappingNode {
		c.errf(n, "fields must be a mapping of target: path")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		ref, ok := c.target(kn, kn.Value)
		if !ok {
			continue
		}
		if seen[ref.name] {
			c.errf(kn, "duplicate target %q", ref.name)
			continue
		}
		seen[ref.name] = true
		f := c.fieldSpec(kn, vn, ref)
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

var fieldSpecKeys = []string{"path", "from", "type", "default", "required", "transform", "each", "fields"}

// fieldSpec compiles one target's spec: a path, a list of paths or the
// long form.
func (c *compiler) fieldSpec(kn, vn *yaml.Node, ref targetRef) *fieldSpec {
	f := &fieldSpec{target: ref.name, kind: ref.kind, key: ref.key, line: kn.Line}
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
	from := fromBody
	var pathNode *yaml.Node
	if vn.Kind == yaml.MappingNode {
		k := c.keys(vn, fieldSpecKeys)
		if ref.kind == tAssets {
			c.assetsSpec(vn, k, f)
			return f
		}
		if k["each"] != nil || k["fields"] != nil {
			c.errf(vn, "%s: each and fields are for assets only", ref.name)
		}
		if v := k["from"]; v != nil {
			s, _ := c.scalar(v, "from")
			switch s {
			case "body":
			case "query":
				from = fromQuery
			case "header":
				from = fromHeader
			case "pair":
				from = fromPair
			default:
				c.errf(v, "%s: from %q: want body, query, header or pair", ref.name, s)
			}
		}
		if v := k["type"]; v != nil {
			s, _ := c.scalar(v, "type")
			t, ok := typeNames[s]
			switch {
			case !ok:
				c.errf(v, "%s: unknown type %q (want string, int, float, bool)", ref.name, s)
			case ref.kind == tField:
				f.typ = t
			case t != f.typ:
				c.errf(v, "%s: type %s does not fit this field (it is %s)", ref.name, s, typeName(f.typ))
			}
		}
		if v := k["transform"]; v != nil {
			for _, t := range c.list(v, "transform") {
				tr, err := parseTransform(t.Value)
				if err != nil {
					c.errf(t, "%s: %v", ref.name, err)
					continue
				}
				f.transforms = append(f.transforms, tr)
			}
		}
		if v := k["required"]; v != nil {
			s, _ := c.scalar(v, "required")
			switch s {
			case "true":
				f.required = true
			case "false":
			default:
				c.errf(v, "%s: required must be true or false", ref.name)
			}
		}
		pathNode = k["path"]
		if v := k["default"]; v != nil {
			if s, ok := c.scalar(v, "default"); ok {
				t := f.typ
				if t == typeAuto {
					t = autoTypeOfTag(v.Tag)
				}
				val, problem, ok := coerce(s, t)
				if problem != "" || !ok {
					c.errf(v, "%s: default %q: %s", ref.name, s, orStr(problem, "is empty"))
				}
				f.def, f.hasDef, f.defTrace = val, ok && problem == "", s
			}
		}
		if pathNode == nil && !f.hasDef {
			c.errf(vn, "%s: path (or default) is required", ref.name)
		}
	} else {
		if ref.kind == tAssets {
			c.errf(vn, "assets: want {each: <array path>, fields: {type: ..., name: ..., id: ..., ok: ..., message: ..., time: ...}}")
			return nil
		}
		pathNode = vn
	}
	if pathNode != nil {
		bad := false
		for _, pn := range c.list(pathNode, ref.name) {
			p, err := c.pathOf(pn.Value, from, ref.kind >= aType)
			if err != nil {
				c.errf(pn, "%s: %v", ref.name, err)
				bad = true
				continue
			}
			f.paths = append(f.paths, p)
		}
		if len(f.paths) == 0 && !f.hasDef && !bad {
			c.errf(pathNode, "%s: no path", ref.name)
		}
	}
	return f
}

func (c *compiler) assetsSpec(vn *yaml.Node, k map[string]*yaml.Node, f *fieldSpec) {
	for _, bad := range []string{"path", "from", "type", "default", "transform"} {
		if k[bad] != nil {
			c.errf(k[bad], "assets: %s does not apply; use each and fields", bad)
		}
	}
	if v := k["required"]; v != nil {
		f.required = v.Value == "true"
	}
	if v := k["each"]; v == nil {
		c.errf(vn, "assets: each (the array path) is required")
	} else if s, ok := c.scalar(v, "each"); ok {
		p, err := c.bodyPath(s, true)
		if err != nil {
			c.errf(v, "assets.each: %v", err)
		}
		f.each = &p
	}
	fn := k["fields"]
	if fn == nil || fn.Kind != yaml.MappingNode {
		c.errf(vn, "assets: fields (a mapping of type, name, id, ok, message, time) is required")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(fn.Content); i += 2 {
		skn, svn := fn.Content[i], fn.Content[i+1]
		kind, ok := assetTargets[skn.Value]
		if !ok {
			c.errf(skn, "assets: unknown asset field %q (want type, name, id, ok, message, time)", skn.Value)
			continue
		}
		if seen[skn.Value] {
			c.errf(skn, "assets: duplicate asset field %q", skn.Value)
			continue
		}
		seen[skn.Value] = true
		if sub := c.fieldSpec(skn, svn, targetRef{name: skn.Value, kind: kind}); sub != nil {
			f.sub = append(f.sub, sub)
		}
	}
}

// pathOf compiles a path with an optional "body:", "query:", "header:" or
// "pair:" prefix. An element path (assets fields) is relative to the
// element and reads the body only.
func (c *compiler) pathOf(raw string, from source, element bool) (pathSpec, error) {
	p := raw
	for s, name := range sourceNames {
		if rest, ok := strings.CutPrefix(raw, name+":"); ok {
			from, p = source(s), rest
			break
		}
	}
	if element {
		if from != fromBody {
			return pathSpec{}, fmt.Errorf("path %q: an asset field reads its element only", raw)
		}
		return c.elemPath(p)
	}
	switch from {
	case fromQuery, fromHeader:
		if p == "" {
			return pathSpec{}, fmt.Errorf("path %q: the %s name is empty", raw, sourceNames[from])
		}
		return pathSpec{from: from, raw: raw, path: p, prefix: -1, slot: -1}, nil
	case fromPair:
		if c.m.pairs == nil {
			return pathSpec{}, fmt.Errorf("path %q: pair: needs a pairs: section", raw)
		}
		key := strings.ToLower(strings.TrimSpace(p))
		if key == "" {
			return pathSpec{}, fmt.Errorf("path %q: the pair key is empty", raw)
		}
		c.m.pairUsed[key] = true
		slot, ok := c.m.pairSlot[key]
		if !ok {
			slot = c.m.nSlots
			c.m.pairSlot[key] = slot
			c.m.nSlots++
		}
		return pathSpec{from: fromPair, raw: raw, path: key, prefix: -1, slot: slot}, nil
	}
	ps, err := c.bodyPath(p, true)
	ps.raw = raw
	return ps, err
}

// bodyPath compiles a body path; a simple one registers its objects for
// indexing and, when consume is set, marks its keys as read.
func (c *compiler) bodyPath(p string, consume bool) (pathSpec, error) {
	comps, err := checkPath(p)
	if err != nil {
		return pathSpec{raw: p, path: p, prefix: -1, slot: -1}, err
	}
	ps := pathSpec{raw: p, path: p, prefix: -1, slot: -1}
	if comps == nil {
		return ps, nil
	}
	parent := 0
	for i, comp := range comps {
		if consume {
			c.m.consumed[parent][comp] = true
		}
		if i == len(comps)-1 {
			break
		}
		parent = c.prefixIndex(comps[:i+1])
	}
	ps.prefix, ps.key = parent, comps[len(comps)-1]
	slot, ok := c.m.keySlot[parent][ps.key]
	if !ok {
		slot = c.m.nSlots
		c.m.keySlot[parent][ps.key] = slot
		c.m.nSlots++
	}
	ps.slot = slot
	return ps, nil
}

// elemPath compiles a path relative to an array element; a single key is
// read from the element's one walk.
func (c *compiler) elemPath(p string) (pathSpec, error) {
	comps, err := checkPath(p)
	ps := pathSpec{raw: p, path: p, prefix: -1, slot: -1}
	if err != nil || len(comps) != 1 {
		return ps, err
	}
	slot, ok := c.m.elemSlot[comps[0]]
	if !ok {
		slot = len(c.m.elemSlot)
		c.m.elemSlot[comps[0]] = slot
	}
	ps.key, ps.slot = comps[0], slot
	return ps, nil
}

// prefixIndex returns the index of the object at comps, adding it.
func (c *compiler) prefixIndex(comps []string) int {
	if len(comps) == 0 {
		return 0
	}
	id := strings.Join(comps, "\x00")
	if i, ok := c.prefixOf[id]; ok {
		return i
	}
	parent := c.prefixIndex(comps[:len(comps)-1])
	c.m.prefixes = append(c.m.prefixes, prefix{parent: parent, key: comps[len(comps)-1]})
	c.m.consumed = append(c.m.consumed, map[string]bool{})
	c.m.keySlot = append(c.m.keySlot, map[string]int{})
	i := len(c.m.prefixes) - 1
	c.prefixOf[id] = i
	return i
}

func (c *compiler) groupBy(n *yaml.Node) {
	k := c.keys(n, []string{"each", "key", "fields", "join"})
	g := &groupSpec{join: ", "}
	g.key, _ = c.elemPath("type")
	if v := k["each"]; v == nil {
		c.errf(n, "group_by: each (the array path) is required")
	} else if s, ok := c.scalar(v, "group_by.each"); ok {
		p, err := c.bodyPath(s, true)
		if err != nil {
			c.errf(v, "group_by.each: %v", err)
		}
		g.each = p
	}
	if v := k["key"]; v != nil {
		if s, ok := c.scalar(v, "group_by.key"); ok {
			p, err := c.elemPath(s)
			if err != nil {
				c.errf(v, "group_by.key: %v", err)
			}
			g.key = p
		}
	}
	if v := k["join"]; v != nil {
		if s, ok := c.scalar(v, "group_by.join"); ok {
			if s == "" {
				c.errf(v, "group_by.join must not be empty")
			}
			g.join = s
		}
	}
	for i := 0; i < len(g.join); i++ {
		if g.join[i] >= 0x80 {
			c.errf(k["join"], "group_by.join must be ASCII")
			break
		}
		g.cut[g.join[i]] = true
	}
	fn := k["fields"]
	if fn == nil || fn.Kind != yaml.MappingNode || len(fn.Content) == 0 {
		c.errf(n, "group_by: fields (suffix: element path) is required")
		return
	}
	for i := 0; i+1 < len(fn.Content); i += 2 {
		skn, svn := fn.Content[i], fn.Content[i+1]
		if !fieldKeyRe.MatchString(skn.Value) {
			c.errf(skn, "group_by: suffix %q must be letters, digits and '_'", skn.Value)
			continue
		}
		if slices.ContainsFunc(g.fields, func(f groupField) bool { return f.suffix == skn.Value }) {
			c.errf(skn, "group_by: duplicate suffix %q", skn.Value)
			continue
		}
		s, ok := c.scalar(svn, "group_by."+skn.Value)
		if !ok {
			continue
		}
		p, err := c.elemPath(s)
		if err != nil {
			c.errf(svn, "group_by.%s: %v", skn.Value, err)
			continue
		}
		g.fields = append(g.fields, groupField{suffix: skn.Value, path: p})
	}
	c.m.group = g
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

func (c *compiler) rest(n *yaml.Node) {
	if n == nil {
		return
	}
	for _, e := range c.list(n, "rest") {
		switch {
		case e.Value == "pairs":
			if c.m.pairs == nil {
				c.errf(e, "rest: pairs needs a pairs: section")
				continue
			}
			c.m.rest = append(c.m.rest, restSpec{pairs: true, raw: c.m.pairs.path.raw})
		case e.Value == "body":
			c.m.rest = append(c.m.rest, restSpec{prefix: 0, raw: "body"})
		case strings.HasPrefix(e.Value, "body:"):
			p := strings.TrimPrefix(e.Value, "body:")
			comps, err := checkPath(p)
			if err != nil {
				c.errf(e, "rest: %v", err)
				continue
			}
			if comps == nil {
				c.errf(e, "rest: %q must be a plain object path (no wildcards, queries or modifiers)", p)
				continue
			}
			// The object itself is read by rest, so its parent must not copy it.
			_, _ = c.bodyPath(p, true)
			c.m.rest = append(c.m.rest, restSpec{prefix: c.prefixIndex(comps), raw: p})
		default:
			c.errf(e, "rest: unknown entry %q (want pairs, body or body:<object path>)", e.Value)
		}
	}
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

func (c *compiler) identity(n *yaml.Node) {
	if n == nil {
		return
	}
	for _, e := range c.list(n, "identity") {
		ref, ok := c.target(e, e.Value)
		if !ok {
			continue
		}
		if ref.kind == tAssets || ref.kind == tEmail || ref.kind == tPhone {
			c.errf(e, "identity: %s cannot be the key (email and phone always identify a lead)", ref.name)
			continue
		}
		if !c.mapped(ref) {
			c.errf(e, "identity: target %q is not mapped", ref.name)
			continue
		}
		c.m.identity = append(c.m.identity, &fieldSpec{target: ref.name, kind: ref.kind, key: ref.key})
	}
}

func (c *compiler) required(n *yaml.Node) {
	for _, f := range c.m.fields {
		if f.required {
			c.m.required = append(c.m.required, targetRef{name: f.target, kind: f.kind, key: f.key})
		}
	}
	if a := c.m.assets; a != nil && a.required {
		c.m.required = append(c.m.required, targetRef{name: "assets", kind: tAssets})
	}
	if n == nil {
		return
	}
	for _, e := range c.list(n, "required") {
		ref, ok := c.target(e, e.Value)
		if !ok {
			continue
		}
		if !c.mapped(ref) {
			c.errf(e, "required: target %q is not mapped", ref.name)
			continue
		}
		if slices.ContainsFunc(c.m.required, func(r targetRef) bool { return r.name == ref.name }) {
			continue
		}
		c.m.required = append(c.m.required, ref)
	}
}

func (c *compiler) rateKey(n *yaml.Node) {
	if n == nil {
		return
	}
	s, ok := c.scalar(n, "rate_limit_key")
	if !ok {
		return
	}
	kind, arg, _ := strings.Cut(s, ":")
	switch {
	case s == "ip":
		c.m.rate = rateKeySpec{kind: rateIP}
	case kind == "body" && arg != "":
		if _, err := checkPath(arg); err != nil {
			c.errf(n, "rate_limit_key: %v", err)
			return
		}
		c.m.rate = rateKeySpec{kind: rateBody, name: arg}
	case kind == "query" && arg != "":
		c.m.rate = rateKeySpec{kind: rateQuery, name: arg}
	case kind == "header" && arg != "":
		c.m.rate = rateKeySpec{kind: rateHeader, name: arg}
	default:
		c.errf(n, "rate_limit_key %q: want ip, body:<path>, query:<name> or header:<name>", s)
	}
}

// knownModifiers are gjson's built-in modifiers.
var knownModifiers = []string{"this", "valid", "pretty", "ugly", "reverse", "flatten", "join", "keys", "values", "tostr", "fromstr", "group", "dig"}

// checkPath validates a gjson path. For a simple path (object keys only:
// no wildcard, array query, modifier or multipath) it returns its unescaped
// components; for any other valid path, nil.
func checkPath(p string) ([]string, error) {
	if p == "" {
		return nil, errors.New("empty path")
	}
	var (
		comps  []string
		cur    []byte
		simple = true
		depth  int
		quote  bool
		start  = true // at the start of a component
	)
	for i := 0; i < len(p); i++ {
		ch := p[i]
		if ch == '\\' {
			if i+1 >= len(p) {
				return nil, fmt.Errorf("path %q ends in a backslash", p)
			}
			cur = append(cur, p[i+1])
			i++
			start = false
			continue
		}
		if quote {
			if ch == '"' {
				quote = false
			}
			cur = append(cur, ch)
			continue
		}
		if start && ch == '@' {
			j := i + 1
			for j < len(p) && (p[j] >= 'a' && p[j] <= 'z') {
				j++
			}
			if !slices.Contains(knownModifiers, p[i+1:j]) {
				return nil, fmt.Errorf("path %q: unknown modifier @%s", p, p[i+1:j])
			}
		}
		start = false
		switch ch {
		case '"':
			quote = true
			simple = false
		case '(', '[', '{':
			depth++
			simple = false
		case ')', ']', '}':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("path %q: unbalanced %q", p, ch)
			}
		case '*', '?', '#', '@', '!', '=', '<', '>', '%', ',':
			simple = false
		case '|':
			simple = false
			if depth == 0 {
				start = true
			}
		case '.':
			if depth == 0 {
				if len(cur) == 0 && (i == 0 || !strings.ContainsRune(")]}", rune(p[i-1]))) {
					return nil, fmt.Errorf("path %q: empty key", p)
				}
				comps = append(comps, string(cur))
				cur = cur[:0]
				start = true
				continue
			}
		}
		cur = append(cur, ch)
	}
	switch {
	case quote:
		return nil, fmt.Errorf("path %q: unterminated string", p)
	case depth != 0:
		return nil, fmt.Errorf("path %q: unbalanced brackets", p)
	case start:
		return nil, fmt.Errorf("path %q: empty key", p)
	}
	if !simple {
		return nil, gjsonValid(p)
	}
	return append(comps, string(cur)), nil
}

func autoTypeOfTag(tag string) valueType {
	switch tag {
	case "!!int":
		return typeInt
	case "!!float":
		return typeFloat
	case "!!bool":
		return typeBool
	}
	return typeString
}

func typeName(t valueType) string {
	for k, v := range typeNames {
		if v == t {
			return k
		}
	}
	return "?"
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// gjsonValid is a last guard: gjson must evaluate the path without panic.
func gjsonValid(p string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("path %q: gjson cannot evaluate it", p)
		}
	}()
	gjson.Get(`{"a":[{"b":1}]}`, p)
	return nil
}
