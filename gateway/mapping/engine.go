package mapping

import (
	"slices"
	"strconv"
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
	gvals   []string
}

type group struct {
	raw   string   // the key as sent
	names []string // "fields.<key>_<suffix>" per group field
	off   int      // its values in scratch.gvals
}

// groupNameCacheSize bounds the per-mapping cache of group field names:
// Leadsie has five asset types, and a sender inventing types must not
// grow memory.
const groupNameCacheSize = 64

// groupName holds the trace names of one group key.
type groupName struct {
	raw   string
	names []string
}

// groupNames returns the trace names "fields.<prefix>_<suffix>" of a group
// key, where prefix is the key lower-cased with spaces as '_' (the Zapier
// script's item['type'].lower().replace(' ', '_')).
func (m *Mapping) groupNames(raw string) []string {
	cache := m.groupCache.Load()
	if cache != nil {
		for i := range *cache {
			if (*cache)[i].raw == raw {
				return (*cache)[i].names
			}
		}
	}
	prefix := strings.ReplaceAll(strings.ToLower(raw), " ", "_")
	names := make([]string, len(m.group.fields))
	for j, f := range m.group.fields {
		names[j] = "fields." + prefix + "_" + f.suffix
	}
	// Publish a copy with the new key; when another request published
	// first, this one is simply not cached.
	if cache == nil || len(*cache) < groupNameCacheSize {
		var next []groupName
		if cache != nil {
			next = append(next, *cache...)
		}
		next = append(next, groupName{raw: strings.Clone(raw), names: names})
		m.groupCache.CompareAndSwap(cache, &next)
	}
	return names
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
	s.gvals, s.arrErrs = s.gvals[:0], s.arrErrs[:0]
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

func strField(l *lead.Lead, k targetKind) *string {
	switch k {
	case tEmail:
		return &l.Email
	case tPhone:
		return &l.Phone
	case tFirstName:
		return &l.FirstName
	case tLastName:
		return &l.LastName
	case tFullName, tName:
		return &l.FullName
	case tCompany:
		return &l.Company
	case tWebsite:
		return &l.Website
	case tPosition:
		return &l.Position
	case tTwitter:
		return &l.Twitter
	case tLinkedIn:
		return &l.LinkedIn
	case tNotes:
		return &l.Notes
	case tClient:
		return &l.Client
	case tBranch:
		return &l.Branch
	case tLandingPage:
		return &l.LandingPage
	case tUser:
		return &l.User
	case tStatus:
		return &l.Status
	}
	return nil
}

func (m *Mapping) setField(l *lead.Lead, key string, v any) {
	if l.Fields == nil {
		l.Fields = make(map[string]any, m.nFields)
	}
	l.Fields[key] = v
}

// Map normalizes one payload into the canonical lead. A payload that maps
// to no valid lead returns *FieldErrors.
func (m *Mapping) Map(in Input) (Result, error) {
	s := m.scratch(in.Body)
	defer s.release()
	var (
		r        Result
		l        = &r.Lead
		errs     []FieldError
		name     string
		scoreSet bool
	)
	// trace is nil when the caller wants no trace (the server's hot path).
	var trace *[]Trace
	var empties []Trace // fields their paths left empty, for the trace
	if !in.NoTrace {
		r.Trace = make([]Trace, 0, m.nTrace)
		trace = &r.Trace
	}
	for _, f := range m.fields {
		v, p, problem := m.eval(s, &in, f)
		if problem != "" {
			errs = append(errs, FieldError{Field: f.target, Problem: problem})
			continue
		}
		t := Trace{Field: f.target}
		switch {
		case p != nil:
			t.Path, t.From = p.raw, sourceNames[p.from]
		case f.hasDef:
			v, t.From = f.def, "default"
		default:
			if trace != nil {
				empties = append(empties, Trace{Field: f.target, From: "empty", Tried: tried(f.paths)})
			}
			continue
		}
		switch f.kind {
		case tScore:
			l.Score, l.HasScore, scoreSet = v.i, true, true
		case tName:
			name = v.s
		case tField:
			m.setField(l, f.key, v.any())
		case tEmail:
			l.Email = strings.ToLower(v.s)
		default:
			*strField(l, f.kind) = v.s
		}
		if trace != nil {
			*trace = append(*trace, t)
		}
	}
	if m.assets != nil || m.group != nil {
		errs = m.mapArrays(s, l, trace, errs)
	}
	budget := restBudget{left: lead.MaxFields}
	for i := range m.rest {
		m.mapRest(s, l, trace, &m.rest[i], &budget)
	}
	r.FieldsDropped = budget.dropped
	m.names(l, name, trace)
	if trace != nil {
		// A field its own paths left empty may still be filled: a name
		// split into first and last, a field the rest of the body filled.
		// Only those still empty are traced as empty.
		for _, e := range empties {
			if !slices.ContainsFunc(*trace, func(t Trace) bool { return t.Field == e.Field }) {
				*trace = append(*trace, e)
			}
		}
	}

	for _, req := range m.required {
		if present(l, req, scoreSet) || failed(errs, req.name) {
			continue
		}
		errs = append(errs, FieldError{Field: req.name, Problem: "is required"})
	}
	if r.Identity = m.identify(l, scoreSet); len(r.Identity) == 0 {
		errs = append(errs, FieldError{Field: "identity", Problem: m.noIdentity()})
	}
	if len(errs) > 0 {
		return Result{}, &FieldErrors{Errors: errs}
	}
	return r, nil
}

// names applies the name rules: a single name fills full_name and splits
// into first and last when neither is given; full_name is filled from
// first and last.
func (m *Mapping) names(l *lead.Lead, name string, trace *[]Trace) {
	if l.FullName == "" && name != "" {
		l.FullName = name
		addTrace(trace, Trace{Field: "full_name", From: "derived"})
	}
	l.FullName = collapseSpaces(l.FullName)
	if l.FirstName == "" && l.LastName == "" && l.FullName != "" {
		l.FirstName, l.LastName = splitName(l.FullName)
		addTrace(trace, Trace{Field: "first_name", From: "derived"})
		if l.LastName != "" {
			addTrace(trace, Trace{Field: "last_name", From: "derived"})
		}
		return
	}
	if l.FullName == "" && (l.FirstName != "" || l.LastName != "") {
		l.FullName = strings.TrimSpace(l.FirstName + " " + l.LastName)
		addTrace(trace, Trace{Field: "full_name", From: "derived"})
	}
}

// collapseSpaces turns runs of white space into one space, allocating only
// when there is such a run.
func collapseSpaces(s string) string {
	prev := false
	for _, r := range s {
		sp := isSpace(r)
		if sp && (prev || r != ' ') {
			return strings.Join(strings.FieldsFunc(s, isSpace), " ")
		}
		prev = sp
	}
	return s
}

// mapArrays maps the assets element-wise and computes the group_by
// breakdown, walking each element once (once in all when both read the
// same array, as Leadsie's connectionAssets).
func (m *Mapping) mapArrays(s *scratch, l *lead.Lead, trace *[]Trace, errs []FieldError) []FieldError {
	both := m.both
	if m.assets != nil {
		if arr := m.body(s, m.assets.each); arr.IsArray() {
			m.eachObject(s, arr, func(i int, e gjson.Result) { m.arrayElem(s, i, e) })
			errs = append(errs, s.arrErrs...)
		}
		if len(s.assets) > 0 {
			// One allocation of the right size; the buffer stays in the pool.
			l.Assets = slices.Clone(s.assets)
			addTrace(trace, Trace{Field: "assets", Path: m.assets.each.raw, From: "body"})
		} else if trace != nil {
			*trace = append(*trace, Trace{Field: "assets", From: "empty", Tried: []string{m.assets.each.raw}})
		}
	}
	if m.group != nil {
		if arr := m.body(s, &m.group.each); !both && arr.IsArray() {
			m.eachObject(s, arr, func(_ int, e gjson.Result) {
				m.groupElem(s, e)
			})
		}
		m.groupFields(s, l, trace)
	}
	return errs
}

// arrayElem maps element i of the assets array, and adds it to the
// group_by breakdown when that reads the same array; its problems wait in
// s.arrErrs for mapArrays.
func (m *Mapping) arrayElem(s *scratch, i int, e gjson.Result) {
	s.arrErrs = m.assetElem(s, e, i, s.arrErrs)
	if m.both {
		m.groupElem(s, e)
	}
}

// assetElem maps element i of the assets array.
func (m *Mapping) assetElem(s *scratch, e gjson.Result, i int, errs []FieldError) []FieldError {
	var a lead.Asset
	for _, f := range m.assets.sub {
		if len(f.paths) == 1 && len(f.transforms) == 0 {
			// Nearly every asset value is a string or a boolean as the
			// field wants it: set it without convert's call; anything
			// else goes the general way below.
			r := elemGet(s, e, &f.paths[0])
			switch {
			case r.Type == gjson.String && f.typ == typeString:
				str := r.Str
				if !plain(str) {
					str = strings.TrimSpace(str)
				}
				if str != "" {
					setAsset(&a, f.kind, value{t: typeString, s: str})
					continue
				}
			case (r.Type == gjson.True || r.Type == gjson.False) && f.typ == typeBool:
				setAsset(&a, f.kind, value{t: typeBool, b: r.Type == gjson.True})
				continue
			}
		}
		v, ok := value{}, false
		for k := range f.paths {
			var problem string
			v, problem, ok = convert(elemGet(s, e, &f.paths[k]), f.typ, f.transforms)
			if problem != "" {
				errs = append(errs, FieldError{Field: "assets[" + strconv.Itoa(i) + "]." + f.target, Problem: problem})
			}
			if ok || problem != "" {
				break
			}
		}
		if !ok {
			if !f.hasDef {
				continue
			}
			v = f.def
		}
		setAsset(&a, f.kind, v)
	}
	s.assets = append(s.assets, a)
	return errs
}

func setAsset(a *lead.Asset, kind targetKind, v value) {
	switch kind {
	case aType:
		a.Type = v.s
	case aName:
		a.Name = v.s
	case aID:
		a.ID = v.s
	case aOK:
		a.OK = v.b
	case aMessage:
		a.Message = v.s
	case aTime:
		a.Time = v.s
	}
}

// groupElem adds one element to the per-key breakdown the Leadsie seed's
// Zapier script computes: acc = (acc + join + value).strip(join chars).
func (m *Mapping) groupElem(s *scratch, e gjson.Result) {
	g := m.group
	raw, _ := scalarText(elemGet(s, e, &g.key))
	if raw == "" {
		return
	}
	gi := -1
	for i := range s.groups {
		if s.groups[i].raw == raw {
			gi = i
			break
		}
	}
	if gi < 0 {
		names := m.groupNames(raw)
		for i := range s.groups {
			if s.groups[i].names[0] == names[0] {
				gi = i
				break
			}
		}
		if gi < 0 {
			s.groups = append(s.groups, group{raw: raw, names: names, off: len(s.gvals)})
			for range g.fields {
				s.gvals = append(s.gvals, "")
			}
			gi = len(s.groups) - 1
		}
	}
	vals := s.gvals[s.groups[gi].off:][:len(g.fields)]
	for j := range g.fields {
		val, ok := scalarText(elemGet(s, e, &g.fields[j].path))
		if !ok {
			continue
		}
		if vals[j] == "" {
			vals[j] = g.trim(val)
		} else {
			vals[j] = g.trim(vals[j] + g.join + val)
		}
	}
}

// groupFields writes the breakdown into lead.fields; a key some field
// already set is left alone.
func (m *Mapping) groupFields(s *scratch, l *lead.Lead, trace *[]Trace) {
	for _, gr := range s.groups {
		vals := s.gvals[gr.off:][:len(m.group.fields)]
		for j, full := range gr.names {
			if vals[j] == "" {
				continue
			}
			key := full[len("fields."):]
			if m.groupClash {
				if _, taken := l.Fields[key]; taken {
					continue
				}
			}
			m.setField(l, key, vals[j])
			addTrace(trace, Trace{Field: full, Path: m.group.each.raw, From: "group_by"})
		}
	}
}

// restBudget is how many more keys rest may copy from one payload
// (lead.MaxFields in all, a lead's bound), and how many it left out.
type restBudget struct{ left, dropped int }

// mapRest copies unmapped pairs or object keys into lead.fields; values
// that are objects (or lists holding one) are left out, and so are the keys
// past the payload's budget: a sender inventing thousands of keys costs a
// bounded lead.
func (m *Mapping) mapRest(s *scratch, l *lead.Lead, trace *[]Trace, rs *restSpec, budget *restBudget) {
	add := func(key string, r gjson.Result) {
		if _, taken := l.Fields[key]; taken {
			return
		}
		v, _, ok := convert(&r, typeAuto, nil)
		if !ok {
			return
		}
		if budget.left == 0 {
			budget.dropped++
			return
		}
		budget.left--
		m.setField(l, key, v.any())
		if trace != nil {
			*trace = append(*trace, Trace{Field: "fields." + key, Path: rs.raw, From: "rest"})
		}
	}
	if rs.pairs {
		for _, e := range m.pairList(s) {
			if !m.pairUsed[e.k] {
				add(e.orig, e.v)
			}
		}
		return
	}
	consumed := m.consumed[rs.prefix]
	list, _ := m.index(s, rs.prefix)
	for _, e := range list {
		if !consumed[e.k] && e.k != "" {
			add(e.k, e.v)
		}
	}
}

// tried names a field's paths for the trace of an empty field: as written,
// with the source prefix a long form's from: implied.
func tried(paths []pathSpec) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = p.raw
		if p.from != fromBody && !strings.HasPrefix(p.raw, sourceNames[p.from]+":") {
			out[i] = sourceNames[p.from] + ":" + p.raw
		}
	}
	return out
}

