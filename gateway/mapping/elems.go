package mapping

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// This file walks an array of objects (Leadsie's connectionAssets) in one
// pass. gjson's ForEach over the array scans each element to its end to
// hand it over, and a ForEach over the element scans it again; here each
// element's keys are read as the scan meets them, and only the values a
// mapping reads become gjson Results. The body is valid JSON (ParseBody
// checks it); on anything else the walk stops where gjson would give up,
// and never reads past the string.

// eachObject calls fn for every object element of the JSON array that
// starts at js[i] (after any space), with the element's index among all
// elements and the element itself, after leaving the values of the keys
// in Mapping.elemTab in s.elem (those marked in s.elemSet). It returns the
// index after the array.
func (m *Mapping) eachObject(s *scratch, js string, i int, fn func(i int, e gjson.Result)) (int, bool) {
	i = skipSpace(js, i)
	if i >= len(js) || js[i] != '[' {
		return i, false
	}
	i++
	for n := 0; ; n++ {
		i = skipSpace(js, i)
		if i >= len(js) {
			return i, false
		}
		if js[i] == ']' {
			return i + 1, true
		}
		start := i
		var ok bool
		if js[i] == '{' {
			i, ok = m.walkObject(s, js, i)
			if !ok {
				return i, false
			}
			fn(n, gjson.Result{Type: gjson.JSON, Raw: js[start:i]})
		} else if i, ok = skipValue(js, i); !ok {
			return i, false
		}
		i = skipSpace(js, i)
		if i < len(js) && js[i] == ',' {
			i++
		}
	}
}

// walkObject reads the object that starts at js[i] into s.elem (the first
// of repeated keys wins, as with gjson.Get) and returns the index after it.
// s.elemSet says which slots this element set: clearing those flags costs
// nothing, where clearing the Results themselves (80 bytes of pointers
// each) costs write barriers whenever the collector runs.
func (m *Mapping) walkObject(s *scratch, js string, i int) (int, bool) {
	clear(s.elemSet)
	w := objWalk{js: js, i: i + 1}
	for {
		key, raw, esc, ok := w.next()
		if !ok {
			return w.i, w.closed
		}
		if slot, want := m.elemTab.get(key); want && !s.elemSet[slot] {
			s.elemSet[slot] = true
			setValue(&s.elem[slot], raw, esc)
		}
	}
}

// objWalk steps through the keys of one JSON object.
type objWalk struct {
	js     string
	i      int  // after the opening brace, then after each value
	closed bool // the closing brace was read
}

// next returns the next key (unescaped) and its value as written; esc
// says a string value holds an escape. ok is false at the closing brace
// (closed is then set) and at anything that is not JSON.
func (w *objWalk) next() (key, raw string, esc, ok bool) {
	if key, ok = w.nextKey(); !ok {
		return "", "", false, false
	}
	raw, esc, ok = w.value()
	return key, raw, esc, ok
}

// nextKey reads the next key and leaves w.i at the start of its value.
func (w *objWalk) nextKey() (key string, ok bool) {
	js, i := w.js, w.i
	for {
		i = skipSpace(js, i)
		if i >= len(js) {
			w.i = i
			return "", false
		}
		if js[i] != ',' {
			break
		}
		i++
	}
	switch js[i] {
	case '}':
		w.i, w.closed = i+1, true
		return "", false
	case '"':
	default:
		w.i = i
		return "", false
	}
	end, kesc, ok := skipString(js, i)
	if !ok {
		w.i = end
		return "", false
	}
	key = js[i+1 : end-1]
	if kesc {
		key = gjson.Parse(js[i:end]).Str
	}
	i = skipSpace(js, end)
	if i >= len(js) || js[i] != ':' {
		w.i = i
		return "", false
	}
	w.i = skipSpace(js, i+1)
	return key, true
}

// value reads the value at w.i.
func (w *objWalk) value() (raw string, esc, ok bool) {
	js, start := w.js, w.i
	var end int
	if start < len(js) && js[start] == '"' {
		// Most values are strings, and the scan knows their escapes.
		end, esc, ok = skipString(js, start)
	} else {
		end, ok = skipValue(js, start)
	}
	w.i = end
	if !ok {
		return "", false, false
	}
	return js[start:end], esc, true
}

