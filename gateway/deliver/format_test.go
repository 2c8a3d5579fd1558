package deliver

import (
	"strings"
	"testing"
)

const testTemplate = `{"email": {{json .lead.email}}, "company": "{{.lead.company}}", "budget": "{{get .lead.fields "budget"}}", "missing": "{{get .lead.fields "nope"}}", "score": {{.lead.score}}, "event": "{{.event}}", "lead_version": {{.lead_version}}}`

func TestRender(t *testing.T) {
	goldens := map[string]struct{ json, form string }{
		FormatCanonical: {
			json: `{"id":"evt_1","event":"lead.updated","source":"website","lead_id":"lead_1","lead_version":3,"received_at":"2026-11-22T10:00:00Z","changed":["score"],"lead":{"email":"johndoe@example.com","phone":"+14155550100","first_name":"John","last_name":"Doe","full_name":"John Doe","notes":"likes <b> & \"quotes\"\nsecond line","score":42,"client":"example_client","branch":"Main Branch","assets":[{"type":"Page","name":"Acme Page","id":"123","ok":false}],"fields":{"budget":"5000","ratio":0.25,"seats":12,"vip":true}}}`,
			form: `id=evt_1&event=lead.updated&source=website&lead_id=lead_1&lead_version=3&received_at=2026-11-22T10%3A00%3A00Z&changed[0]=score&lead[email]=johndoe%40example.com&lead[phone]=%2B14155550100&lead[first_name]=John&lead[last_name]=Doe&lead[full_name]=John+Doe&lead[notes]=likes+%3Cb%3E+%26+%22quotes%22%0Asecond+line&lead[score]=42&lead[client]=example_client&lead[branch]=Main+Branch&lead[assets][0][type]=Page&lead[assets][0][name]=Acme+Page&lead[assets][0][id]=123&lead[assets][0][ok]=false&lead[fields][budget]=5000&lead[fields][ratio]=0.25&lead[fields][seats]=12&lead[fields][vip]=true`,
		},
		FormatLedsak: {
			json: `{"client":"example_client","source":"website","branch":"Main Branch","lead_details":[{"lead_field":"name","lead_value":"John Doe"},{"lead_field":"email","lead_value":"johndoe@example.com"},{"lead_field":"phone","lead_value":"+14155550100"},{"lead_field":"notes","lead_value":"likes <b> & \"quotes\"\nsecond line"},{"lead_field":"score","lead_value":"42"},{"lead_field":"budget","lead_value":"5000"},{"lead_field":"ratio","lead_value":"0.25"},{"lead_field":"seats","lead_value":"12"},{"lead_field":"vip","lead_value":"true"}]}`,
			form: `client=example_client&source=website&branch=Main+Branch&lead_details[0][lead_field]=name&lead_details[0][lead_value]=John+Doe&lead_details[1][lead_field]=email&lead_details[1][lead_value]=johndoe%40example.com&lead_details[2][lead_field]=phone&lead_details[2][lead_value]=%2B14155550100&lead_details[3][lead_field]=notes&lead_details[3][lead_value]=likes+%3Cb%3E+%26+%22quotes%22%0Asecond+line&lead_details[4][lead_field]=score&lead_details[4][lead_value]=42&lead_details[5][lead_field]=budget&lead_details[5][lead_value]=5000&lead_details[6][lead_field]=ratio&lead_details[6][lead_value]=0.25&lead_details[7][lead_field]=seats&lead_details[7][lead_value]=12&lead_details[8][lead_field]=vip&lead_details[8][lead_value]=true`,
		},
		FormatSaveLead: {
			json: `{"data":{"email":"johndoe@example.com","company":"","first_name":"John","last_name":"Doe","phone":"+14155550100","website":"","position":"","twitter":"","linkedin":"","notes":"likes <b> & \"quotes\"\nsecond line","score":42}}`,
			form: `data[email]=johndoe%40example.com&data[company]=&data[first_name]=John&data[last_name]=Doe&data[phone]=%2B14155550100&data[website]=&data[position]=&data[twitter]=&data[linkedin]=&data[notes]=likes+%3Cb%3E+%26+%22quotes%22%0Asecond+line&data[score]=42`,
		},
		FormatSlack: {
			json: `{"text":"lead.updated from website: John Doe (johndoe@example.com), +14155550100, score 42, assets Page, changed score"}`,
			form: `text=lead.updated+from+website%3A+John+Doe+%28johndoe%40example.com%29%2C+%2B14155550100%2C+score+42%2C+assets+Page%2C+changed+score`,
		},
		// A template's bytes are its author's, whatever the content type.
		"template:custom.tmpl": {
			json: `{"email": "johndoe@example.com", "company": "", "budget": "5000", "missing": "", "score": 42, "event": "lead.updated", "lead_version": 3}`,
			form: `{"email": "johndoe@example.com", "company": "", "budget": "5000", "missing": "", "score": 42, "event": "lead.updated", "lead_version": 3}`,
		},
	}
	for format, g := range goldens {
		for _, tc := range []struct{ contentType, want string }{
			{ContentJSON, g.json},
			{ContentText, g.json},
			{ContentForm, g.form},
		} {
			t.Run(format+"/"+tc.contentType, func(t *testing.T) {
				d := &Destination{Format: format, ContentType: tc.contentType, Template: testTemplate}
				got, err := Render(d, sampleEvent())
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				if string(got) != tc.want {
					t.Fatalf("body\n got: %s\nwant: %s", got, tc.want)
				}
			})
		}
	}
}

