package lead

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Text renders a Fields value (or any value a mapping produced) as text:
// what an identity key is made of, what a form-encoded or Ledsak body
// carries for it, and what Decide compares. It is the one renderer of
// values to text, so a value identifies, is delivered and is compared the
// same way everywhere:
//   - a string is itself, a bool "true" or "false", nil "";
//   - an integer is its decimal digits;
//   - a json.Number (a JSON number kept as it was written: 5000.50,
//     12345678901234567890, 1e3) is its text, unchanged;
//   - a float64 is what its JSON is (5000.5, 1e+21), so a float stored as
//     JSON and read back as a json.Number renders alike.
//
// Anything else is rendered by fmt.
func Text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
		return string(appendFloat(nil, x))
	case float32:
		return Text(float64(x))
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// kind sorts values for sameValue: a number and a string of the same text
// are different values.
type kind uint8

const (
	kindOther kind = iota
	kindNil
	kindString
	kindNumber
	kindBool
)

func kindOf(v any) kind {
	switch v.(type) {
	case nil:
		return kindNil
	case string:
		return kindString
	case json.Number, int, int32, int64, uint64, float32, float64:
		return kindNumber
	case bool:
		return kindBool
	}
	return kindOther
}
