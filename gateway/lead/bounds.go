package lead

import "slices"

// Bounds of a lead's Fields (contract §4): every event carries the whole
// lead, so a sender inventing keys must not grow it without end. The
// canonical fields are bounded by the body limit alone.
const (
	// MaxFields is the most keys Fields keeps.
	MaxFields = 200
	// MaxFieldsBytes is the most bytes Fields takes as JSON (escaped as
	// the stores keep it).
	MaxFieldsBytes = 64 << 10
)

// boundFields keeps merged, the Fields that merge made from base (the
// stored lead's) and a payload's, within MaxFields and MaxFieldsBytes, and
// answers how many keys or updates it left out. It decides in a fixed
// order, so replicas and retries agree: the keys base already had (at
// their old values), then their updates, then the new keys, each sorted.
// A known key whose update does not fit keeps its old value; a new key
// that does not fit is left out. So known keys keep being updated, and
// what is dropped is what is new. A lead is never refused for its fields.
func boundFields(base, merged map[string]any) (dropped int) {
	if len(merged) <= MaxFields && fieldsUpperBound(merged) <= MaxFieldsBytes {
		return 0 // nearly every lead: no key to sort, no byte to encode
	}
	old := make([]string, 0, len(base))
	var added []string
	for k := range merged {
		if _, ok := base[k]; ok {
			old = append(old, k)
		} else {
			added = append(added, k)
		}
	}
	slices.Sort(old)
	slices.Sort(added)
	n, size := 0, len("{}")
	var buf []byte
	entry := func(k string, v any) int {
		buf = AppendJSONString(buf[:0], k, true)
		var err error
		if buf, err = appendValue(buf, v, true); err != nil {
			return MaxFieldsBytes + 1 // cannot be stored: never fits
		}
		return len(buf) + len(":,")
	}
	fits := func(k string, v any) bool {
		e := entry(k, v)
		if n >= MaxFields || size+e > MaxFieldsBytes {
			return false
		}
		n, size = n+1, size+e
		return true
	}
	// What the lead held first (within the bounds, unless stored before
	// them), then its updates where they fit, then the new keys.
	for _, k := range old {
		if !fits(k, base[k]) {
			dropped++
			delete(merged, k)
		}
	}
	for _, k := range old {
		v, ok := merged[k]
		if !ok || sameValue(v, base[k]) {
			continue
		}
		if grown := size - entry(k, base[k]) + entry(k, v); grown <= MaxFieldsBytes {
			size = grown
			continue
		}
		dropped++
		merged[k] = base[k]
	}
	for _, k := range added {
		if !fits(k, merged[k]) {
			dropped++
			delete(merged, k)
		}
	}
	return dropped
}

// fieldsUpperBound is at least the JSON size of fields: a string escapes
// to at most six bytes per byte, and the other documented types are short.
func fieldsUpperBound(fields map[string]any) int {
	size := len("{}")
	for k, v := range fields {
		size += 6*len(k) + len(`"":,`)
		switch x := v.(type) {
		case string:
			size += 6*len(x) + len(`""`)
		case int64, int, float64, bool, nil:
			size += 32 // the longest: -9223372036854775808, or a float's %e
		default:
			b, err := appendValue(nil, x, true)
			if err != nil {
				return MaxFieldsBytes + 1 // let boundFields find it
			}
			size += len(b)
		}
	}
	return size
}
