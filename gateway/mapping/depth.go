package mapping

import "bytes"

// MaxDepth is how deeply a body's JSON may nest arrays and objects
// (contract §3): `{}` is one level, `{"a":[]}` two. A deeper body is a 400.
// Real webhooks nest a handful of levels; the bound keeps every parser that
// recurses per level (gjson's validator, encoding/json) to a small stack,
// whatever a sender posts.
const MaxDepth = 64

// jsonDepth is the deepest nesting of arrays and objects in b, counting
// brackets and braces outside strings, or limit+1 as soon as b goes deeper
// than limit. It is one loop with a counter and never recurses, so it can
// run on any body before anything that does. It does not validate: for
// valid JSON it is the nesting depth, and for anything else a number that
// the validator after it will not need.
func jsonDepth(b []byte, limit int) int {
	depth, deepest := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			// Skip the string: to its closing quote, jumping over each
			// escaped byte (an escaped quote does not close it).
			for i++; i < len(b); i++ {
				j := bytes.IndexAny(b[i:], `"\`)
				if j < 0 {
					return deepest // unterminated: invalid anyway
				}
				i += j
				if b[i] == '"' {
					break
				}
				i++ // the escaped byte
			}
		case '[', '{':
			depth++
			if depth > deepest {
				deepest = depth
				if deepest > limit {
					return deepest
				}
			}
		case ']', '}':
			depth--
		}
	}
	return deepest
}
