package lead

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// Draft is one event Decide says a payload makes, before the store gives it
// an id, a lead id and a time.
type Draft struct {
	// Event is one of the event name constants.
	Event string
	// Changed names the changed fields, for lead.updated,
	// lead.score_changed and lead.field_updated; nil otherwise.
	Changed []string
}

// Decide merges next, the lead a payload normalized to, into prev, the lead
// last stored under the same lead id (nil when the lead id is new), and says
// which events that makes, keeping only those named in emits (the source's
// declared events; nil emits nothing). It is pure: the store calls it inside
// its write so that concurrent payloads for one person see each other.
//
// Merging: a non-empty value of next overwrites, except the email, which
// is only ever added to a lead that has none (a known email is never
// replaced: two emails are two people); an empty string, an absent
// score (zero without HasScore) or an empty asset list never clears a known
// value, while a score of 0 with HasScore does. Fields merge key
// by key with the same rule (nil and "" are empty; false and 0 are values),
// and a non-empty Assets list replaces the whole list. Fields then keep
// within MaxFields and MaxFieldsBytes (boundFields says which keys stay);
// merged.FieldsDropped counts what was left out. Email is trimmed and
// lower-cased, and FullName is recomputed from FirstName and LastName
// whenever either is known.
//
// Events, in the order of EventNames:
//   - form.submitted on every payload, when emitted;
//   - lead.created when prev is nil, and then no other lead.* event;
//   - lead.updated and lead.field_updated when prev is known and a field
//     changed, with Changed listing the canonical JSON names of what
//     changed ("score", "first_name", "fields.budget", "assets"), fields in
//     the Lead's order and then fields.* sorted;
//   - lead.score_changed, with Changed ["score"], when the score changed;
//   - connection.created on every payload, when emitted.
//
// A known lead that did not change makes no lead.* event.
func Decide(prev *Lead, next Lead, emits []string) (merged Lead, events []Draft) {
	var changed []string
	if prev == nil {
		merged = merge(Lead{}, next)
	} else {
		merged = merge(*prev, next)
		changed = Diff(*prev, merged)
	}
	want := func(name string) bool { return slices.Contains(emits, name) }
	add := func(name string, ch []string) {
		if want(name) {
			if events == nil {
				events = make([]Draft, 0, 3) // a form's two, an update's three
			}
			events = append(events, Draft{Event: name, Changed: ch})
		}
	}
	add(FormSubmitted, nil)
	switch {
	case prev == nil:
		add(LeadCreated, nil)
	case len(changed) > 0:
		add(LeadUpdated, changed)
		if slices.Contains(changed, "score") {
			add(LeadScoreChanged, []string{"score"})
		}
		add(LeadFieldUpdated, changed)
	}
	add(ConnectionCreated, nil)
	// Each draft gets its own slice so that a caller editing one event's
	// Changed cannot edit another's.
	for i := range events {
		events[i].Changed = slices.Clone(events[i].Changed)
	}
	return merged, events
}

// merge applies next over base by the rules Decide documents.
func merge(base, next Lead) Lead {
	m := base
	str := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	// A known email is never replaced: a lead is one person, and the
	// store only resolves a payload with another email to this lead when
	// the lead has none yet (contract section 4).
	m.Email = strings.ToLower(strings.TrimSpace(m.Email))
	if m.Email == "" {
		m.Email = strings.ToLower(strings.TrimSpace(next.Email))
	}
	str(&m.Phone, next.Phone)
	str(&m.FirstName, next.FirstName)
	str(&m.LastName, next.LastName)
	str(&m.FullName, next.FullName)
	str(&m.Company, next.Company)
	str(&m.Website, next.Website)
	str(&m.Position, next.Position)
	str(&m.Twitter, next.Twitter)
	str(&m.LinkedIn, next.LinkedIn)
	str(&m.Notes, next.Notes)
	if next.Score != 0 || next.HasScore {
		m.Score = next.Score
	}
	m.HasScore = false
	str(&m.Client, next.Client)
	str(&m.Branch, next.Branch)
	str(&m.LandingPage, next.LandingPage)
	str(&m.User, next.User)
	str(&m.Status, next.Status)
	if len(next.Assets) > 0 {
		m.Assets = slices.Clone(next.Assets)
	} else {
		m.Assets = slices.Clone(base.Assets)
	}
	m.Fields = maps.Clone(base.Fields)
	for k, v := range next.Fields {
		if isEmpty(v) {
			continue
		}
		if old, ok := m.Fields[k]; ok && sameValue(old, v) {
			continue // keep the stored form of an equal number
		}
		if m.Fields == nil {
			m.Fields = make(map[string]any, len(next.Fields))
		}
		m.Fields[k] = v
	}
	m.FieldsDropped = boundFields(base.Fields, m.Fields)
	if (m.FirstName != "" || m.LastName != "") && !isFullName(m.FullName, m.FirstName, m.LastName) {
		m.FullName = strings.TrimSpace(m.FirstName + " " + m.LastName)
	}
	return m
}

