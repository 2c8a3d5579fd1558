package mapping

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// value is one coerced value.
type value struct {
	t valueType
	s string
	i int64
	f float64
	b bool
}

// any is the value as lead.Lead.Fields holds it.
func (v value) any() any {
	switch v.t {
	case typeInt:
		return v.i
	case typeFloat:
		return v.f
	case typeBool:
		return v.b
	case typeNumber:
		return json.Number(v.s)
	}
	return v.s
}

const (
	problemInt    = "must be an integer"
	problemFloat  = "must be a number"
	problemBool   = "must be true or false"
	problemObject = "must be a value, not an object"
	problemList   = "must be a single value, not a list or object"
)

// convert turns a JSON value into t, applying transforms to its string
// form (r is a pointer: a Result is 80 bytes). ok is false for an absent,
// null or empty value (after trimming and
// transforms), which the caller skips; a non-empty problem is a type error.
func convert(r *gjson.Result, t valueType, trs []transform) (v value, problem string, ok bool) {
	// Plain strings and booleans, most of what arrives, skip the string
	// round trip below and end as it would.
	if len(trs) == 0 {
		switch {
		case r.Type == gjson.String && (t == typeString || t == typeAuto):
			s := r.Str
			if !plain(s) {
				s = strings.TrimSpace(s)
			}
			if s != "" {
				return value{t: typeString, s: s}, "", true
			}
			return value{}, "", false
		case (r.Type == gjson.True || r.Type == gjson.False) && (t == typeBool || t == typeAuto):
			return value{t: typeBool, b: r.Type == gjson.True}, "", true
		}
	}
	var s string
	switch r.Type {
	case gjson.Null:
		return value{}, "", false
	case gjson.String:
		s = r.Str
	case gjson.Number:
		if t == typeAuto && len(trs) == 0 {
			if i, err := strconv.ParseInt(r.Raw, 10, 64); err == nil {
				return value{t: typeInt, i: i}, "", true
			}
			return value{t: typeNumber, s: r.Raw}, "", true
		}
		s = r.Raw
	case gjson.True, gjson.False:
		if t == typeAuto && len(trs) == 0 {
			return value{t: typeBool, b: r.Type == gjson.True}, "", true
		}
		s = "false"
		if r.Type == gjson.True {
			s = "true"
		}
	case gjson.JSON:
		if t != typeString && t != typeAuto {
			return value{}, problemList, false
		}
		joined, ok := joinArray(*r)
		if !ok {
			return value{}, problemObject, false
		}
		s = joined
	}
	s = strings.TrimSpace(s)
	for _, tr := range trs {
		s = tr(s)
	}
	if s == "" {
		return value{}, "", false
	}
	if t == typeAuto {
		t = typeString
	}
	return coerce(s, t)
}

// plain reports whether s starts and ends with printable ASCII, so that
// strings.TrimSpace, which is not inlined, would leave it as it is: every
// space it removes is either at most ' ' or not ASCII.
func plain(s string) bool {
	n := len(s)
	return n > 0 && printable[s[0]] && printable[s[n-1]]
}

// printable marks the ASCII bytes above ' '.
var printable = func() (t [256]bool) {
	for c := '!'; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	return t
}()

// scalarText is a JSON scalar's string form; ok is false for objects and
// arrays.
func scalarText(r *gjson.Result) (string, bool) {
	switch r.Type {
	case gjson.String:
		return r.Str, true
	case gjson.Number:
		return r.Raw, true
	case gjson.True:
		return "true", true
	case gjson.False:
		return "false", true
	case gjson.Null:
		return "", true
	}
	return "", false
}

// joinArray joins an array of scalars with ", " (a form's repeated key);
// ok is false for an object or an array holding one.
func joinArray(r gjson.Result) (string, bool) {
	if !r.IsArray() {
		return "", false
	}
	var (
		b  strings.Builder
		ok = true
	)
	r.ForEach(func(_, e gjson.Result) bool {
		s, scalar := scalarText(&e)
		if !scalar {
			ok = false
			return false
		}
		if s = strings.TrimSpace(s); s == "" {
			return true
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s)
		return true
	})
	return b.String(), ok
}

// coerce parses a non-empty string as t.
func coerce(s string, t valueType) (value, string, bool) {
	if s == "" {
		return value{}, "", false
	}
	switch t {
	case typeInt:
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return value{t: typeInt, i: i}, "", true
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
			return value{}, problemInt, false
		}
		return value{t: typeInt, i: int64(f)}, "", true
	case typeFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return value{}, problemFloat, false
		}
		return value{t: typeFloat, f: f}, "", true
	case typeBool:
		switch strings.ToLower(s) {
		case "true", "1", "yes", "y", "on":
			return value{t: typeBool, b: true}, "", true
		case "false", "0", "no", "n", "off":
			return value{t: typeBool}, "", true
		}
		return value{}, problemBool, false
	}
	return value{t: typeString, s: s}, "", true
}

// transform rewrites a trimmed string value.
type transform func(string) string

// parseTransform compiles a transform name: trim, lower, upper, digits,
// e164 or e164:<country calling code>, given_name, family_name.
func parseTransform(name string) (transform, error) {
	switch name {
	case "trim":
		return strings.TrimSpace, nil
	case "lower":
		return strings.ToLower, nil
	case "upper":
		return strings.ToUpper, nil
	case "digits":
		return digits, nil
	case "e164":
		return func(s string) string { return e164(s, "") }, nil
	case "given_name":
		return func(s string) string { first, _ := splitName(s); return first }, nil
	case "family_name":
		return func(s string) string { _, last := splitName(s); return last }, nil
	}
	if cc, ok := strings.CutPrefix(name, "e164:"); ok {
		if cc == "" || digits(cc) != cc || len(cc) > 3 {
			return nil, fmt.Errorf("transform %q: the country calling code must be 1 to 3 digits", name)
		}
		return func(s string) string { return e164(s, cc) }, nil
	}
	return nil, fmt.Errorf("unknown transform %q (want trim, lower, upper, digits, e164, e164:<code>, given_name, family_name)", name)
}

// digits keeps the ASCII digits of s.
func digits(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	if n == len(s) {
		return s
	}
	b := make([]byte, 0, n)
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// e164 normalizes a phone number to +<digits>. A number written with + or
// 00 keeps its country code; one without takes cc (dropping a national
// trunk 0) when it starts with 0 or has 10 digits or fewer, and is taken to
// hold its country code when it has more than 10 digits. A number that
// cannot be made into 7 to 15 digits is returned as it was, and one with no
// country code to give it stays digits only.
func e164(s, cc string) string {
	s = strings.TrimSpace(s)
	intl := strings.HasPrefix(s, "+")
	d := digits(s)
	if !intl && strings.HasPrefix(d, "00") {
		d, intl = d[2:], true
	}
	if d == "" {
		return ""
	}
	if !intl {
		switch {
		case cc != "" && (d[0] == '0' || len(d) <= 10):
			d, intl = cc+strings.TrimPrefix(d, "0"), true
		case len(d) > 10 && d[0] != '0':
			intl = true
		}
	}
	if len(d) < 7 || len(d) > 15 {
		return s
	}
	if !intl {
		return d
	}
	return "+" + d
}

// splitName splits a full name at its first space: the first word is the
// first name and the rest the last name.
func splitName(s string) (first, last string) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, isSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\u00a0' || r == '\u3000'
}
