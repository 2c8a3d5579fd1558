package mapping

import (
	"strconv"
	"unicode/utf8"

	"leadgate/gateway/lead"
)

// Size limits of a mapped lead. A value over one is a 422 naming the
// field: a lead that cannot be stored must be refused before the store
// sees it (bbolt rejects keys over 4096 bytes, and the identity is a key).
const (
	// MaxEmail is the longest email, in characters (RFC 3696 errata: 320).
	MaxEmail = 320
	// MaxPhone is the longest phone number, in characters; E.164 has 15
	// digits, the rest leaves room for an unnormalized one.
	MaxPhone = 32
	// MaxKey is the longest identity key value ("key:" identity), and the
	// longest name of a lead.fields entry, in characters.
	MaxKey = 256
	// MaxValue is the longest of any other string value, in bytes.
	MaxValue = 64 << 10
)

// checkSizes appends a problem for each value of l over its limit. It runs
// on every request: nothing is built unless a value is over.
func checkSizes(l *lead.Lead, errs []FieldError) []FieldError {
	over := func(s string, limit int, chars bool) bool {
		// Characters never outnumber bytes: count them only when the
		// bytes are over the limit.
		return len(s) > limit && (!chars || utf8.RuneCountInString(s) > limit)
	}
	add := func(field string, limit int, unit string) {
		errs = append(errs, FieldError{Field: field, Problem: "is longer than " + strconv.Itoa(limit) + " " + unit})
	}
	if over(l.Email, MaxEmail, true) {
		add("email", MaxEmail, "characters")
	}
	if over(l.Phone, MaxPhone, true) {
		add("phone", MaxPhone, "characters")
	}
	str := func(name, s string) {
		if over(s, MaxValue, false) {
			add(name, MaxValue, "bytes")
		}
	}
	str("first_name", l.FirstName)
	str("last_name", l.LastName)
	str("full_name", l.FullName)
	str("company", l.Company)
	str("website", l.Website)
	str("position", l.Position)
	str("twitter", l.Twitter)
	str("linkedin", l.LinkedIn)
	str("notes", l.Notes)
	str("client", l.Client)
	str("branch", l.Branch)
	str("landing_page", l.LandingPage)
	str("user", l.User)
	str("status", l.Status)
	for i := range l.Assets {
		a := &l.Assets[i]
		for _, f := range [...]struct {
			name string
			s    *string
		}{{"type", &a.Type}, {"name", &a.Name}, {"id", &a.ID}, {"message", &a.Message}, {"time", &a.Time}} {
			if over(*f.s, MaxValue, false) {
				add("assets["+strconv.Itoa(i)+"]."+f.name, MaxValue, "bytes")
			}
		}
	}
	for k, v := range l.Fields {
		if over(k, MaxKey, true) {
			errs = append(errs, FieldError{Field: "fields." + clip(k, 32) + "…", Problem: "name is longer than " + strconv.Itoa(MaxKey) + " characters"})
			continue
		}
		if s, ok := v.(string); ok && over(s, MaxValue, false) {
			add("fields."+k, MaxValue, "bytes")
		}
	}
	return errs
}

// clip returns at most n bytes of s, cut at a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
