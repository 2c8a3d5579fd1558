package mapping

import (
	"bytes"
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
	// Hostile shapes: nesting at and past MaxDepth, brackets and escapes in
	// strings, bracketed form keys, a multipart body with a file, nested
	// JSON in a part and a repeated name.
	f.Add("application/json", []byte(`{"a":`+strings.Repeat("[", MaxDepth-1)+strings.Repeat("]", MaxDepth-1)+`}`))
	f.Add("text/plain", []byte(`{"a":`+strings.Repeat("[", MaxDepth)+strings.Repeat("]", MaxDepth)+`}`))
	f.Add("", []byte(`{"a":"[\"{\\","b":[{"c":{}}]}`))
	f.Add("application/x-www-form-urlencoded", []byte("a%5Bb%5D%5Bc%5D=1&a%5B%5D=2&%7B%7B=%5B%5B"))
	f.Add("multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"j\"\r\n\r\n{\"a\":[[[[]]]]}\r\n"+
		"--x\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f.txt\"\r\nContent-Type: text/plain\r\n\r\nfile\r\n"+
		"--x\r\nContent-Disposition: form-data; name=\"j\"\r\n\r\n2\r\n--x--\r\n"))
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
		if d := jsonDepth(out, MaxDepth); d > MaxDepth {
			t.Fatalf("ParseBody(%q) answered JSON nested %d levels", contentType, d)
		}
	})
}

// FuzzJSONDepth checks the depth scan against encoding/json's own reading
// of the nesting (its token stream, which does not recurse) on every valid
// JSON text: the two agree up to the scan's limit. Its corpus is in
// testdata/fuzz/FuzzJSONDepth.
func FuzzJSONDepth(f *testing.F) {
	for _, s := range []string{`{}`, `[[1],{"a":[{}]}]`, `"[\"{"`, `{"a":"\\","b":[[[]]]}`, strings.Repeat("[", 10) + strings.Repeat("]", 10)} {
		f.Add([]byte(s))
	}
	const limit = 8 // small, so the fuzzer reaches the early stop
	f.Fuzz(func(t *testing.T, b []byte) {
		got := jsonDepth(b, limit)
		if got > limit+1 || got < 0 {
			t.Fatalf("jsonDepth = %d, outside [0, %d]", got, limit+1)
		}
		if !json.Valid(b) {
			return
		}
		want := 0
		dec := json.NewDecoder(bytes.NewReader(b))
		for depth := 0; ; {
			tok, err := dec.Token()
			if err != nil {
				break
			}
			switch tok {
			case json.Delim('['), json.Delim('{'):
				depth++
				want = max(want, depth)
			case json.Delim(']'), json.Delim('}'):
				depth--
			}
		}
		if want = min(want, limit+1); got != want {
			t.Fatalf("jsonDepth(%q) = %d, encoding/json nests %d", b, got, want)
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