// indexFused indexes the object obj (index i) as Mapping.index does, but
// walks the assets array where it meets it, mapping its elements on the
// way, instead of skipping over it now and walking it again in mapArrays:
// the array is most of a Leadsie body. s.fused says it was mapped so.
func (m *Mapping) indexFused(s *scratch, i int, obj string) []kv {
	list, slots, listed := s.idx[i][:0], &m.keyTab[i], m.listed[i]
	arrSlot := m.assets.each.slot
	w := objWalk{js: obj, i: 1}
	for {
		k, ok := w.nextKey()
		if !ok {
			return list
		}
		slot, want := slots.get(k)
		want = want && s.vals[slot].Raw == ""
		var raw string
		var esc bool
		if want && slot == arrSlot && w.i < len(obj) && obj[w.i] == '[' {
			start := w.i
			end, ok := m.eachObject(s, obj, start, func(n int, e gjson.Result) { m.arrayElem(s, n, e) })
			if !ok {
				return list
			}
			w.i, raw, s.fused = end, obj[start:end], true
		} else if raw, esc, ok = w.value(); !ok {
			return list
		}
		if listed {
			list = append(list, kv{k: k})
			setValue(&list[len(list)-1].v, raw, esc)
		}
		// The first of repeated keys wins, as with gjson.Get.
		if want {
			setValue(&s.vals[slot], raw, esc)
		}
	}
}

// setValue makes *r (Index and Indexes zero) the Result of the JSON value
// raw; esc says a string holds an escape.
func setValue(r *gjson.Result, raw string, esc bool) {
	if raw[0] == '"' {
		setString(r, raw, esc)
		return
	}
	setResult(r, raw)
}

// setResult makes *r (Index and Indexes zero) the gjson Result of one whole JSON value,
// as gjson's ForEach makes it (without Index). It writes r in place: a
// Result is 80 bytes, and copying one whole costs more than the scan.
func setResult(r *gjson.Result, raw string) {
	r.Raw, r.Str, r.Num = raw, "", 0
	switch raw[0] {
	case '"':
		setString(r, raw, strings.IndexByte(raw, '\\') >= 0)
	case '{', '[':
		r.Type = gjson.JSON
	case 't':
		r.Type = gjson.True
	case 'f':
		r.Type = gjson.False
	case 'n':
		r.Type = gjson.Null
	default:
		r.Type = gjson.Number
		r.Num, _ = strconv.ParseFloat(raw, 64)
	}
}

// setString makes *r (Index and Indexes zero) the Result of the JSON string raw; esc
// says whether raw holds an escape, which gjson unescapes.
func setString(r *gjson.Result, raw string, esc bool) {
	r.Type, r.Raw, r.Str, r.Num = gjson.String, raw, raw[1:len(raw)-1], 0
	if esc {
		r.Str = gjson.Parse(raw).Str
	}
}

func skipSpace(js string, i int) int {
	for i < len(js) && js[i] <= ' ' {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at js[i] and
// whether it holds an escape. A byte loop: the strings of a webhook are
// short, and strings.IndexByte costs more to set up than it saves on them.
func skipString(js string, i int) (end int, esc, ok bool) {
	for i++; i < len(js); i++ {
		switch js[i] {
		case '\\':
			esc = true
			i++
		case '"':
			return i + 1, esc, true
		}
	}
	return len(js), esc, false
}

// squashByte marks the bytes that skipValue stops at inside an object or
// array.
var squashByte = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// skipValue returns the index after the JSON value that starts at js[i].
func skipValue(js string, i int) (int, bool) {
	if i >= len(js) {
		return i, false
	}
	switch js[i] {
	case '"':
		end, _, ok := skipString(js, i)
		return end, ok
	case '{', '[':
		// As gjson's squash: only quotes and brackets matter, and a string
		// ends at its first unescaped quote.
		depth := 0
		for i < len(js) {
			for i < len(js) && !squashByte[js[i]] {
				i++
			}
			if i >= len(js) {
				break
			}
			switch js[i] {
			case '"':
				for i++; i < len(js) && js[i] != '"'; i++ {
					if js[i] == '\\' {
						i++
					}
				}
				if i >= len(js) {
					return i, false
				}
			case '{', '[':
				depth++
			default:
				if depth--; depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return len(js), false
	case ',', ':', '}', ']':
		return i, false
	}
	// A number or literal runs to the next delimiter, as in gjson.
	start := i
	for i < len(js) && js[i] > ' ' && js[i] != ',' && js[i] != ']' && js[i] != '}' {
		i++
	}
	return i, i > start
}
