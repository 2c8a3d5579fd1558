package server

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"leadgate/gateway/lead"
)

// orderedMultipart is a multipart/form-data body with pairs (key, value,
// key, value, …) in exactly that order, and its content type.
func orderedMultipart(t *testing.T, pairs ...string) (contentType, body string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	if err := w.SetBoundary("leadgate-test-boundary"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := w.WriteField(pairs[i], pairs[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	// A file part is left out of the lead, but it is part of what was sent.
	fw, err := w.CreateFormFile("cv", "cv.txt")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte("a file"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), b.String()
}

// queuedEvents lists the events queued for crm, by name.
func queuedEvents(t *testing.T, h *harness) []string {
	t.Helper()
	var got []string
	for _, d := range h.pending(t, "crm") {
		got = append(got, d.Event.Event)
	}
	return got
}

// A multipart body is kept as sent: the same body posted again is a
// duplicate (the HTTP library used to write the parts out again in a
// random order before the gateway saw them, so the duplicate rule saw a
// new payload most times).
func TestMultipartRepeatIsADuplicate(t *testing.T) {
	h := newHarness(t)
	ct, body := orderedMultipart(t, "name", "Mia Multi", "email", "mia@example.com", "budget", "5000",
		"utm_source", "ads", "utm_medium", "cpc", "utm_campaign", "spring", "message", "hello")
	var leadIDs []any
	for range 6 {
		a := h.post(t, "/hooks/website", ct, body)
		if a.code != http.StatusOK {
			t.Fatalf("post = %d %s", a.code, a.raw)
		}
		leadIDs = append(leadIDs, a.body["lead_id"])
	}
	if leadIDs[0] == nil || slices.ContainsFunc(leadIDs, func(id any) bool { return id != leadIDs[0] }) {
		t.Fatalf("lead ids = %v, want one", leadIDs)
	}
	if got, want := queuedEvents(t, h), []string{lead.FormSubmitted, lead.LeadCreated}; !slices.Equal(got, want) {
		t.Fatalf("queued events = %v, want %v: the repeats must be duplicates", got, want)
	}
}

// The order of a multipart body's fields does not change the lead: the
// same fields in another order are the same person with nothing changed
// (only the new form post's form.submitted).
func TestMultipartFieldOrder(t *testing.T) {
	h := newHarness(t)
	ct, first := orderedMultipart(t, "name", "Ole Order", "email", "ole@example.com", "budget", "5000", "city", "Oslo")
	_, second := orderedMultipart(t, "city", "Oslo", "budget", "5000", "email", "ole@example.com", "name", "Ole Order")
	a := h.post(t, "/hooks/website", ct, first)
	b := h.post(t, "/hooks/website", ct, second)
	if a.code != http.StatusOK || b.code != http.StatusOK || a.body["lead_id"] != b.body["lead_id"] {
		t.Fatalf("answers %d %s and %d %s, want 200 with one lead_id", a.code, a.raw, b.code, b.raw)
	}
	ds := h.pending(t, "crm")
	var got []string
	for _, d := range ds {
		got = append(got, d.Event.Event)
	}
	if want := []string{lead.FormSubmitted, lead.LeadCreated, lead.FormSubmitted}; !slices.Equal(got, want) {
		t.Fatalf("queued events = %v, want %v", got, want)
	}
	if l := ds[2].Event.Lead; l.FullName != "Ole Order" || l.Fields["budget"] != "5000" || l.Fields["city"] != "Oslo" {
		t.Fatalf("lead of the reordered post = %+v", l)
	}
}

// An HMAC over a multipart body, as the sender sent it, is accepted; the
// same signature over a body whose parts were reordered is not.
func TestMultipartHMAC(t *testing.T) {
	h := newHarness(t, onlyMapping(t, "signed", `events: [lead.created]
auth: {type: hmac, header: X-Sig, prefix: 'sha256=', secret: s3cret}
fields:
  email: email
  first_name: name
`))
	ct, body := orderedMultipart(t, "name", "Sig", "email", "sig@example.com", "a", "1", "b", "2", "c", "3", "d", "4")
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write([]byte(body))
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	send := func(body string) answer {
		req := httptest.NewRequest(http.MethodPost, "/hooks/signed", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("X-Sig", sig)
		return h.do(t, req)
	}
	// Several times: a re-serialized body failed only when its random
	// order differed from the sent one.
	for range 4 {
		if a := send(body); a.code != http.StatusOK {
			t.Fatalf("signed multipart = %d %s, want 200", a.code, a.raw)
		}
	}
	_, reordered := orderedMultipart(t, "email", "sig@example.com", "name", "Sig", "a", "1", "b", "2", "c", "3", "d", "4")
	if a := send(reordered); a.code != http.StatusUnauthorized {
		t.Fatalf("reordered body with the first body's signature = %d %s, want 401", a.code, a.raw)
	}
}
