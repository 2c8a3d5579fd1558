package lead

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// AppendLeadJSON appends l's JSON, byte for byte what encoding/json writes
// for it, without reflection: the stores encode the lead once per payload
// and the deliveries once per attempt, and reflecting over the Lead and
// sorting its Fields through encoding/json was most of that cost.
// escapeHTML picks json.Marshal's escaping of <, > and & (what the stores
// keep) or that of an Encoder with SetEscapeHTML(false) (what deliveries
// send). A Fields value of a type other than string, int, int64, bool,
// nil or a finite float64 goes through encoding/json itself, so the bytes
// never differ; its errors (a NaN, a channel) are returned.
func AppendLeadJSON(b []byte, l *Lead, escapeHTML bool) ([]byte, error) {
	b = append(b, '{')
	b, first := appendLeadScalars(b, l, escapeHTML)
	if len(l.Assets) > 0 {
		b = appendKey(b, &first, `"assets":[`)
		for i := range l.Assets {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendAsset(b, &l.Assets[i], escapeHTML)
		}
		b = append(b, ']')
	}
	if len(l.Fields) > 0 {
		b = appendKey(b, &first, `"fields":`)
		var err error
		if b, err = appendFields(b, l.Fields, escapeHTML); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendKey appends key (quoted, with its colon), after a comma unless it
// is the object's first.
func appendKey(b []byte, first *bool, key string) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	return append(b, key...)
}

// appendLeadScalars appends l's non-empty named fields in the Lead's
// field order, and answers whether it appended none.
func appendLeadScalars(b []byte, l *Lead, escapeHTML bool) (_ []byte, first bool) {
	first = true
	str := func(key, v string) {
		if v != "" {
			b = appendKey(b, &first, key)
			b = AppendJSONString(b, v, escapeHTML)
		}
	}
	str(`"email":`, l.Email)
	str(`"phone":`, l.Phone)
	str(`"first_name":`, l.FirstName)
	str(`"last_name":`, l.LastName)
	str(`"full_name":`, l.FullName)
	str(`"company":`, l.Company)
	str(`"website":`, l.Website)
	str(`"position":`, l.Position)
	str(`"twitter":`, l.Twitter)
	str(`"linkedin":`, l.LinkedIn)
	str(`"notes":`, l.Notes)
	if l.Score != 0 {
		b = appendKey(b, &first, `"score":`)
		b = strconv.AppendInt(b, l.Score, 10)
	}
	str(`"client":`, l.Client)
	str(`"branch":`, l.Branch)
	str(`"landing_page":`, l.LandingPage)
	str(`"user":`, l.User)
	str(`"status":`, l.Status)
	return b, first
}

// appendFields appends fields as a JSON object with sorted keys, as
// encoding/json writes a map.
func appendFields(b []byte, fields map[string]any, escapeHTML bool) ([]byte, error) {
	b = append(b, '{')
	var stack [16]string // most leads have a handful of extras
	keys := stack[:0]
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, k, escapeHTML)
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, fields[k], escapeHTML); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendAsset(b []byte, a *Asset, escapeHTML bool) []byte {
	b = append(b, '{')
	str := func(key, v string) {
		if v != "" {
			b = append(b, key...)
			b = AppendJSONString(b, v, escapeHTML)
			b = append(b, ',')
		}
	}
	str(`"type":`, a.Type)
	str(`"name":`, a.Name)
	str(`"id":`, a.ID)
	b = append(b, `"ok":`...)
	b = strconv.AppendBool(b, a.OK)
	if a.Message != "" {
		b = append(b, `,"message":`...)
		b = AppendJSONString(b, a.Message, escapeHTML)
	}
	if a.Time != "" {
		b = append(b, `,"time":`...)
		b = AppendJSONString(b, a.Time, escapeHTML)
	}
	return append(b, '}')
}

// appendValue writes a Fields value: the documented types directly,
// anything else as encoding/json does.
func appendValue(b []byte, v any, escapeHTML bool) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return AppendJSONString(b, x, escapeHTML), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case float64:
		if !math.IsInf(x, 0) && !math.IsNaN(x) {
			return appendFloat(b, x), nil
		}
	case nil:
		return append(b, "null"...), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...), nil
}

// appendFloat writes a finite float64 as encoding/json does: %f, or %e
// with a one-digit exponent cleaned up, for very large or small values.
func appendFloat(b []byte, f float64) []byte {
	abs, format := math.Abs(f), byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// AppendJSONString appends s as a JSON string escaped exactly as
// encoding/json escapes it: control characters, quotes and backslashes;
// <, > and & too when escapeHTML is set (json.Marshal) and not when it is
// clear (an Encoder with SetEscapeHTML(false)); invalid UTF-8 becomes
// U+FFFD, and U+2028 and U+2029 are escaped for JavaScript's sake.
func AppendJSONString(b []byte, s string, escapeHTML bool) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!escapeHTML || (c != '<' && c != '>' && c != '&')) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
