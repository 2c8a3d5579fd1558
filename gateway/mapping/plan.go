package mapping

import "sync/atomic"

// The plan is what Compile makes of a spec: every target resolved to a
// kind, every path to where a request finds its value (a slot filled by
// the request's one walk of an object, the pairs or an array element, or
// a gjson path), and the objects a request indexes. run.go runs it.

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

// plan is the part of a Mapping that says how a request reads the body:
// which objects it indexes, in one walk each, and where each value it
// keeps goes. Compile builds it; it never changes afterwards, except for
// groupCache, which only grows by atomic swaps.
type plan struct {
	// prefixes are the objects a request indexes once; prefixes[0] is the
	// body itself. consumed[i] holds the keys of prefixes[i] that some path
	// reads, so that rest does not copy them into fields again.
	prefixes []prefix
	consumed []map[string]bool
	// listed[i] is set when a request needs every key of prefixes[i], not
	// only its slots: rest copies from it, or an object inside it is
	// indexed too.
	listed []bool
	// pairUsed holds the lower-cased pair keys that some field reads.
	pairUsed map[string]bool
	nTrace   int

	// Slots: keySlot[i][key] and pairSlot[key] number the values a request
	// keeps from its walk of object i and of the pairs; elemSlot those of
	// an array element.
	keySlot  []map[string]int
	pairSlot map[string]int
	nSlots   int
	elemSlot map[string]int
	// The same, as Map looks them up.
	keyTab  []slotTable
	pairTab slotTable
	elemTab slotTable
	// nFields sizes lead.fields for a typical payload.
	nFields int
	// both is set when assets and group_by read the same array, which is
	// then walked once for both.
	both bool
	// groupClash is set when a group_by key could equal a key some field
	// (or another group suffix) writes, so that groupFields must look
	// before it writes; Leadsie's cannot clash.
	groupClash bool

	// groupCache holds the names of the group keys seen so far, never
	// changed once published: a short list beats a sync.Map's hashing
	// for Leadsie's five asset types.
	groupCache atomic.Pointer[[]groupName]
}

// newPlan is the plan of a mapping that reads nothing yet: the body
// itself is object 0.
func newPlan() plan {
	return plan{
		prefixes: []prefix{{parent: -1}},
		consumed: []map[string]bool{{}},
		keySlot:  []map[string]int{{}},
		pairUsed: map[string]bool{}, pairSlot: map[string]int{}, elemSlot: map[string]int{},
	}
}

// finish builds the lookup tables and sizes of a mapping compiled without
// problems.
func (c *compiler) finish() {
	m := c.m
	for _, ks := range m.keySlot {
		m.keyTab = append(m.keyTab, newSlotTable(ks))
	}
	m.pairTab, m.elemTab = newSlotTable(m.pairSlot), newSlotTable(m.elemSlot)
	if a := m.assets; a != nil {
		m.both = m.group != nil && a.each.path == m.group.each.path
	}
	m.listed = make([]bool, len(m.prefixes))
	for _, p := range m.prefixes[1:] {
		m.listed[p.parent] = true
	}
	for _, r := range m.rest {
		if !r.pairs {
			m.listed[r.prefix] = true
		}
	}
	// Room for every field (set, or empty with the paths tried) and a few
	// derived or rest entries, so the trace rarely grows.
	m.nTrace = len(m.fields) + 4
	for _, f := range m.fields {
		if f.kind == tField {
			m.nFields++
		}
	}
	if m.group != nil {
		m.nTrace += 16
		m.nFields += 4 * len(m.group.fields)
		m.groupClash = c.groupClash()
	}
	if len(m.rest) > 0 {
		m.nFields += 4
	}
}