// addTrace records t when the caller asked for a trace.
func addTrace(trace *[]Trace, t Trace) {
	if trace != nil {
		*trace = append(*trace, t)
	}
}

func present(l *lead.Lead, t targetRef, scoreSet bool) bool {
	switch t.kind {
	case tScore:
		return scoreSet
	case tAssets:
		return len(l.Assets) > 0
	case tField:
		_, ok := l.Fields[t.key]
		return ok
	}
	return *strField(l, t.kind) != ""
}

func failed(errs []FieldError, name string) bool {
	for _, e := range errs {
		if e.Field == name {
			return true
		}
	}
	return false
}

// identify lists the lead's index keys: email, phone, then the first
// non-empty identity target, rendered by lead.Text (so a number beyond
// int64 or a decimal identifies as its text); a value too long to be a
// key is hashed (identityValue).
func (m *Mapping) identify(l *lead.Lead, scoreSet bool) (ids []string) {
	if l.Email != "" {
		ids = append(ids, "email:"+identityValue(l.Email))
	}
	if l.Phone != "" {
		ids = append(ids, "phone:"+identityValue(l.Phone))
	}
	for _, f := range m.identity {
		var v string
		switch f.kind {
		case tScore:
			if scoreSet {
				v = strconv.FormatInt(l.Score, 10)
			}
		case tField:
			if x, ok := l.Fields[f.key]; ok {
				v = lead.Text(x)
			}
		default:
			v = *strField(l, f.kind)
		}
		if v != "" {
			return append(ids, "key:"+m.name+":"+identityValue(v))
		}
	}
	return ids
}

func (m *Mapping) noIdentity() string {
	names := []string{"email", "phone"}
	for _, f := range m.identity {
		names = append(names, f.target)
	}
	return "nothing identifies the lead: want one of " + strings.Join(names, ", ")
}

// RateKey is the inbound rate limiter's client key for this request, as
// rate_limit_key says: "ip:<addr>", "body:<v>", "query:<v>" or
// "header:<v>". An empty body, query or header value falls back to the
// client address.
func (m *Mapping) RateKey(in Input) string {
	var v, kind string
	switch m.rate.kind {
	case rateBody:
		v, kind = strings.TrimSpace(gjson.GetBytes(in.Body, m.rate.name).String()), "body:"
	case rateQuery:
		v, kind = strings.TrimSpace(in.query(m.rate.name)), "query:"
	case rateHeader:
		v, kind = strings.TrimSpace(in.header(m.rate.name)), "header:"
	}
	if v == "" {
		return "ip:" + in.RemoteIP
	}
	return kind + v
}
