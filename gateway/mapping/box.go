package mapping

import "unsafe"

// boxes puts one lead's string values into lead.fields with one allocation
// for them all. Storing a string in an any copies its header into a new
// 16-byte object, and a Leadsie lead has some twenty such values (three
// fields and the group_by breakdown): that was most of Map's allocations.
// boxes keeps the headers side by side in one array and points each
// interface value at its own, exactly where Go would have pointed it at
// the copy. Nothing writes to an element after it is boxed, and a full
// array is never reused (the next string goes into a new one), so every
// value stays what it was made with, as any boxed string does.
type boxes struct {
	strs []string
	size int // the first array's length, Mapping.nFields
}

// Boxed "true" and "false", which every Leadsie asset's is_success is:
// shared, they cost no room at all.
var boxedTrue, boxedFalse any = "true", "false"

// eface is the layout of an any: its type and a pointer to its value.
type eface struct {
	typ, data unsafe.Pointer
}

// str returns s as an any.
func (b *boxes) str(s string) any {
	switch s {
	case "":
		return ""
	case "true":
		return boxedTrue
	case "false":
		return boxedFalse
	}
	if len(b.strs) == cap(b.strs) {
		b.strs = make([]string, 0, max(b.size, 4))
	}
	b.strs = append(b.strs, s)
	var v any = "" // the string type, with no allocation
	(*eface)(unsafe.Pointer(&v)).data = unsafe.Pointer(&b.strs[len(b.strs)-1])
	return v
}

// value returns v as lead.fields holds it.
func (b *boxes) value(v value) any {
	if v.t == typeString {
		return b.str(v.s)
	}
	return v.any()
}
