package mapping

// This file is the interpreter: Map runs a compiled plan over one
// payload.

import (
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"leadgate/gateway/lead"
)

// strField is the lead's string field of kind k.
func strField(l *lead.Lead, k targetKind) *string {
	switch k {
	case tEmail:
		return &l.Email
	case tPhone:
		return &l.Phone
	case tFirstName:
		return &l.FirstName
	case tLastName:
		return &l.LastName
	case tFullName, tName:
		return &l.FullName
	case tCompany:
		return &l.Company
	case tWebsite:
		return &l.Website
	case tPosition:
		return &l.Position
	case tTwitter:
		return &l.Twitter
	case tLinkedIn:
		return &l.LinkedIn
	case tNotes:
		return &l.Notes
	case tClient:
		return &l.Client
	case tBranch:
		return &l.Branch
	case tLandingPage:
		return &l.LandingPage
	case tUser:
		return &l.User
	case tStatus:
		return &l.Status
	}
	return nil
}

func (m *Mapping) setField(l *lead.Lead, key string, v any) {
	if l.Fields == nil {
		l.Fields = make(map[string]any, m.nFields)
	}
	l.Fields[key] = v
}

// Map normalizes one payload into the canonical lead. A payload that maps
// to no valid lead returns *FieldErrors.
func (m *Mapping) Map(in Input) (Result, error) {
	s := m.scratch(in.Body)
	defer s.release()
	var r Result
	l := &r.Lead
	// trace is nil when the caller wants no trace (the server's hot path).
	var trace *[]Trace
	if !in.NoTrace {
		r.Trace = make([]Trace, 0, m.nTrace)
		trace = &r.Trace
	}
	fr := m.mapFields(s, &in, l, trace)
	errs := fr.errs
	if m.assets != nil || m.group != nil {
		errs = m.mapArrays(s, l, trace, errs)
	}
	budget := restBudget{left: lead.MaxFields}
	for i := range m.rest {
		m.mapRest(s, l, trace, &m.rest[i], &budget)
	}
	r.FieldsDropped = budget.dropped
	m.names(l, fr.name, trace)
	if trace != nil {
		// A field its own paths left empty may still be filled: a name
		// split into first and last, a field the rest of the body filled.
		// Only those still empty are traced as empty.
		for _, e := range fr.empties {
			if !slices.ContainsFunc(*trace, func(t Trace) bool { return t.Field == e.Field }) {
				*trace = append(*trace, e)
			}
		}
	}
	for _, req := range m.required {
		if present(l, req, fr.scoreSet) || failed(errs, req.name) {
			continue
		}
		errs = append(errs, FieldError{Field: req.name, Problem: "is required"})
	}
	if r.Identity = m.identify(l, fr.scoreSet); len(r.Identity) == 0 {
		errs = append(errs, FieldError{Field: "identity", Problem: m.noIdentity()})
	}
	if len(errs) > 0 {
		return Result{}, &FieldErrors{Errors: errs}
	}
	return r, nil
}

// fieldsResult is what mapFields leaves for the rest of Map: the single
// name (split later), whether a score was set, the fields' problems, and,
// for the trace, the fields their paths left empty.
type fieldsResult struct {
	name     string
	scoreSet bool
	errs     []FieldError
	empties  []Trace
}

// mapFields evaluates every field into l.
func (m *Mapping) mapFields(s *scratch, in *Input, l *lead.Lead, trace *[]Trace) (fr fieldsResult) {
	for _, f := range m.fields {
		v, p, problem := m.eval(s, in, f)
		if problem != "" {
			fr.errs = append(fr.errs, FieldError{Field: f.target, Problem: problem})
			continue
		}
		t := Trace{Field: f.target}
		switch {
		case p != nil:
			t.Path, t.From = p.raw, sourceNames[p.from]
		case f.hasDef:
			v, t.From = f.def, "default"
		default:
			if trace != nil {
				fr.empties = append(fr.empties, Trace{Field: f.target, From: "empty", Tried: tried(f.paths)})
			}
			continue
		}
		switch f.kind {
		case tScore:
			l.Score, l.HasScore, fr.scoreSet = v.i, true, true
		case tName:
			fr.name = v.s
		case tField:
			m.setField(l, f.key, v.any())
		case tEmail:
			l.Email = strings.ToLower(v.s)
		default:
			*strField(l, f.kind) = v.s
		}
		if trace != nil {
			*trace = append(*trace, t)
		}
	}
	return fr
}

// names applies the name rules: a single name fills full_name and splits
// into first and last when neither is given; full_name is filled from
// first and last.
func (m *Mapping) names(l *lead.Lead, name string, trace *[]Trace) {
	if l.FullName == "" && name != "" {
		l.FullName = name
		addTrace(trace, Trace{Field: "full_name", From: "derived"})
	}
	l.FullName = collapseSpaces(l.FullName)
	if l.FirstName == "" && l.LastName == "" && l.FullName != "" {
		l.FirstName, l.LastName = splitName(l.FullName)
		addTrace(trace, Trace{Field: "first_name", From: "derived"})
		if l.LastName != "" {
			addTrace(trace, Trace{Field: "last_name", From: "derived"})
		}
		return
	}
	if l.FullName == "" && (l.FirstName != "" || l.LastName != "") {
		l.FullName = strings.TrimSpace(l.FirstName + " " + l.LastName)
		addTrace(trace, Trace{Field: "full_name", From: "derived"})
	}
}

