// Package deliver sends stored events to destinations: formats and content
// types, Standard Webhooks signatures, the retry schedule, outbound pacing,
// the SSRF guard and the worker pool that drains the store's queue.
package deliver

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"leadgate/gateway/policy"
)

// Header is one custom header; a slice keeps order and allows repeated keys
// (LeadSquared subscriptions may repeat one).
type Header struct {
	Key   string
	Value string
}

// FieldFilter admits an event only when the value at Path (a gjson path over
// the canonical event, for example "lead.status") equals one of Equals.
type FieldFilter struct {
	Path   string
	Equals []string
}

// Destination is one downstream webhook, from gateway.yaml or from a
// LeadSquared-compatible subscription. Only main (and the subscription API)
// build them; deliver never reads the config package.
type Destination struct {
	// Name is unique; it labels metrics and names the delivery queue.
	Name string
	URL  string
	// Method is POST, PUT or PATCH.
	Method string
	// ContentType is application/json, application/x-www-form-urlencoded
	// or text/plain.
	ContentType string
	// Format is canonical, ledsak, save_lead, slack or template:FILE.
	Format string
	// Template is the parsed text of a template:FILE format, read by main.
	Template string
	Headers  []Header
	// Events and Sources filter what the destination gets; empty: all.
	Events  []string
	Sources []string
	// Filters must all match; empty: all.
	Filters []FieldFilter
	// LandingPages, when set, admit form.submitted only for these
	// lead.landing_page values (LeadSquared IsSpecificLandingPage).
	LandingPages []string
	Enabled      bool
	// Delivery is the policy: timeout, pacing, retries, concurrency and
	// order. A field left zero takes policy.Default()'s. Ordered is
	// recorded with each delivery by Route's caller
	// (store.IngestRequest.Ordered), so a reload that changes it applies
	// to events ingested afterwards.
	policy.Delivery
	// Secrets are whsec_… signing secrets; two at once while rotating.
	Secrets []string
	// NoNotify tells nobody of this destination's dead letters, not even the
	// gateway's notify URL: a LeadSquared subscription made with
	// NotifyOnFailure false.
	NoNotify bool
	// NotifyOnFailure is told of dead letters; empty falls back to the
	// gateway's notify_url.
	NotifyOnFailure string
	// AllowPrivate lets the destination reach loopback, private, link-local
	// and metadata addresses.
	AllowPrivate bool
	// Ledsak fills the ledsak format's client and branch for leads that
	// have none of their own.
	Ledsak LedsakDefaults
}

// LedsakDefaults are the client and branch the ledsak format sends for a
// lead that has none: the Ledsak website webhook needs both, and a plain
// form, save_lead or Leadsie source maps neither. A lead's own win.
type LedsakDefaults struct {
	Client string
	Branch string
}

// Formats and content types a Destination may name: package policy's, the
// one list config validates against too.
const (
	FormatCanonical = policy.FormatCanonical
	FormatLedsak    = policy.FormatLedsak
	FormatSaveLead  = policy.FormatSaveLead
	FormatSlack     = policy.FormatSlack
	// FormatTemplatePrefix starts a template format, "template:FILE"; the
	// file's text is in Destination.Template.
	FormatTemplatePrefix = policy.FormatTemplatePrefix

	ContentJSON = policy.ContentJSON
	ContentForm = policy.ContentForm
	ContentText = policy.ContentText
)

// MaxRetryAfter caps how long a destination's Retry-After can push a
// retry out, so a misbehaving server cannot park events for days.
const MaxRetryAfter = time.Hour

func (d *Destination) method() string {
	if d.Method == "" {
		return http.MethodPost
	}
	return strings.ToUpper(d.Method)
}

func (d *Destination) contentType() string {
	if d.ContentType == "" {
		return ContentJSON
	}
	return d.ContentType
}

func (d *Destination) format() string {
	if d.Format == "" {
		return FormatCanonical
	}
	return d.Format
}

// The accessors below default a field left zero in a destination built
// in code (config and the subscription API set them all) to
// policy.Default()'s, without building a whole policy per call.

func (d *Destination) timeout() time.Duration {
	if d.Timeout <= 0 {
		return policy.DefaultTimeout
	}
	return d.Timeout
}

func (d *Destination) maxAttempts() int {
	if d.Retry.MaxAttempts <= 0 {
		return policy.DefaultMaxAttempts
	}
	return d.Retry.MaxAttempts
}

// defaultSchedule is policy.DefaultSchedule(), built once: schedule runs
// per attempt, and nothing writes to what it returns.
var defaultSchedule = policy.DefaultSchedule()

func (d *Destination) schedule() []time.Duration {
	if len(d.Retry.Schedule) == 0 {
		return defaultSchedule
	}
	return d.Retry.Schedule
}

func (d *Destination) concurrency() int {
	if d.Concurrency <= 0 {
		return policy.DefaultConcurrency
	}
	return d.Concurrency
}

func (d *Destination) paced() bool { return d.Paced() }

// Validate reports every problem with d, each a *policy.Problem whose
// Path is the field it is about, for a destination built in code: config
// validates gateway.yaml's with the same checks (package policy) and
// file:line. Zero values that have a default are fine. It has no side
// effects.
func (d Destination) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &policy.Problem{Path: field, Msg: fmt.Sprintf(format, args...)})
	}
	if d.Name == "" {
		add("name", "must not be empty")
	}
	if _, ok := policy.HTTPURL(d.URL); !ok {
		add("url", "must be an absolute http or https URL")
	}
	errs = append(errs, policy.Shape{Method: d.method(), ContentType: d.contentType(), Format: d.format()}.Validate())
	if strings.HasPrefix(d.format(), FormatTemplatePrefix) {
		if _, err := parseTemplate(d.Template); err != nil {
			add("format", "%v", err)
		}
	}
	errs = append(errs, policy.HeaderCount(len(d.Headers)))
	for i, h := range d.Headers {
		// A slice may repeat a name, so the path is an index and the
		// message names the header.
		if !policy.HeaderName(h.Key) {
			add(fmt.Sprintf("headers[%d]", i), "invalid header name %q", h.Key)
		}
		if !policy.HeaderValue(h.Value) {
			add(fmt.Sprintf("headers[%d]", i), "value of %q %s", h.Key, policy.BadHeaderValue)
		}
	}
	for i, s := range d.Secrets {
		// The message never holds the secret.
		if msg := policy.SecretProblem(s); msg != "" {
			add(fmt.Sprintf("secret[%d]", i), "%s", msg)
		}
	}
	for i, f := range d.Filters {
		if f.Path == "" {
			add(fmt.Sprintf("filters[%d].path", i), "must not be empty")
		}
	}
	errs = append(errs, d.Delivery.Or(policy.Default()).Validate())
	if d.NotifyOnFailure != "" {
		if _, ok := policy.HTTPURL(d.NotifyOnFailure); !ok {
			add("notify_on_failure", "must be an absolute http or https URL")
		}
	}
	return errors.Join(errs...)
}
