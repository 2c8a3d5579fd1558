package mapping

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// FuzzParseBody: whatever the body and content type, ParseBody answers a
// JSON object or one of its two errors. Its seed corpus is in
// testdata/fuzz/FuzzParseBody and runs with every go test.
func FuzzParseBody(f *testing.F) {
	f.Add("application/json", []byte(`{"a":1}`))
	f.Add("application/x-www-form-urlencoded", []byte("a=1&a=2&b%5B%5D=x"))
	f.Add("multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		out, err := ParseBody(contentType, body)
		if err != nil {
			if !errors.Is(err, ErrMalformedBody) && !errors.Is(err, ErrUnsupportedMediaType) {
				t.Fatalf("ParseBody error %v is neither malformed nor unsupported", err)
			}
			return
		}
		if !gjson.ValidBytes(out) || !gjson.ParseBytes(out).IsObject() {
			t.Fatalf("ParseBody(%q) = %q, not a JSON object", contentType, out)
		}
	})
}

// FuzzMap: every shipped mapping maps any JSON object to a lead with an
// identity, or to *FieldErrors; it never panics. Its seed corpus is in
// testdata/fuzz/FuzzMap.
func FuzzMap(f *testing.F) {
	set := loadShipped(f)
	f.Add("website", []byte(`{"client":"c","lead_details":[{"lead_field":"email","lead_value":"A@B.C"}]}`), "")
	f.Add("leadsie", []byte(`{"status":"SUCCESS","connectionAssets":[{"type":"Page","id":"1","isSuccess":true}]}`), "customUserId=u")
	f.Add("save_lead", []byte(`{"data":{"email":"a@b.c","score":"42"}}`), "")
	f.Fuzz(func(t *testing.T, source string, body []byte, query string) {
		m, ok := set.Get(source)
		if !ok {
			return
		}
		parsed, err := ParseBody("application/json", body)
		if err != nil {
			return
		}
		q, _ := url.ParseQuery(query)
		res, err := m.Map(Input{Body: parsed, Query: q.Get})
		if err != nil {
			var fe *FieldErrors
			if !errors.As(err, &fe) || len(fe.Errors) == 0 {
				t.Fatalf("Map error %v is not a non-empty *FieldErrors", err)
			}
			return
		}
		if len(res.Identity) == 0 {
			t.Fatal("Map succeeded with no identity")
		}
		if e := res.Lead.Email; e != strings.ToLower(strings.TrimSpace(e)) {
			t.Fatalf("email %q is not trimmed and lower-cased", e)
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("result does not marshal: %v", err)
		}
	})
}
