package deliver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"

	"github.com/tidwall/gjson"

	"leadgate/gateway/lead"
)

// Render builds the body d wants for ev: the format's document, encoded for
// d's content type. A template format's output is sent as it is, whatever
// the content type, because the template's author chose its bytes.
func Render(d *Destination, ev *lead.Event) ([]byte, error) {
	f := d.format()
	if strings.HasPrefix(f, FormatTemplatePrefix) {
		return renderTemplate(d.Template, ev)
	}
	var doc any
	switch f {
	case FormatCanonical:
		body, err := appendCanonical(make([]byte, 0, 512), ev)
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", f, err)
		}
		if d.contentType() == ContentForm {
			return formEncode(body), nil
		}
		return body, nil
	case FormatLedsak:
		doc = ledsakBody(ev, d.Ledsak)
	case FormatSaveLead:
		doc = saveLeadBody(ev)
	case FormatSlack:
		doc = slackBody{Text: slackText(ev)}
	default:
		return nil, fmt.Errorf("render: unknown format %q", d.Format)
	}
	body, err := marshalJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", f, err)
	}
	if d.contentType() == ContentForm {
		return formEncode(body), nil
	}
	// text/plain carries the same JSON, as the inbound side reads it.
	return body, nil
}

// marshalJSON encodes without HTML escaping: the bodies go to machines and
// to Slack, where \u003c would only be noise.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// formEncode flattens a JSON document into bracketed form keys in document
// order (which Go's encoder makes deterministic; map keys come sorted):
// event=lead.created&lead[email]=…&lead[assets][0][type]=Page. Numbers keep
// their JSON text, so 42 stays 42 and 1e3 stays 1e3. Brackets are left
// unescaped, as the contract writes them; every parser reads both forms.
func formEncode(doc []byte) []byte {
	out := make([]byte, 0, len(doc)+len(doc)/2)
	// key is the bracketed key of the value being walked; each level
	// appends its part and cuts it off again, so no key is built twice.
	key := make([]byte, 0, 64)
	var walk func(v gjson.Result)
	walk = func(v gjson.Result) {
		switch {
		case v.IsObject():
			v.ForEach(func(k, val gjson.Result) bool {
				n := len(key)
				if n > 0 {
					key = append(key, '[')
				}
				key = appendQueryEscape(key, k.String())
				if n > 0 {
					key = append(key, ']')
				}
				walk(val)
				key = key[:n]
				return true
			})
		case v.IsArray():
			i := 0
			v.ForEach(func(_, val gjson.Result) bool {
				n := len(key)
				key = append(key, '[')
				key = strconv.AppendInt(key, int64(i), 10)
				key = append(key, ']')
				walk(val)
				key = key[:n]
				i++
				return true
			})
		default:
			if len(out) > 0 {
				out = append(out, '&')
			}
			out = append(out, key...)
			out = append(out, '=')
			switch v.Type {
			case gjson.Number:
				out = appendQueryEscape(out, v.Raw)
			case gjson.Null:
			default:
				out = appendQueryEscape(out, v.String())
			}
		}
	}
	walk(gjson.ParseBytes(doc))
	return out
}

// appendQueryEscape appends s escaped as url.QueryEscape escapes it:
// letters, digits and -_.~ stay, a space becomes +, every other byte %XX.
func appendQueryEscape(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return b
}

// ledsakDetail is one lead_details entry of the Ledsak website webhook.
type ledsakDetail struct {
	Field string `json:"lead_field"`
	Value string `json:"lead_value"`
}

type ledsakDoc struct {
	Client      string         `json:"client"`
	Source      string         `json:"source"`
	Branch      string         `json:"branch"`
	LeadDetails []ledsakDetail `json:"lead_details"`
}

// ledsakBody is the Ledsak website webhook body, so Leadgate can create the
// lead in Ledsak. The name goes as one "name" field, as Ledsak's own example
// sends it; mapped extras follow in key order. A lead without a client or
// branch of its own gets the destination's defaults.
func ledsakBody(ev *lead.Event, defaults LedsakDefaults) ledsakDoc {
	l := &ev.Lead
	details := make([]ledsakDetail, 0, 16)
	add := func(field, value string) {
		if value != "" {
			details = append(details, ledsakDetail{Field: field, Value: value})
		}
	}
	add("name", fullName(l))
	add("email", l.Email)
	add("phone", l.Phone)
	add("company", l.Company)
	add("website", l.Website)
	add("position", l.Position)
	add("twitter", l.Twitter)
	add("linkedin", l.LinkedIn)
	add("notes", l.Notes)
	if l.Score != 0 {
		add("score", strconv.FormatInt(l.Score, 10))
	}
	add("landing_page", l.LandingPage)
	add("user", l.User)
	add("status", l.Status)
	for _, k := range sortedKeys(l.Fields) {
		add(k, lead.Text(l.Fields[k]))
	}
	doc := ledsakDoc{Client: l.Client, Source: ev.Source, Branch: l.Branch, LeadDetails: details}
	if doc.Client == "" {
		doc.Client = defaults.Client
	}
	if doc.Branch == "" {
		doc.Branch = defaults.Branch
	}
	return doc
}

// saveLeadDoc is the save_lead webhook body: every key always present, in
// the seed's order.
type saveLeadDoc struct {
	Data saveLeadData `json:"data"`
}

