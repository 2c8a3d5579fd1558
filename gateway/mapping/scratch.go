package mapping

// This file is a request's index of the body (scratch): the objects the
// plan names are walked once each, on first use, and the values the
// fields read are left in slots.

import (
	"strings"
	"sync"

	"github.com/tidwall/gjson"

	"leadgate/gateway/lead"
)

// kv is one key of an indexed object or one pair of a pairs array.
type kv struct {
	k    string // object key; for pairs the lower-cased key
	orig string // pairs: the key as written
	v    gjson.Result
}

// scratch is one request's index of the body: every indexed object and the
// pairs array are walked once, however many paths read them.
type scratch struct {
	json       string
	idx        [][]kv
	built      []bool
	isObj      []bool
	pairs      []kv
	pairsBuilt bool
	groups     []group
	// vals holds the slot values of Mapping.keySlot and pairSlot; elem
	// those of the array element being read. A zero Result is unset.
	vals    []gjson.Result
	elem    []gjson.Result
	elemSet []bool
	// arrErrs are the assets elements' problems.
	arrErrs []FieldError
	elemTmp gjson.Result // elemGet's answer for a path gjson evaluates
	assets  []lead.Asset
	// gvals holds each group field's joined value while it is one value
	// (a substring of the body); gbufs, from its second value on.
	gvals []string
	gbufs [][]byte
}

type group struct {
	raw   string   // the key as sent
	names []string // "fields.<key>_<suffix>" per group field
	off   int      // its values in scratch.gvals and gbufs
}

// maxKeptGroupBuf is the largest group buffer a pooled scratch keeps.
const maxKeptGroupBuf = 64 << 10

// addGroupSlot adds one empty group value.
func (s *scratch) addGroupSlot() {
	s.gvals = append(s.gvals, "")
	if len(s.gbufs) < cap(s.gbufs) {
		s.gbufs = s.gbufs[:len(s.gbufs)+1]
		if b := s.gbufs[len(s.gbufs)-1]; cap(b) > maxKeptGroupBuf {
			s.gbufs[len(s.gbufs)-1] = nil
		} else {
			s.gbufs[len(s.gbufs)-1] = b[:0]
		}
		return
	}
	s.gbufs = append(s.gbufs, nil)
}

// joinGroup adds val to group value k as trim(value + join + val) did,
// in time linear in what is added: the first value stays a substring of
// the body; later ones go to a buffer. The value so far is trimmed and
// ends in a byte trim keeps, and join's bytes are all cut, so only the
// right end of what is added needs trimming.
func (s *scratch) joinGroup(k int, g *groupSpec, val string) {
	if s.gvals[k] == "" && len(s.gbufs[k]) == 0 {
		s.gvals[k] = g.trim(val)
		return
	}
	b := s.gbufs[k]
	if len(b) == 0 {
		b = append(b, s.gvals[k]...)
	}
	b = append(append(b, g.join...), val...)
	for g.cut[b[len(b)-1]] {
		b = b[:len(b)-1]
	}
	s.gbufs[k] = b
}

