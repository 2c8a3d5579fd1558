package mapping

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustCompile(t testing.TB, src string) *Mapping {
	t.Helper()
	m, err := Compile("test", "test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return m
}

func leadJSON(t *testing.T, r Result) string {
	t.Helper()
	b, err := json.Marshal(r.Lead)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const ruleMapping = `
events: [lead.created]
identity: [fields.account, user]
fields:
  email: {path: [contact.email, email], transform: [trim]}
  phone: {path: phone, transform: [e164:1]}
  name: name
  score: {path: score, default: 1}
  company: {path: company, transform: [upper], required: true}
  user: {path: user, from: query}
  notes: {path: ref, from: header}
  fields.account: {path: account, type: string}
  fields.count: {path: count, type: int}
  fields.ratio: {path: ratio, type: float}
  fields.vip: {path: vip, type: bool}
  fields.kind: {path: kind, default: standard}
  fields.first: {path: items.#.v, type: string}
rest: [body]
`

func TestMapRules(t *testing.T) {
	m := mustCompile(t, ruleMapping)
	q := url.Values{"user": {"u1"}}
	tests := []struct {
		name, body, want string
		identity         []string
	}{
		{
			name:     "types and defaults",
			body:     `{"contact":{"email":" A@B.C "},"phone":"(415) 555-0100","name":"Ada Lovelace","company":"acme","account":1234,"count":"7","ratio":"0.5","vip":"yes","extra":"x"}`,
			want:     `{"email":"a@b.c","phone":"+14155550100","first_name":"Ada","last_name":"Lovelace","full_name":"Ada Lovelace","company":"ACME","notes":"hdr","score":1,"user":"u1","fields":{"account":"1234","count":7,"extra":"x","kind":"standard","ratio":0.5,"vip":true}}`,
			identity: []string{"email:a@b.c", "phone:+14155550100", "key:test:1234"},
		},
		{
			name:     "first non-empty path wins, list joined, rest never overwrites",
			body:     `{"contact":{"email":"  "},"email":"second@x.io","company":"c","items":[{"v":"a"},{"v":2}],"kind":"gold","zero":0,"no":false}`,
			want:     `{"email":"second@x.io","company":"C","notes":"hdr","score":1,"user":"u1","fields":{"first":"a, 2","kind":"gold","no":false,"zero":0}}`,
			identity: []string{"email:second@x.io", "key:test:u1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := m.Map(Input{Body: []byte(tt.body), Query: q.Get, Header: func(string) string { return "hdr" }})
			if err != nil {
				t.Fatal(err)
			}
			if got := leadJSON(t, res); got != tt.want {
				t.Fatalf("lead:\n got %s\nwant %s", got, tt.want)
			}
			if got, want := strings.Join(res.Identity, " "), strings.Join(tt.identity, " "); got != want {
				t.Fatalf("identity = %s, want %s", got, want)
			}
		})
	}
}

func TestMapFieldErrors(t *testing.T) {
	m := mustCompile(t, ruleMapping)
	tests := []struct {
		name, body string
		want       []FieldError
	}{
		{"required and identity", `{"name":"x"}`, []FieldError{{"company", "is required"}, {"identity", "nothing identifies the lead: want one of email, phone, fields.account, user"}}},
		{"score not a number", `{"email":"a@b.c","company":"c","score":"abc"}`, []FieldError{{"score", "must be an integer"}}},
		{"score fractional", `{"email":"a@b.c","company":"c","score":4.2}`, []FieldError{{"score", "must be an integer"}}},
		{"score object", `{"email":"a@b.c","company":"c","score":{"v":1}}`, []FieldError{{"score", "must be a single value, not a list or object"}}},
		{"email object", `{"email":{"v":1},"company":"c"}`, []FieldError{{"email", "must be a value, not an object"}, {"identity", "nothing identifies the lead: want one of email, phone, fields.account, user"}}},
		{"typed fields", `{"email":"a@b.c","company":"c","count":"many","ratio":"NaN","vip":"maybe"}`, []FieldError{{"fields.count", "must be an integer"}, {"fields.ratio", "must be a number"}, {"fields.vip", "must be true or false"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Map(Input{Body: []byte(tt.body)})
			var fe *FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *FieldErrors", err)
			}
			got, _ := json.Marshal(fe.Errors)
			want, _ := json.Marshal(tt.want)
			if string(got) != string(want) {
				t.Fatalf("errors:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestMapQueryAndComplexPaths(t *testing.T) {
	m := mustCompile(t, `
fields:
  email: 'lead_details.#(lead_field=="email").lead_value'
  user: [query:customUserId, user]
  fields.second: 'items.1'
`)
	res, err := m.Map(Input{Body: []byte(`{"user":"body","lead_details":[{"lead_field":"email","lead_value":"X@Y.Z"}],"items":["a","b"]}`),
		Query: url.Values{"customUserId": {"q"}}.Get})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := leadJSON(t, res), `{"email":"x@y.z","user":"q","fields":{"second":"b"}}`; got != want {
		t.Fatalf("lead = %s, want %s", got, want)
	}
}

func TestGroupByStrip(t *testing.T) {
	// The Leadsie script's f"{acc}, {v}".strip(', '), value by value.
	m := mustCompile(t, `
identity: user
fields: {user: user}
group_by: {each: a, key: t, fields: {v: v}}
`)
	tests := []struct{ name, items, want string }{
		{"one", `[{"t":"Ad Account","v":"1"}]`, `{"ad_account_v":"1"}`},
		{"joined", `[{"t":"Page","v":"1"},{"t":"page","v":"2"}]`, `{"page_v":"1, 2"}`},
		{"empty first", `[{"t":"Page","v":""},{"t":"Page","v":"2"}]`, `{"page_v":"2"}`},
		{"empty last", `[{"t":"Page","v":"1"},{"t":"Page","v":""}]`, `{"page_v":"1"}`},
		{"stripped ends", `[{"t":"Page","v":", x ,"},{"t":"Page","v":" y, "}]`, `{"page_v":"x,  y"}`},
		{"bools lower", `[{"t":"Pixel","v":true},{"t":"Pixel","v":false}]`, `{"pixel_v":"true, false"}`},
		{"no type", `[{"v":"1"},"x"]`, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := m.Map(Input{Body: []byte(`{"user":"u","a":` + tt.items + `}`)})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(res.Lead.Fields)
			if string(got) != tt.want {
				t.Fatalf("fields = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestTransforms(t *testing.T) {
	tests := []struct{ transform, in, want string }{
		{"trim", "  a b ", "a b"},
		{"lower", "ÄB", "äb"},
		{"upper", "ab", "AB"},
		{"digits", "+1 (415) 555-0100", "14155550100"},
		{"e164", "+1 (415) 555-0100", "+14155550100"},
		{"e164", "0044 20 7946 0958", "+442079460958"},
		{"e164", "14155550100", "+14155550100"},
		{"e164", "(415) 555-0100", "4155550100"},
		{"e164", "12", "12"},
		{"e164", "call me", ""},
		{"e164:1", "(415) 555-0100", "+14155550100"},
		{"e164:91", "09876543210", "+919876543210"},
		{"e164:91", "+44 20 7946 0958", "+442079460958"},
		{"given_name", "Mary Ann Smith", "Mary"},
		{"family_name", "Mary Ann Smith", "Ann Smith"},
		{"family_name", "Cher", ""},
	}
	for _, tt := range tests {
		t.Run(tt.transform+"/"+tt.in, func(t *testing.T) {
			tr, err := parseTransform(tt.transform)
			if err != nil {
				t.Fatal(err)
			}
			if got := tr(tt.in); got != tt.want {
				t.Fatalf("%s(%q) = %q, want %q", tt.transform, tt.in, got, tt.want)
			}
		})
	}
}

func TestCoerce(t *testing.T) {
	tests := []struct {
		in      string
		typ     valueType
		want    any
		problem string
	}{
		{"42", typeInt, int64(42), ""},
		{"42.0", typeInt, int64(42), ""},
		{"-7", typeInt, int64(-7), ""},
		{"4.2", typeInt, nil, problemInt},
		{"1e30", typeInt, nil, problemInt},
		{"abc", typeInt, nil, problemInt},
		{"0.25", typeFloat, 0.25, ""},
		{"Inf", typeFloat, nil, problemFloat},
		{"On", typeBool, true, ""},
		{"no", typeBool, false, ""},
		{"2", typeBool, nil, problemBool},
		{"x", typeString, "x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, problem, ok := coerce(tt.in, tt.typ)
			if problem != tt.problem {
				t.Fatalf("coerce(%q) problem = %q, want %q", tt.in, problem, tt.problem)
			}
			if tt.problem == "" && (!ok || v.any() != tt.want) {
				t.Fatalf("coerce(%q) = %#v, %v, want %#v", tt.in, v.any(), ok, tt.want)
			}
		})
	}
}

func TestRateKey(t *testing.T) {
	tests := []struct{ key, want string }{
		{"ip", "ip:192.0.2.1"},
		{"body:client", "body:acme"},
		{"body:missing", "ip:192.0.2.1"},
		{"query:customUserId", "query:u1"},
		{"query:other", "ip:192.0.2.1"},
		{"header:X-Client", "header:hc"},
	}
	in := Input{
		Body:     []byte(`{"client":"acme","email":"a@b.c"}`),
		Query:    url.Values{"customUserId": {"u1"}}.Get,
		Header:   func(k string) string { return map[string]string{"X-Client": "hc"}[k] },
		RemoteIP: "192.0.2.1",
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			m := mustCompile(t, "fields: {email: email}\nrate_limit_key: "+tt.key+"\n")
			if got := m.RateKey(in); got != tt.want {
				t.Fatalf("RateKey = %q, want %q", got, tt.want)
			}
		})
	}
	if got := mustCompile(t, "fields: {email: email}\n").RateKey(in); got != "ip:192.0.2.1" {
		t.Fatalf("default RateKey = %q", got)
	}
}

func TestEmitsAndName(t *testing.T) {
	m := mustCompile(t, "events: [form.submitted, lead.created]\nfields: {email: email}\n")
	if got := strings.Join(m.Emits(), ","); got != "form.submitted,lead.created" {
		t.Fatalf("Emits = %s", got)
	}
	if m.Name() != "test" || m.File() != "test.yaml" {
		t.Fatalf("Name, File = %s, %s", m.Name(), m.File())
	}
	if got := strings.Join(mustCompile(t, "fields: {email: email}\n").Emits(), ","); got != "lead.created,lead.updated,lead.score_changed,lead.field_updated" {
		t.Fatalf("default Emits = %s", got)
	}
}

// TestMapDoesNotAliasBody: the server reuses its body buffer, so the lead
// must not point into it.
func TestMapDoesNotAliasBody(t *testing.T) {
	m := mustCompile(t, "fields: {email: email, fields.note: note}\n")
	body := []byte(`{"email":"a@b.c","note":"keep"}`)
	res, err := m.Map(Input{Body: body})
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'x'
	}
	if res.Lead.Email != "a@b.c" || res.Lead.Fields["note"] != "keep" {
		t.Fatalf("lead changed with the body buffer: %+v", res.Lead)
	}
}

// TestNoTrace: the server's traceless Map gives the same lead and identity.
func TestNoTrace(t *testing.T) {
	set := loadShipped(t)
	for _, source := range set.Names() {
		m, _ := set.Get(source)
		for _, f := range fixtures(t, source) {
			t.Run(source+"/"+f.Name, func(t *testing.T) {
				ct, body, in := request(t, f)
				parsed, err := ParseBody(ct, body)
				if err != nil {
					return
				}
				in.Body = parsed
				with, err1 := m.Map(in)
				in.NoTrace = true
				without, err2 := m.Map(in)
				if (err1 == nil) != (err2 == nil) {
					t.Fatalf("errors differ: %v / %v", err1, err2)
				}
				if without.Trace != nil {
					t.Fatalf("NoTrace gave a trace: %v", without.Trace)
				}
				if leadJSON(t, with) != leadJSON(t, without) || strings.Join(with.Identity, " ") != strings.Join(without.Identity, " ") {
					t.Fatalf("lead differs without trace:\n%s\n%s", leadJSON(t, with), leadJSON(t, without))
				}
			})
		}
	}
}

// TestMapConcurrent shares one Mapping between goroutines, as the server
// does (run with -race); its group names cache starts empty, so the
// goroutines also race to fill it.
func TestMapConcurrent(t *testing.T) {
	set := loadShipped(t)
	m, _ := set.Get("leadsie")
	f := Fixture{Source: "leadsie", Name: "partial_success", BodyFile: filepath.Join(mappingsDir, "testdata", "leadsie", "partial_success.json")}
	_, body, in := request(t, f)
	in.Body = body
	other, _ := loadShipped(t).Get("leadsie")
	want, err := other.Map(in)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	for range 4 {
		go func() {
			got := ""
			for range 50 {
				r, err := m.Map(in)
				if err != nil {
					got = err.Error()
					break
				}
				got = leadJSON(t, r)
			}
			done <- got
		}()
	}
	for range 4 {
		if got := <-done; got != leadJSON(t, want) {
			t.Fatalf("concurrent Map = %s, want %s", got, leadJSON(t, want))
		}
	}
}

// TestPlain: a plain string is one strings.TrimSpace leaves alone.
func TestPlain(t *testing.T) {
	for _, s := range []string{"", " ", "a", " a", "a ", "\ta\n", "abc", "\u00a0x", "x\u00a0", "\u3000", "é", "aé", "\u0085a", "a\x7f", "\x01a", "a\u2028"} {
		if plain(s) && strings.TrimSpace(s) != s {
			t.Fatalf("plain(%q) but TrimSpace changes it", s)
		}
	}
}

// TestMapScorePresence: a score of 0 in the payload is a value (HasScore),
// so that Decide sees 42 → 0 as a change; an absent or null one is not.
func TestMapScorePresence(t *testing.T) {
	set := loadShipped(t)
	m, _ := set.Get("save_lead")
	tests := []struct {
		body     string
		hasScore bool
	}{
		{`{"data": {"email": "a@example.com", "score": 0}}`, true},
		{`{"data": {"email": "a@example.com", "score": "0"}}`, true},
		{`{"data": {"email": "a@example.com", "score": 7}}`, true},
		{`{"data": {"email": "a@example.com", "score": null}}`, false},
		{`{"data": {"email": "a@example.com", "score": ""}}`, false},
		{`{"data": {"email": "a@example.com"}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			r, err := m.Map(Input{Body: []byte(tt.body)})
			if err != nil {
				t.Fatal(err)
			}
			if r.Lead.HasScore != tt.hasScore {
				t.Fatalf("HasScore = %v, want %v", r.Lead.HasScore, tt.hasScore)
			}
			if b, _ := json.Marshal(r.Lead); strings.Contains(string(b), "score") && r.Lead.Score == 0 {
				t.Fatalf("a zero score is written: %s", b)
			}
		})
	}
}

// TestTraceEmptyFields: a mapped field that came out empty is in the trace
// with every path it tried, so `gateway map` can say why it is empty.
func TestTraceEmptyFields(t *testing.T) {
	m := mustCompile(t, `
fields:
  email: email
  phone: {path: [tel, phone], transform: [digits]}
  user: {path: uid, from: query}
  notes: {path: [header:X-Note, note]}
  company: {path: org, default: none}
  assets: {each: items, fields: {id: id}}
`)
	r, err := m.Map(Input{Body: []byte(`{"email": "a@example.com", "phone": "n/a", "note": "  "}`)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(r.Trace)
	want := `[{"field":"email","path":"email","from":"body"},` +
		`{"field":"company","from":"default"},` +
		`{"field":"assets","from":"empty","tried":["items"]},` +
		`{"field":"phone","from":"empty","tried":["tel","phone"]},` +
		`{"field":"user","from":"empty","tried":["query:uid"]},` +
		`{"field":"notes","from":"empty","tried":["header:X-Note","note"]}]`
	if string(got) != want {
		t.Fatalf("trace:\n got %s\nwant %s", got, want)
	}
	// Fields the name rules fill are derived, not empty, though their own
	// paths found nothing.
	names := mustCompile(t, `
fields:
  email: email
  name: name
  first_name: fn
  last_name: ln
  full_name: full
`)
	r, err = names.Map(Input{Body: []byte(`{"email": "a@example.com", "name": "John Doe"}`)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = json.Marshal(r.Trace)
	want = `[{"field":"email","path":"email","from":"body"},` +
		`{"field":"name","path":"name","from":"body"},` +
		`{"field":"full_name","from":"derived"},` +
		`{"field":"first_name","from":"derived"},` +
		`{"field":"last_name","from":"derived"}]`
	if string(got) != want {
		t.Fatalf("trace of a derived name:\n got %s\nwant %s", got, want)
	}
	r, err = m.Map(Input{Body: []byte(`{"email": "a@example.com"}`), NoTrace: true})
	if err != nil || r.Trace != nil {
		t.Fatalf("NoTrace: trace %v, err %v", r.Trace, err)
	}
}
