package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"

	"github.com/tidwall/gjson"
)

// ParseBody turns a request body into the JSON object mappings read.
//
//   - application/json (and any application/*+json) is taken as is once it
//     is known to be a valid JSON object;
//   - text/plain must hold a JSON object, as some form tools send JSON so;
//   - application/x-www-form-urlencoded and multipart/form-data become a
//     flat object of strings in the order keys first appear; a key that
//     repeats, or ends in "[]" (which is dropped), becomes a list of strings,
//     and a mapping reads a list as its values joined with ", ". Uploaded
//     files are left out;
//   - an empty Content-Type is taken as JSON when the body is a JSON object.
//
// JSON nested deeper than MaxDepth is ErrMalformedBody, found by a scan
// that does not recurse before anything that does looks at the body. Forms
// cannot nest: a bracketed key ("a[b][c]") stays one flat key.
//
// Anything else is ErrUnsupportedMediaType (415); a body that does not
// parse is ErrMalformedBody (400).
func ParseBody(contentType string, body []byte) ([]byte, error) {
	if strings.TrimSpace(contentType) == "" {
		if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' {
			if err := checkDepth(body); err != nil {
				return nil, err
			}
		}
		if isJSONObject(body) {
			return body, nil
		}
		return nil, fmt.Errorf("parse body: no content type: %w", ErrUnsupportedMediaType)
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("parse body: content type %q: %w", contentType, ErrUnsupportedMediaType)
	}
	switch {
	case mt == "application/json" || mt == "text/plain" ||
		strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
		if err := checkDepth(body); err != nil {
			return nil, err
		}
		if !isJSONObject(body) {
			return nil, fmt.Errorf("parse body: want a JSON object: %w", ErrMalformedBody)
		}
		return body, nil
	case mt == "application/x-www-form-urlencoded":
		var f form
		if err := f.parseURLEncoded(body); err != nil {
			return nil, fmt.Errorf("parse body: %w: %w", ErrMalformedBody, err)
		}
		return f.json(), nil
	case mt == "multipart/form-data":
		var f form
		if err := f.parseMultipart(body, params["boundary"]); err != nil {
			return nil, fmt.Errorf("parse body: %w: %w", ErrMalformedBody, err)
		}
		return f.json(), nil
	}
	return nil, fmt.Errorf("parse body: content type %q: %w", mt, ErrUnsupportedMediaType)
}

// checkDepth refuses JSON nested deeper than MaxDepth.
func checkDepth(b []byte) error {
	if jsonDepth(b, MaxDepth) > MaxDepth {
		return fmt.Errorf("parse body: JSON nested deeper than %d levels: %w", MaxDepth, ErrMalformedBody)
	}
	return nil
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && gjson.ValidBytes(b)
}

// form is a parsed form in the order its keys first appear.
type form struct {
	keys []string
	vals map[string][]string
	list map[string]bool
}

func (f *form) add(key, val string) {
	if f.vals == nil {
		f.vals, f.list = map[string][]string{}, map[string]bool{}
	}
	if k, ok := strings.CutSuffix(key, "[]"); ok && k != "" {
		key = k
		f.list[key] = true
	}
	if _, seen := f.vals[key]; !seen {
		f.keys = append(f.keys, key)
	} else {
		f.list[key] = true
	}
	f.vals[key] = append(f.vals[key], val)
}

func (f *form) parseURLEncoded(body []byte) error {
	for _, part := range strings.Split(string(body), "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return fmt.Errorf("form key: %w", err)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return fmt.Errorf("form value of %q: %w", key, err)
		}
		if key == "" {
			continue
		}
		f.add(key, val)
	}
	return nil
}

func (f *form) parseMultipart(body []byte, boundary string) error {
	if boundary == "" {
		return errors.New("multipart without a boundary")
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("multipart: %w", err)
		}
		name := p.FormName()
		if name == "" || p.FileName() != "" {
			continue
		}
		val, err := io.ReadAll(p)
		if err != nil {
			return fmt.Errorf("multipart part %q: %w", name, err)
		}
		f.add(name, string(val))
	}
}

func (f *form) json() []byte {
	b := []byte{'{'}
	for i, k := range f.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		vs := f.vals[k]
		if !f.list[k] {
			b = appendJSONString(b, vs[0])
			continue
		}
		b = append(b, '[')
		for j, v := range vs {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, v)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
