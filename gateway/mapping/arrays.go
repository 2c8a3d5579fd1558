package mapping

// This file maps the arrays: assets element by element, and the group_by
// breakdown, walking each element once for both.

import (
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"leadgate/gateway/lead"
)

// eachObject calls fn for every object element of the array arr, with the
// element's index among all elements and the element itself, after leaving
// the values of the keys in Mapping.elemTab in s.elem (those marked in
// s.elemSet). Each element is walked once, however many of its keys the
// mapping reads.
func (m *Mapping) eachObject(s *scratch, arr gjson.Result, fn func(i int, e gjson.Result)) {
	n := 0
	arr.ForEach(func(_, e gjson.Result) bool {
		if e.IsObject() {
			m.readElem(s, e)
			fn(n, e)
		}
		n++
		return true
	})
}

// readElem reads element e's keys into s.elem; the first of repeated keys
// wins, as with gjson.Get. s.elemSet says which slots this element set:
// clearing those flags is cheaper than clearing the Results.
func (m *Mapping) readElem(s *scratch, e gjson.Result) {
	clear(s.elemSet)
	e.ForEach(func(k, v gjson.Result) bool {
		if slot, want := m.elemTab.get(k.Str); want && !s.elemSet[slot] {
			s.elemSet[slot] = true
			s.elem[slot] = v
		}
		return true
	})
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
				s.addGroupSlot()
			}
			gi = len(s.groups) - 1
		}
	}
	off := s.groups[gi].off
	for j := range g.fields {
		val, ok := scalarText(elemGet(s, e, &g.fields[j].path))
		if !ok {
			continue
		}
		s.joinGroup(off+j, g, val)
	}
}

// groupFields writes the breakdown into lead.fields; a key some field
// already set is left alone.
func (m *Mapping) groupFields(s *scratch, l *lead.Lead, trace *[]Trace) {
	for _, gr := range s.groups {
		for j, full := range gr.names {
			val := s.groupValue(gr.off + j)
			if val == "" {
				continue
			}
			key := full[len("fields."):]
			if m.groupClash {
				if _, taken := l.Fields[key]; taken {
					continue
				}
			}
			m.setField(l, key, val)
			addTrace(trace, Trace{Field: full, Path: m.group.each.raw, From: "group_by"})
		}
	}
}
