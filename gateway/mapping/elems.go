package mapping

import "github.com/tidwall/gjson"

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