// isFullName says whether full already is strings.TrimSpace(first + " " +
// last), without building that string: a mapping usually fills all three
// alike, and the check spares an allocation per payload. It answers false
// when the names carry outer spaces, leaving those to the concatenation.
func isFullName(full, first, last string) bool {
	if first == "" || last == "" || strings.TrimSpace(first) != first || strings.TrimSpace(last) != last {
		return false
	}
	return len(full) == len(first)+1+len(last) && strings.HasPrefix(full, first) &&
		full[len(first)] == ' ' && strings.HasSuffix(full, last)
}

// Diff names the fields whose values differ between a and b, by their
// canonical JSON names, in the Lead's field order and then "fields.<key>"
// sorted. Numbers in Fields compare by value, so an int64 read back from
// JSON as a float64 or json.Number is not a change.
func Diff(a, b Lead) []string {
	var out []string
	str := func(name, x, y string) {
		if x != y {
			out = append(out, name)
		}
	}
	str("email", a.Email, b.Email)
	str("phone", a.Phone, b.Phone)
	str("first_name", a.FirstName, b.FirstName)
	str("last_name", a.LastName, b.LastName)
	str("full_name", a.FullName, b.FullName)
	str("company", a.Company, b.Company)
	str("website", a.Website, b.Website)
	str("position", a.Position, b.Position)
	str("twitter", a.Twitter, b.Twitter)
	str("linkedin", a.LinkedIn, b.LinkedIn)
	str("notes", a.Notes, b.Notes)
	if a.Score != b.Score {
		out = append(out, "score")
	}
	str("client", a.Client, b.Client)
	str("branch", a.Branch, b.Branch)
	str("landing_page", a.LandingPage, b.LandingPage)
	str("user", a.User, b.User)
	str("status", a.Status, b.Status)
	if !slices.Equal(a.Assets, b.Assets) {
		out = append(out, "assets")
	}
	keys := make([]string, 0, len(a.Fields)+len(b.Fields))
	for k := range a.Fields {
		keys = append(keys, k)
	}
	for k := range b.Fields {
		if _, ok := a.Fields[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		x, xok := a.Fields[k]
		y, yok := b.Fields[k]
		if xok != yok || !sameValue(x, y) {
			out = append(out, "fields."+k)
		}
	}
	return out
}

// isEmpty reports a Fields value that must not overwrite a known one.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	}
	return false
}

// sameValue compares two Fields values: the same kind (string, number,
// bool, nil) and the same Text, so a number read back from the stored JSON
// (a json.Number) equals the int64 or float64 it was written from, and a
// number equals another only when it would be delivered as the same text.
func sameValue(x, y any) bool {
	kx, ky := kindOf(x), kindOf(y)
	if kx != ky {
		return false
	}
	if kx == kindOther {
		// Values outside the documented types: compare their JSON.
		a, errA := json.Marshal(x)
		b, errB := json.Marshal(y)
		return errA == nil && errB == nil && string(a) == string(b)
	}
	return Text(x) == Text(y)
}
