package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The formats and content types a destination may name. Package deliver
// renders them; adding one here (and to its list below) is what makes
// config and deliver accept it.
const (
	FormatCanonical = "canonical"
	FormatLedsak    = "ledsak"
	FormatSaveLead  = "save_lead"
	FormatSlack     = "slack"
	// FormatTemplatePrefix starts a template format, "template:FILE".
	FormatTemplatePrefix = "template:"

	ContentJSON = "application/json"
	ContentForm = "application/x-www-form-urlencoded"
	ContentText = "text/plain"
)

// The sets Shape.Validate admits, in the order its messages list them.
var (
	methods      = []string{"POST", "PUT", "PATCH"}
	contentTypes = []string{ContentJSON, ContentForm, ContentText}
	// formats ends with the template form, which is a prefix, not a name.
	formats = []string{FormatCanonical, FormatLedsak, FormatSaveLead, FormatSlack, FormatTemplatePrefix + "FILE"}
)

// Shape is how a destination's requests look: the method, the content
// type and the format. gateway.yaml's destinations and those built in
// code (LeadSquared subscriptions) are checked by its one Validate.
type Shape struct {
	Method      string
	ContentType string
	Format      string
}

// Validate reports every problem of s at once, joined, each a *Problem
// at "method", "content_type" or "format". A template format passes
// whatever follows its prefix: its FILE is checked by whoever reads it
// (config that it exists, deliver that its text parses). It has no side
// effects.
func (s Shape) Validate() error {
	var errs []error
	if !slices.Contains(methods, s.Method) {
		errs = append(errs, oneOf("method", methods, s.Method))
	}
	if !slices.Contains(contentTypes, s.ContentType) {
		errs = append(errs, oneOf("content_type", contentTypes, s.ContentType))
	}
	if !slices.Contains(formats[:len(formats)-1], s.Format) && !strings.HasPrefix(s.Format, FormatTemplatePrefix) {
		errs = append(errs, oneOf("format", formats, s.Format))
	}
	return errors.Join(errs...)
}

// oneOf is the problem of a value outside a set: "must be a, b or c, got
// "x"".
func oneOf(path string, set []string, got string) *Problem {
	list := strings.Join(set[:len(set)-1], ", ") + " or " + set[len(set)-1]
	return &Problem{Path: path, Msg: fmt.Sprintf("must be %s, got %q", list, got)}
}

// HeaderCount returns the problem of a destination with n custom headers,
// at "headers", or nil when n is at most MaxHeaders.
func HeaderCount(n int) error {
	if n <= MaxHeaders {
		return nil
	}
	return &Problem{Path: "headers", Msg: fmt.Sprintf("at most %d headers, got %d", MaxHeaders, n)}
}

// HeaderValue reports whether v may be sent as a header value: the rule
// net/http applies when it sends one (no control byte but a tab, no DEL).
// A line break would start another header, or the body; any other control
// byte would pass validation and then fail every attempt, to be retried
// for a day before its dead letter.
func HeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// BadHeaderValue says what is wrong with a value HeaderValue refuses.
const BadHeaderValue = "must not contain a line break, NUL or other control character"

// SecretProblem says what is wrong with a signing secret, or "" when it
// signs: whsec_ then standard base64, padded or not (DecodeSecret's rule).
// How long a key must be is left to config, which asks more of a secret a
// person writes. The message never holds the secret.
func SecretProblem(s string) string {
	rest, ok := strings.CutPrefix(s, "whsec_")
	switch {
	case !ok:
		return "must start with whsec_ (value not shown)"
	case strings.TrimSpace(rest) == "":
		// Not a secret that is merely short: nothing would sign.
		return "has no key after whsec_ (write ${VAR:-} for an optional secret, or leave secret out)"
	}
	if _, err := DecodeSecret(s); err != nil {
		return "must be whsec_ followed by base64; the rest is not valid base64 (value not shown)"
	}
	return ""
}
