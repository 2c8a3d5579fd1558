package deliver

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"

	"leadgate/gateway/policy"
)

// target is what every attempt to one destination shares: the parsed URL,
// the headers that do not change per event and the signer. The sender
// builds it once per destination (and again when one of the fields it was
// built from changes, on a reload), not once per attempt: parsing the URL,
// canonicalising header names and decoding the secrets were a good part of
// an attempt's own cost.
type target struct {
	// What it was built from, compared on every attempt.
	url, method, contentType, version string
	headers                           []Header
	secrets                           []string

	// tmpl is the request without context, body or per-event headers;
	// nil when the URL is invalid (urlErr says so at send time).
	tmpl *http.Request
	// fixed are the headers every attempt sends, canonical keys mapped to
	// values, as Header.Add of the custom headers and Header.Set of
	// Content-Type and User-Agent leave them. Attempts share the value
	// slices: nothing writes to a request's header values once built.
	fixed http.Header
	// signer is nil without secrets; signErr is why it could not be built.
	signer  *signer
	signErr error
}

// Header keys set per attempt, canonical as Header.Set writes them.
var (
	keyWebhookID        = http.CanonicalHeaderKey("webhook-id")
	keyWebhookTimestamp = http.CanonicalHeaderKey("webhook-timestamp")
	keyWebhookSignature = http.CanonicalHeaderKey("webhook-signature")
)

func newTarget(d *Destination, version string) *target {
	t := &target{
		url: d.URL, method: d.Method, contentType: d.ContentType, version: version,
		headers: slices.Clone(d.Headers), secrets: slices.Clone(d.Secrets),
	}
	if req, err := http.NewRequest(d.method(), d.URL, nil); err == nil {
		t.tmpl = req
	}
	h := http.Header{}
	for i, kv := range d.Headers {
		if i == policy.MaxHeaders {
			break
		}
		h.Add(kv.Key, kv.Value)
	}
	h.Set("Content-Type", d.contentType())
	h.Set("User-Agent", "leadgate/"+version)
	for k, v := range h {
		// Every attempt shares these slices: capped, an Add on one request
		// copies instead of writing into the array the others read.
		h[k] = slices.Clip(v)
	}
	t.fixed = h
	if len(d.Secrets) > 0 {
		t.signer, t.signErr = newSigner(d.Secrets)
	}
	return t
}

// current says whether t was built from what d and version hold now.
func (t *target) current(d *Destination, version string) bool {
	return t.url == d.URL && t.method == d.Method && t.contentType == d.ContentType &&
		t.version == version && slices.Equal(t.headers, d.Headers) && slices.Equal(t.secrets, d.Secrets)
}

// request is what http.NewRequestWithContext(ctx, method, url,
// bytes.NewReader(body)) followed by the header Adds and Sets of one
// attempt builds, from the template: same URL, Host, ContentLength, Body,
// GetBody (which lets the transport resend the body on a reused
// connection that turned out closed) and headers.
func (t *target) request(ctx context.Context, body []byte, id, ts, sig string) *http.Request {
	req := t.tmpl.WithContext(ctx)
	h := make(http.Header, len(t.fixed)+3)
	for k, v := range t.fixed {
		h[k] = v
	}
	// One backing array for the per-attempt values, each slice capped so
	// an Add on one cannot write into the next.
	vals := [3]string{id, ts, sig}
	own := vals[:]
	h[keyWebhookID] = own[0:1:1]
	h[keyWebhookTimestamp] = own[1:2:2]
	if t.signer != nil {
		h[keyWebhookSignature] = own[2:3:3]
	}
	req.Header = h
	req.ContentLength = int64(len(body))
	if len(body) == 0 {
		req.Body = http.NoBody
		req.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
		return req
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return req
}
