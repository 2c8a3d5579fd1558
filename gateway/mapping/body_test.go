package mapping

import (
	"errors"
	"strings"
	"testing"
)

func TestParseBody(t *testing.T) {
	const mp = "--b\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@b.c\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"tag\"\r\n\r\nx\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"tag\"\r\n\r\ny\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nfile\r\n--b--\r\n"
	tests := []struct {
		name, contentType, body, want string
		err                           error
	}{
		{"json", "application/json", `{"a":1}`, `{"a":1}`, nil},
		{"json charset", "application/json; charset=utf-8", `{"a":1}`, `{"a":1}`, nil},
		{"json suffix", "application/vnd.leads+json", `{"a":1}`, `{"a":1}`, nil},
		{"json malformed", "application/json", `{"a":`, "", ErrMalformedBody},
		{"json array", "application/json", `[1]`, "", ErrMalformedBody},
		{"json empty", "application/json", ``, "", ErrMalformedBody},
		{"text plain json", "text/plain", ` {"a":"b"}`, ` {"a":"b"}`, nil},
		{"text plain not json", "text/plain", `hello`, "", ErrMalformedBody},
		{"no content type json", "", `{"a":1}`, `{"a":1}`, nil},
		{"no content type other", "", `a=1`, "", ErrUnsupportedMediaType},
		{"form", "application/x-www-form-urlencoded", "name=Jane+Roe&email=j%40x.io&tag=a&tag=b&list%5B%5D=one&=skip&flag", `{"name":"Jane Roe","email":"j@x.io","tag":["a","b"],"list":["one"],"flag":""}`, nil},
		{"form escaping", "application/x-www-form-urlencoded", "q=%22%3C%3E%5C%0A", `{"q":"\"\u003c\u003e\\\n"}`, nil},
		{"form bad escape", "application/x-www-form-urlencoded", "a=%zz", "", ErrMalformedBody},
		{"form empty", "application/x-www-form-urlencoded", "", `{}`, nil},
		{"multipart", "multipart/form-data; boundary=b", mp, `{"email":"a@b.c","tag":["x","y"]}`, nil},
		{"multipart no boundary", "multipart/form-data", mp, "", ErrMalformedBody},
		{"multipart broken", "multipart/form-data; boundary=b", "--b\r\nnot a header\r\n", "", ErrMalformedBody},
		{"xml", "application/xml", `<a/>`, "", ErrUnsupportedMediaType},
		{"bad content type", "application/json; =x", `{}`, "", ErrUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBody(tt.contentType, []byte(tt.body))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("ParseBody = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestParseBodyDepth: JSON nested deeper than MaxDepth is a malformed body
// whatever the JSON content type, found before the validator recurses;
// MaxDepth itself is fine, and forms never nest.
func TestParseBodyDepth(t *testing.T) {
	nested := func(n int) string {
		return `{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`
	}
	deepKey := "a" + strings.Repeat("%5Bb%5D", 200) + "=1"
	tests := []struct {
		name, contentType, body string
		err                     error
	}{
		{"json at the limit", "application/json", nested(MaxDepth), nil},
		{"json one deeper", "application/json", nested(MaxDepth + 1), ErrMalformedBody},
		{"json half a megabyte of brackets", "application/json", `{"a":` + strings.Repeat("[", 512<<10), ErrMalformedBody},
		{"brackets in strings do not count", "application/json", `{"a":"` + strings.Repeat(`[\"`, 1000) + `"}`, nil},
		{"text plain json", "text/plain", nested(MaxDepth + 1), ErrMalformedBody},
		{"json suffix", "application/vnd.x+json", nested(MaxDepth + 1), ErrMalformedBody},
		{"no content type", "", nested(MaxDepth + 1), ErrMalformedBody},
		{"no content type, not json", "", strings.Repeat("[", 100), ErrUnsupportedMediaType},
		{"form with deep bracketed keys stays flat", "application/x-www-form-urlencoded", deepKey, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := ParseBody(tt.contentType, []byte(tt.body))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := jsonDepth(out, 1000); d > MaxDepth {
				t.Fatalf("parsed body nests %d levels", d)
			}
		})
	}
}

func TestJSONDepth(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{``, 0},
		{`1`, 0},
		{`{}`, 1},
		{`{"a":[1,{"b":[]}]}`, 4},
		{`{"a":"[[[["}`, 1},
		{`{"a":"\"[[[["}`, 1},
		{`{"a":"\\"}`, 1},
		{`{"a":"\\\"{{"}`, 1},
		{`["x\\",[[]]]`, 3},
		{`{"unterminated`, 1},
		{`[[[[[[`, 4}, // stops at limit+1
	}
	for _, tt := range tests {
		if got := jsonDepth([]byte(tt.in), 3); got != min(tt.want, 4) {
			t.Errorf("jsonDepth(%s, 3) = %d, want %d", tt.in, got, min(tt.want, 4))
		}
	}
}