// collapseSpaces turns runs of white space into one space, allocating only
// when there is such a run.
func collapseSpaces(s string) string {
	prev := false
	for _, r := range s {
		sp := isSpace(r)
		if sp && (prev || r != ' ') {
			return strings.Join(strings.FieldsFunc(s, isSpace), " ")
		}
		prev = sp
	}
	return s
}

// restBudget is how many more keys rest may copy from one payload
// (lead.MaxFields in all, a lead's bound), and how many it left out.
type restBudget struct{ left, dropped int }

// mapRest copies unmapped pairs or object keys into lead.fields; values
// that are objects (or lists holding one) are left out, and so are the keys
// past the payload's budget: a sender inventing thousands of keys costs a
// bounded lead.
func (m *Mapping) mapRest(s *scratch, l *lead.Lead, trace *[]Trace, rs *restSpec, budget *restBudget) {
	add := func(key string, r gjson.Result) {
		if _, taken := l.Fields[key]; taken {
			return
		}
		v, _, ok := convert(&r, typeAuto, nil)
		if !ok {
			return
		}
		if budget.left == 0 {
			budget.dropped++
			return
		}
		budget.left--
		m.setField(l, key, v.any())
		if trace != nil {
			*trace = append(*trace, Trace{Field: "fields." + key, Path: rs.raw, From: "rest"})
		}
	}
	if rs.pairs {
		for _, e := range m.pairList(s) {
			if !m.pairUsed[e.k] {
				add(e.orig, e.v)
			}
		}
		return
	}
	consumed := m.consumed[rs.prefix]
	list, _ := m.index(s, rs.prefix)
	for _, e := range list {
		if !consumed[e.k] && e.k != "" {
			add(e.k, e.v)
		}
	}
}

// tried names a field's paths for the trace of an empty field: as written,
// with the source prefix a long form's from: implied.
func tried(paths []pathSpec) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = p.raw
		if p.from != fromBody && !strings.HasPrefix(p.raw, sourceNames[p.from]+":") {
			out[i] = sourceNames[p.from] + ":" + p.raw
		}
	}
	return out
}

// addTrace records t when the caller asked for a trace.
func addTrace(trace *[]Trace, t Trace) {
	if trace != nil {
		*trace = append(*trace, t)
	}
}

func present(l *lead.Lead, t targetRef, scoreSet bool) bool {
	switch t.kind {
	case tScore:
		return scoreSet
	case tAssets:
		return len(l.Assets) > 0
	case tField:
		_, ok := l.Fields[t.key]
		return ok
	}
	return *strField(l, t.kind) != ""
}

func failed(errs []FieldError, name string) bool {
	for _, e := range errs {
		if e.Field == name {
			return true
		}
	}
	return false
}

// identify lists the lead's index keys: email, phone, then the first
// non-empty identity target, rendered by lead.Text (so a number beyond
// int64 or a decimal identifies as its text); a value too long to be a
// key is hashed (identityValue).
func (m *Mapping) identify(l *lead.Lead, scoreSet bool) (ids []string) {
	if l.Email != "" {
		ids = append(ids, "email:"+identityValue(l.Email))
	}
	if l.Phone != "" {
		ids = append(ids, "phone:"+identityValue(l.Phone))
	}
	for _, f := range m.identity {
		var v string
		switch f.kind {
		case tScore:
			if scoreSet {
				v = strconv.FormatInt(l.Score, 10)
			}
		case tField:
			if x, ok := l.Fields[f.key]; ok {
				v = lead.Text(x)
			}
		default:
			v = *strField(l, f.kind)
		}
		if v != "" {
			return append(ids, "key:"+m.name+":"+identityValue(v))
		}
	}
	return ids
}

func (m *Mapping) noIdentity() string {
	names := []string{"email", "phone"}
	for _, f := range m.identity {
		names = append(names, f.target)
	}
	return "nothing identifies the lead: want one of " + strings.Join(names, ", ")
}

// RateKey is the inbound rate limiter's client key for this request, as
// rate_limit_key says: "ip:<addr>", "body:<v>", "query:<v>" or
// "header:<v>". An empty body, query or header value falls back to the
// client address.
func (m *Mapping) RateKey(in Input) string {
	var v, kind string
	switch m.rate.kind {
	case rateBody:
		v, kind = strings.TrimSpace(gjson.GetBytes(in.Body, m.rate.name).String()), "body:"
	case rateQuery:
		v, kind = strings.TrimSpace(in.query(m.rate.name)), "query:"
	case rateHeader:
		v, kind = strings.TrimSpace(in.header(m.rate.name)), "header:"
	}
	if v == "" {
		return "ip:" + in.RemoteIP
	}
	return kind + v
}