// groupValue is group value k.
func (s *scratch) groupValue(k int) string {
	if len(s.gbufs[k]) > 0 {
		return string(s.gbufs[k])
	}
	return s.gvals[k]
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func (m *Mapping) scratch(body []byte) *scratch {
	s := scratchPool.Get().(*scratch)
	// One copy of the body: every string of the lead is a substring of it,
	// so the caller may reuse its buffer (Fiber does).
	s.json = string(body)
	n := len(m.prefixes)
	if cap(s.idx) < n {
		s.idx = make([][]kv, n)
		s.built = make([]bool, n)
		s.isObj = make([]bool, n)
	}
	s.idx, s.built, s.isObj = s.idx[:n], s.built[:n], s.isObj[:n]
	for i := range s.built {
		s.built[i], s.isObj[i] = false, false
		s.idx[i] = s.idx[i][:0]
	}
	s.pairs, s.pairsBuilt, s.groups, s.assets = s.pairs[:0], false, s.groups[:0], s.assets[:0]
	s.gvals, s.gbufs, s.arrErrs = s.gvals[:0], s.gbufs[:0], s.arrErrs[:0]
	s.vals = resize(s.vals, m.nSlots)
	s.elem = resize(s.elem, len(m.elemSlot))
	if cap(s.elemSet) < len(m.elemSlot) {
		s.elemSet = make([]bool, len(m.elemSlot))
	}
	s.elemSet = s.elemSet[:len(m.elemSlot)]
	return s
}

// resize returns a cleared slice of n Results, reusing rs.
func resize(rs []gjson.Result, n int) []gjson.Result {
	if cap(rs) < n {
		return make([]gjson.Result, n)
	}
	rs = rs[:n]
	clear(rs)
	return rs
}

func (s *scratch) release() {
	s.json = ""
	scratchPool.Put(s)
}

// index returns the keys of indexed object i (when Mapping.listed says
// they are needed), walking it on first use; ok is false when the value there is not an object (an array is read by
// gjson instead).
func (m *Mapping) index(s *scratch, i int) (list []kv, ok bool) {
	if s.built[i] {
		return s.idx[i], s.isObj[i]
	}
	s.built[i] = true
	var obj gjson.Result
	if p := m.prefixes[i]; p.parent < 0 {
		obj = gjson.Parse(s.json)
	} else if parent, ok := m.index(s, p.parent); ok {
		obj = find(parent, p.key)
	} else {
		obj = gjson.Get(s.json, m.prefixPath(i))
	}
	if obj.IsObject() {
		list, slots, listed := s.idx[i][:0], &m.keyTab[i], m.listed[i]
		obj.ForEach(func(k, v gjson.Result) bool {
			if listed {
				list = append(list, kv{k: k.Str, v: v})
			}
			// The first of repeated keys wins, as with gjson.Get.
			if slot, ok := slots.get(k.Str); ok && s.vals[slot].Raw == "" {
				s.vals[slot] = v
			}
			return true
		})
		s.idx[i], s.isObj[i] = list, true
	}
	return s.idx[i], s.isObj[i]
}

// indexed walks object i once and reports whether it is an object.
func (m *Mapping) indexed(s *scratch, i int) bool {
	if s.built[i] {
		return s.isObj[i]
	}
	_, ok := m.index(s, i)
	return ok
}

// prefixPath is the gjson path of indexed object i, for the rare object
// that sits inside an array.
func (m *Mapping) prefixPath(i int) string {
	var parts []string
	for ; i > 0; i = m.prefixes[i].parent {
		parts = append([]string{escapeKey(m.prefixes[i].key)}, parts...)
	}
	return strings.Join(parts, ".")
}

// escapeKey escapes gjson's special characters in an object key.
func escapeKey(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		if strings.IndexByte(`.*?#|@()[]{}!=<>%,"\`, k[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(k[i])
	}
	return b.String()
}

// find returns the first value of key, as gjson would.
func find(list []kv, key string) gjson.Result {
	for i := range list {
		if list[i].k == key {
			return list[i].v
		}
	}
	return gjson.Result{}
}

func (m *Mapping) body(s *scratch, p *pathSpec) gjson.Result {
	if p.prefix >= 0 {
		if _, ok := m.index(s, p.prefix); ok {
			return s.vals[p.slot]
		}
	}
	return gjson.Get(s.json, p.path)
}

// pairList returns the pairs array's entries, walking it on first use.
func (m *Mapping) pairList(s *scratch) []kv {
	if s.pairsBuilt || m.pairs == nil {
		return s.pairs
	}
	s.pairsBuilt = true
	arr := m.body(s, &m.pairs.path)
	if !arr.IsArray() {
		return s.pairs
	}
	arr.ForEach(func(_, e gjson.Result) bool {
		if !e.IsObject() {
			return true
		}
		kr, vr := m.pairOf(e)
		k, ok := scalarText(&kr)
		if k = strings.TrimSpace(k); !ok || k == "" {
			return true
		}
		kv := kv{k: lowerASCII(k), orig: k, v: vr}
		s.pairs = append(s.pairs, kv)
		// A repeated key keeps its first non-empty value.
		if slot, ok := m.pairTab.get(kv.k); ok && empty(s.vals[slot]) && !empty(kv.v) {
			s.vals[slot] = kv.v
		}
		return true
	})
	return s.pairs
}

// pairOf reads a pair element's key and value: in one walk of the element
// when both are plain keys (Ledsak's lead_field and lead_value).
func (m *Mapping) pairOf(e gjson.Result) (key, val gjson.Result) {
	p := m.pairs
	if !p.plain {
		return e.Get(p.key), e.Get(p.value)
	}
	var gotKey, gotVal bool
	e.ForEach(func(k, v gjson.Result) bool {
		switch {
		case !gotKey && k.Str == p.key:
			key, gotKey = v, true
		case !gotVal && k.Str == p.value:
			val, gotVal = v, true
		}
		return !gotKey || !gotVal
	})
	return key, val
}

// lowerASCII lower-cases s, allocating only when it has an upper-case letter.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}

func empty(r gjson.Result) bool {
	switch r.Type {
	case gjson.Null:
		return true
	case gjson.String:
		return strings.TrimSpace(r.Str) == ""
	}
	return false
}

func (m *Mapping) lookup(s *scratch, in *Input, p *pathSpec) gjson.Result {
	switch p.from {
	case fromQuery:
		return gjson.Result{Type: gjson.String, Str: in.query(p.path)}
	case fromHeader:
		return gjson.Result{Type: gjson.String, Str: in.header(p.path)}
	case fromPair:
		m.pairList(s)
		return s.vals[p.slot]
	}
	return m.body(s, p)
}

// eval returns the first non-empty value of f's paths. It is the hot loop
// of Map: a path whose value was left in a slot by the request's one walk
// is read in place, and an absent value costs one comparison.
func (m *Mapping) eval(s *scratch, in *Input, f *fieldSpec) (v value, p *pathSpec, problem string) {
	for i := range f.paths {
		p := &f.paths[i]
		var (
			r   *gjson.Result
			tmp gjson.Result
		)
		switch {
		case p.from == fromPair:
			if !s.pairsBuilt {
				m.pairList(s)
			}
			r = &s.vals[p.slot]
		case p.from == fromBody && p.prefix >= 0 && m.indexed(s, p.prefix):
			r = &s.vals[p.slot]
		default:
			tmp = m.lookup(s, in, p)
			r = &tmp
		}
		if r.Type == gjson.Null {
			continue
		}
		v, problem, ok := convert(r, f.typ, f.transforms)
		if problem != "" {
			return value{}, p, problem
		}
		if ok {
			return v, p, ""
		}
	}
	return value{}, nil, ""
}

// elemGet returns the value of p in array element e, in place: the
// Result stays valid until the next elemGet or element.
func elemGet(s *scratch, e gjson.Result, p *pathSpec) *gjson.Result {
	if p.slot >= 0 {
		if !s.elemSet[p.slot] {
			return &zeroResult
		}
		return &s.elem[p.slot]
	}
	s.elemTmp = e.Get(p.path)
	return &s.elemTmp
}

// zeroResult is an absent value; nothing writes to it.
var zeroResult gjson.Result