type saveLeadData struct {
	Email     string `json:"email"`
	Company   string `json:"company"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Phone     string `json:"phone"`
	Website   string `json:"website"`
	Position  string `json:"position"`
	Twitter   string `json:"twitter"`
	LinkedIn  string `json:"linkedin"`
	Notes     string `json:"notes"`
	Score     int64  `json:"score"`
}

func saveLeadBody(ev *lead.Event) saveLeadDoc {
	l := &ev.Lead
	return saveLeadDoc{Data: saveLeadData{
		Email: l.Email, Company: l.Company, FirstName: l.FirstName, LastName: l.LastName,
		Phone: l.Phone, Website: l.Website, Position: l.Position, Twitter: l.Twitter,
		LinkedIn: l.LinkedIn, Notes: l.Notes, Score: l.Score,
	}}
}

type slackBody struct {
	Text string `json:"text"`
}

// slackText is a one-line summary a person can read in a channel:
// "lead.created from website: John Doe (johndoe@example.com), +14155550100, score 42".
// User values are escaped as Slack's mrkdwn asks (&, <, >) and newlines
// folded so the summary stays on one line.
func slackText(ev *lead.Event) string {
	l := &ev.Lead
	var parts []string
	who := fullName(l)
	switch {
	case who != "" && l.Email != "":
		who += " (" + l.Email + ")"
	case who == "":
		who = l.Email
	}
	if who == "" && l.User != "" {
		who = "user " + l.User
	}
	if who == "" {
		who = "lead " + ev.LeadID
	}
	parts = append(parts, who)
	if l.Phone != "" {
		parts = append(parts, l.Phone)
	}
	if l.Company != "" {
		parts = append(parts, l.Company)
	}
	if l.Score != 0 {
		parts = append(parts, "score "+strconv.FormatInt(l.Score, 10))
	}
	if l.Status != "" {
		parts = append(parts, "status "+l.Status)
	}
	if len(l.Assets) > 0 {
		types := make([]string, 0, len(l.Assets))
		for _, a := range l.Assets {
			types = append(types, a.Type)
		}
		parts = append(parts, "assets "+strings.Join(types, "/"))
	}
	if len(ev.Changed) > 0 {
		parts = append(parts, "changed "+strings.Join(ev.Changed, "/"))
	}
	return slackEscape(ev.Event + " from " + ev.Source + ": " + strings.Join(parts, ", "))
}

var slackReplacer = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r\n", " ", "\n", " ", "\r", " ")

func slackEscape(s string) string { return slackReplacer.Replace(s) }

func fullName(l *lead.Lead) string {
	if l.FullName != "" {
		return l.FullName
	}
	return strings.TrimSpace(l.FirstName + " " + l.LastName)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// templates caches parsed templates by their text: a template is parsed
// once per distinct text, not once per delivery.
var templates sync.Map // string -> templateEntry

type templateEntry struct {
	t   *template.Template
	err error
}

var templateFuncs = template.FuncMap{
	// get reads a key that may be missing, such as a mapped extra:
	// {{get .lead.fields "budget"}} prints nothing rather than "<no value>".
	"get": func(m map[string]any, key string) any {
		if v, ok := m[key]; ok {
			return v
		}
		return ""
	},
	// json writes a value as JSON, so a JSON template stays valid whatever
	// the lead holds: {"email": {{json .lead.email}}}.
	"json": func(v any) (string, error) {
		b, err := marshalJSON(v)
		return string(b), err
	},
}

func parseTemplate(text string) (*template.Template, error) {
	if e, ok := templates.Load(text); ok {
		te := e.(templateEntry)
		return te.t, te.err
	}
	if text == "" {
		return nil, fmt.Errorf("parse template: empty template")
	}
	t, err := template.New("destination").Option("missingkey=zero").Funcs(templateFuncs).Parse(text)
	if err != nil {
		err = fmt.Errorf("parse template: %w", err)
	}
	templates.Store(text, templateEntry{t: t, err: err})
	return t, err
}

// renderTemplate runs the template over the canonical event as its JSON
// names it ({{.lead.email}}, {{.event}}), with every canonical key present
// so an empty field prints as nothing rather than "<no value>".
func renderTemplate(text string, ev *lead.Event) ([]byte, error) {
	t, err := parseTemplate(text)
	if err != nil {
		return nil, err
	}
	data, err := templateData(ev)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("execute template: %w", err)
	}
	return buf.Bytes(), nil
}

// templateDefaults holds the zero value of every canonical key that JSON
// leaves out when empty.
var templateDefaults = map[string]any{
	"email": "", "phone": "", "first_name": "", "last_name": "", "full_name": "",
	"company": "", "website": "", "position": "", "twitter": "", "linkedin": "",
	"notes": "", "score": json.Number("0"), "client": "", "branch": "", "landing_page": "",
	"user": "", "status": "",
}

func templateData(ev *lead.Event) (map[string]any, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("template data: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var data map[string]any
	if err := dec.Decode(&data); err != nil {
		return nil, fmt.Errorf("template data: %w", err)
	}
	if _, ok := data["changed"]; !ok {
		data["changed"] = []any{}
	}
	l, _ := data["lead"].(map[string]any)
	if l == nil {
		l = map[string]any{}
		data["lead"] = l
	}
	for k, v := range templateDefaults {
		if _, ok := l[k]; !ok {
			l[k] = v
		}
	}
	if _, ok := l["assets"]; !ok {
		l["assets"] = []any{}
	}
	if _, ok := l["fields"]; !ok {
		l["fields"] = map[string]any{}
	}
	return data, nil
}

// CheckTemplate parses a template:FILE format's text, for config validation
// and the subscription API, so a bad template is refused up front rather
// than dead-lettering every event.
func CheckTemplate(text string) error {
	_, err := parseTemplate(text)
	return err
}