func TestLedsakDefaults(t *testing.T) {
	defaults := LedsakDefaults{Client: "acme", Branch: "North"}
	tests := []struct {
		name           string
		client, branch string
		defaults       LedsakDefaults
		want           string
	}{
		{"a lead without either gets both", "", "", defaults, `{"client":"acme","source":"website","branch":"North",`},
		{"the lead's own client wins", "example_client", "", defaults, `{"client":"example_client","source":"website","branch":"North",`},
		{"the lead's own branch wins", "", "Main Branch", defaults, `{"client":"acme","source":"website","branch":"Main Branch",`},
		{"no defaults", "", "", LedsakDefaults{}, `{"client":"","source":"website","branch":"",`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := sampleEvent()
			ev.Lead.Client, ev.Lead.Branch = tt.client, tt.branch
			got, err := Render(&Destination{Format: FormatLedsak, Ledsak: tt.defaults}, ev)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if !strings.HasPrefix(string(got), tt.want) {
				t.Fatalf("body %s, want it to start %s", got, tt.want)
			}
		})
	}
}

func TestFormEncodeKeepsNumbers(t *testing.T) {
	got := string(formEncode([]byte(`{"a":1e3,"b":12345678901234567890,"c":-0.5,"d":null,"e":[],"f":{"g h":"x&y"}}`)))
	want := `a=1e3&b=12345678901234567890&c=-0.5&d=&f[g+h]=x%26y`
	if got != want {
		t.Fatalf("formEncode = %s, want %s", got, want)
	}
}

func TestSlackTextIsOneEscapedLine(t *testing.T) {
	ev := sampleEvent()
	ev.Lead.FullName = "A <b>&\nB"
	got := slackText(ev)
	if strings.ContainsAny(got, "\n<>") || !strings.Contains(got, "A &lt;b&gt;&amp; B") {
		t.Fatalf("slackText = %q", got)
	}
}

func TestRenderTemplateErrors(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"empty", ""},
		{"syntax", "{{.lead.email"},
		{"exec", "{{index .lead.assets 5}}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Destination{Format: "template:x", Template: tc.text}
			if _, err := Render(d, sampleEvent()); err == nil {
				t.Fatalf("Render succeeded, want an error")
			}
		})
	}
}

func TestValidate(t *testing.T) {
	good := Destination{Name: "crm", URL: "https://example.com/hook", Secrets: []string{"whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(good) = %v", err)
	}
	bad := Destination{
		URL: "/relative", Method: "GET", ContentType: "text/xml", Format: "xml",
		Headers: make([]Header, 11), Secrets: []string{"whsec_!!!"},
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate(bad) = nil")
	}
	for _, want := range []string{"name:", "url:", "method:", "content_type:", "format:", "headers: at most 10", "secret[0]:", "headers[0]: invalid header name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "!!!") {
		t.Errorf("Validate error repeats the secret: %v", err)
	}
}
