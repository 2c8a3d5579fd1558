package mapping

import (
	"strings"
	"testing"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown top key", "fields: {email: email}\nbogus: 1\n", "m.yaml:2: unknown key \"bogus\""},
		{"fields missing", "events: [lead.created]\n", "m.yaml:1: fields: required"},
		{"unknown target", "fields:\n  email: email\n  mail: email\n", "m.yaml:3: unknown target \"mail\""},
		{"duplicate target", "fields:\n  email: email\n  email: other\n", "m.yaml:3: duplicate target \"email\""},
		{"bad path unterminated", "fields:\n  email: 'a.#(b==\"c)'\n", "m.yaml:2: email: path \"a.#(b==\\\"c)\": unterminated string"},
		{"bad path brackets", "fields:\n  email: 'a.#(b==1'\n", "m.yaml:2: email: path \"a.#(b==1\": unbalanced brackets"},
		{"bad path empty key", "fields:\n  email: a..b\n", "m.yaml:2: email: path \"a..b\": empty key"},
		{"bad path trailing dot", "fields:\n  email: a.\n", "m.yaml:2: email: path \"a.\": empty key"},
		{"bad modifier", "fields:\n  email: '@nope'\n", "m.yaml:2: email: path \"@nope\": unknown modifier @nope"},
		{"unknown transform", "fields:\n  email: {path: email, transform: [shout]}\n", "m.yaml:2: email: unknown transform \"shout\""},
		{"bad e164 code", "fields:\n  phone: {path: p, transform: [e164:x1]}\n", "m.yaml:2: phone: transform \"e164:x1\": the country calling code must be 1 to 3 digits"},
		{"unknown type", "fields:\n  fields.x: {path: x, type: date}\n", "m.yaml:2: fields.x: unknown type \"date\""},
		{"type misfit", "fields:\n  score: {path: s, type: string}\n", "m.yaml:2: score: type string does not fit this field (it is int)"},
		{"bad default", "fields:\n  score: {path: s, default: lots}\n", "m.yaml:2: score: default \"lots\": must be an integer"},
		{"unknown event", "events: [lead.deleted]\nfields: {email: email}\n", "m.yaml:1: unknown event \"lead.deleted\""},
		{"pair without pairs", "fields:\n  email: pair:email\n", "m.yaml:2: email: path \"pair:email\": pair: needs a pairs: section"},
		{"identity unmapped", "identity: user\nfields: {email: email}\n", "m.yaml:1: identity: target \"user\" is not mapped"},
		{"identity email", "identity: email\nfields: {email: email}\n", "m.yaml:1: identity: email cannot be the key"},
		{"required unknown", "required: [nope]\nfields: {email: email}\n", "m.yaml:1: unknown target \"nope\""},
		{"required unmapped", "required: [company]\nfields: {email: email}\n", "m.yaml:1: required: target \"company\" is not mapped"},
		{"rest unknown", "fields: {email: email}\nrest: [everything]\n", "m.yaml:2: rest: unknown entry \"everything\""},
		{"rest complex", "fields: {email: email}\nrest: ['body:a.#']\n", "m.yaml:2: rest: \"a.#\" must be a plain object path"},
		{"rate key", "fields: {email: email}\nrate_limit_key: cookie:x\n", "m.yaml:2: rate_limit_key \"cookie:x\": want ip, body:<path>, query:<name> or header:<name>"},
		{"auth type", "fields: {email: email}\nauth: {type: magic}\n", "m.yaml:2: auth: unknown type \"magic\""},
		{"auth token no place", "fields: {email: email}\nauth: {type: token, token: x}\n", "m.yaml:2: auth: token needs a header or a query parameter"},
		{"auth misplaced key", "fields: {email: email}\nauth: {type: token, header: X, token: x, encoding: hex}\n", "m.yaml:2: auth: encoding does not apply to type token"},
		{"auth hmac encoding", "fields: {email: email}\nauth: {type: hmac, header: X, secret: s, encoding: rot13}\n", "m.yaml:2: auth: encoding \"rot13\": want hex or base64"},
		{"auth secret missing", "fields: {email: email}\nauth: {type: hmac, header: X}\n", "m.yaml:2: auth: secret is required for type hmac"},
		{"auth tolerance", "fields: {email: email}\nauth: {type: standard_webhooks, secret: whsec_c2VjcmV0, tolerance: soon}\n", "m.yaml:2: auth: tolerance \"soon\""},
		{"whsec without a key", "fields: {email: email}\nauth: {type: standard_webhooks, secret: 'whsec_'}\n", "m.yaml:2: auth: a standard_webhooks secret has no key after whsec_"},
		{"whsec not base64", "fields: {email: email}\nauth: {type: standard_webhooks, secret: 'whsec_!!'}\n", "m.yaml:2: auth: a standard_webhooks secret is whsec_ and base64"},
		{"assets short form", "fields:\n  assets: items\n", "m.yaml:2: assets: want {each: <array path>"},
		{"asset unknown field", "fields:\n  assets: {each: items, fields: {colour: c}}\n", "m.yaml:2: assets: unknown asset field \"colour\""},
		{"asset reads query", "fields:\n  assets: {each: items, fields: {id: 'query:x'}}\n", "m.yaml:2: id: path \"query:x\": an asset field reads its element only"},
		{"group without fields", "fields: {email: email}\ngroup_by: {each: items}\n", "m.yaml:2: group_by: fields (suffix: element path) is required"},
		{"not a mapping", "- a\n- b\n", "m.yaml:1: a mapping file must be a YAML mapping of keys"},
		{"yaml syntax", "fields: {email: [\n", "m.yaml:"},
		{"respond without destination", "fields: {email: email}\nrespond: {timeout: 5s}\n", "m.yaml:2: respond: destination is required"},
		{"respond empty destination", "fields: {email: email}\nrespond:\n  destination: ''\n", "m.yaml:3: respond.destination: must name a destination of gateway.yaml"},
		{"respond unknown key", "fields: {email: email}\nrespond: {destination: crm, wait: 5s}\n", "m.yaml:2: unknown key \"wait\" (want one of destination, timeout)"},
		{"respond timeout too long", "fields: {email: email}\nrespond:\n  destination: crm\n  timeout: 11s\n", "m.yaml:4: respond.timeout \"11s\": want a duration above 0 and at most 10s, such as 5s"},
		{"respond timeout zero", "fields: {email: email}\nrespond: {destination: crm, timeout: 0s}\n", "m.yaml:2: respond.timeout \"0s\""},
		{"respond timeout garbage", "fields: {email: email}\nrespond: {destination: crm, timeout: soon}\n", "m.yaml:2: respond.timeout \"soon\""},
		{"respond not a mapping", "fields: {email: email}\nrespond: crm\n", "m.yaml:2: want a mapping of keys"},
		{"long form without path", "fields:\n  email: {type: string}\n", "m.yaml:2: email: path (or default) is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile("m", "m.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("Compile succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}

func TestCompileReportsEveryProblem(t *testing.T) {
	src := "fields:\n  mail: x\n  email: a..b\nrest: [nope]\n"
	_, err := Compile("m", "m.yaml", []byte(src))
	if err == nil {
		t.Fatal("Compile succeeded")
	}
	for _, want := range []string{"m.yaml:2: unknown target", "m.yaml:3: email: path", "m.yaml:4: rest: unknown entry"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestCompileSourceName(t *testing.T) {
	if _, err := Compile("Bad Name", "x.yaml", []byte("fields: {email: email}\n")); err == nil {
		t.Fatal("Compile accepted a source name with spaces")
	}
}

func TestCheckPath(t *testing.T) {
	tests := []struct {
		path  string
		comps []string
		ok    bool
	}{
		{"email", []string{"email"}, true},
		{"data.email", []string{"data", "email"}, true},
		{`utm\.source`, []string{"utm.source"}, true},
		{"lead_details.#(lead_field==\"email\").lead_value", nil, true},
		{"items.#.id", nil, true},
		{"a|@reverse", nil, true},
		{"{a,b}", nil, true},
		{"friends.0.name", []string{"friends", "0", "name"}, true},
		{"", nil, false},
		{`a\`, nil, false},
		{"a)", nil, false},
		{".a", nil, false},
		{"a|", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			comps, err := checkPath(tt.path)
			if (err == nil) != tt.ok {
				t.Fatalf("checkPath(%q) error = %v, want ok=%v", tt.path, err, tt.ok)
			}
			if strings.Join(comps, "|") != strings.Join(tt.comps, "|") || (comps == nil) != (tt.comps == nil) {
				t.Fatalf("checkPath(%q) = %q, want %q", tt.path, comps, tt.comps)
			}
		})
	}
}

func TestLoadDir(t *testing.T) {
	t.Run("shipped", func(t *testing.T) {
		set := loadShipped(t)
		if got, want := strings.Join(set.Names(), ","), "leadsie,save_lead,website"; got != want {
			t.Fatalf("Names() = %s, want %s", got, want)
		}
		for _, n := range set.Names() {
			m, _ := set.Get(n)
			if m.HasAuth() {
				t.Errorf("%s: HasAuth() = true with no secret in the environment", n)
			}
		}
		if _, ok := set.Get("nope"); ok {
			t.Fatal("Get(nope) found a mapping")
		}
	})
	t.Run("joins every file's problems", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "a.yaml", "fields: {mail: x}\n")
		writeFile(t, dir, "b.yaml", "fields: {email: email}\nbogus: 1\n")
		writeFile(t, dir, "notes.txt", "ignored")
		writeFile(t, dir, ".#a.yaml", "an editor's lock file")
		_, err := LoadDir(dir)
		if err == nil {
			t.Fatal("LoadDir succeeded")
		}
		for _, want := range []string{"a.yaml:1: unknown target \"mail\"", "b.yaml:2: unknown key \"bogus\""} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})
	t.Run("empty dir", func(t *testing.T) {
		if _, err := LoadDir(t.TempDir()); err == nil {
			t.Fatal("LoadDir of an empty dir succeeded")
		}
	})
	t.Run("same name twice", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "a.yaml", "fields: {email: email}\n")
		writeFile(t, dir, "a.yml", "fields: {email: email}\n")
		if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "also defined") {
			t.Fatalf("err = %v, want a duplicate source error", err)
		}
	})
}

func TestCompileRespond(t *testing.T) {
	tests := []struct {
		name, src string
		want      *Respond
	}{
		{"none", "fields: {email: email}\n", nil},
		{"default timeout", "fields: {email: email}\nrespond:\n  destination: ledsak\n", &Respond{Destination: "ledsak", Timeout: DefaultRespondTimeout, Line: 3}},
		{"timeout", "fields: {email: email}\nrespond: {destination: ledsak, timeout: 10s}\n", &Respond{Destination: "ledsak", Timeout: MaxRespondTimeout, Line: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Compile("m", "m.yaml", []byte(tt.src))
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			got := m.Respond()
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Fatalf("Respond() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
