package leadsquared

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"leadgate/gateway/deliver"
	"leadgate/gateway/lead"
	"leadgate/gateway/policy"
)

// MaxCustomHeaders is the seed's limit on CustomHeaders.
const MaxCustomHeaders = 10

// Limits on sizes that the seed leaves open; generous, but bounded so that a
// subscription cannot grow into a large record read on every change.
const (
	maxURLLength         = 2048
	maxDescriptionLength = 2000
	maxLandingPages      = 100
	maxHeaderValueLength = 4096
	maxPropertiesLength  = 8192
)

// events maps the LeadSquared event numbers Leadgate supports to canonical
// event names. LeadSquared's other numbers (activities, owners, stages,
// tasks, opportunities) have no counterpart in Leadgate.
var events = map[int]string{
	1:  lead.FormSubmitted,
	3:  lead.LeadCreated,
	6:  lead.LeadUpdated,
	9:  lead.LeadScoreChanged,
	26: lead.LeadFieldUpdated,
}

// supportedEvents is the 400 message's list, in number order.
var supportedEvents = func() string {
	nums := make([]int, 0, len(events))
	for n := range events {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	parts := make([]string, len(nums))
	for i, n := range nums {
		parts[i] = fmt.Sprintf("%d (%s)", n, events[n])
	}
	return strings.Join(parts, ", ")
}()

// EventName returns the canonical event a LeadSquared WebhookEvent number
// stands for, and whether Leadgate supports it.
func EventName(number int) (string, bool) {
	name, ok := events[number]
	return name, ok
}

// contentTypes are the seed's three formats.
var contentTypes = []string{"application/json", "application/x-www-form-urlencoded", "text/plain"}

// reservedHeaders are set by the delivery itself; a custom header with one of
// these names would corrupt the request or forge its signature.
var reservedHeaders = map[string]bool{
	"host": true, "content-length": true, "content-type": true, "transfer-encoding": true,
	"connection": true, "te": true, "trailer": true, "upgrade": true, "keep-alive": true,
	"webhook-id": true, "webhook-timestamp": true, "webhook-signature": true,
}

// Header is one custom header of a subscription, as LeadSquared writes it.
type Header struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// Subscription is a LeadSquared-compatible webhook subscription: the JSON
// kept in the store and the shape of one Retrieve item.
type Subscription struct {
	ID          string `json:"Id"`
	Description string `json:"Description"`
	URL         string `json:"URL"`
	Method      string `json:"Method"`
	ContentType string `json:"ContentType"`
	// WebhookEvent is the LeadSquared event number; Event is its canonical
	// name, written for the reader and recomputed on every read.
	WebhookEvent          int      `json:"WebhookEvent"`
	Event                 string   `json:"Event"`
	IsSpecificLandingPage bool     `json:"IsSpecificLandingPage"`
	LandingPageUrls       []string `json:"LandingPageUrls"`
	NotifyOnFailure       bool     `json:"NotifyOnFailure"`
	// WebhookProperties is kept as given (an object, or null) but has no
	// effect: Leadgate has no activities or opportunities to filter.
	WebhookProperties json.RawMessage `json:"WebhookProperties"`
	CustomHeaders     []Header        `json:"CustomHeaders"`
	CreatedAt         time.Time       `json:"CreatedAt"`
	UpdatedAt         time.Time       `json:"UpdatedAt"`
}

// Defaults are what a subscription gets for the settings LeadSquared's
// body has no attribute for; main fills them from gateway.yaml's
// subscriptions block (config.Subscriptions.Delivery).
type Defaults struct {
	// Delivery is every subscription's delivery policy. The zero value
	// stands for policy.Subscription() (ordered, concurrency 4); a field
	// left zero in another takes policy.Subscription()'s.
	Delivery policy.Delivery
	// Secrets, when set, sign subscription deliveries (Standard Webhooks);
	// LeadSquared has no attribute for a signing secret.
	Secrets []string
}

// withZeroesFilled is d with its policy complete.
func (d Defaults) withZeroesFilled() Defaults {
	if reflect.ValueOf(d.Delivery).IsZero() {
		d.Delivery = policy.Subscription()
		return d
	}
	d.Delivery = d.Delivery.Or(policy.Subscription())
	return d
}

// DestinationName is the delivery name of subscription id: it labels metrics
// and names the delivery queue and dead letters.
func DestinationName(id string) string { return destinationPrefix + id }

const destinationPrefix = "lsq-"

// destination turns a stored subscription into the delivery's view of it.
func (s Subscription) destination(d Defaults, allowPrivate bool) deliver.Destination {
	pol := d.Delivery
	pol.Retry.Schedule = slices.Clone(pol.Retry.Schedule)
	dst := deliver.Destination{
		Name:         DestinationName(s.ID),
		URL:          s.URL,
		Method:       "POST",
		ContentType:  s.ContentType,
		Format:       "canonical",
		Events:       []string{events[s.WebhookEvent]},
		Enabled:      true,
		Delivery:     pol,
		Secrets:      slices.Clone(d.Secrets),
		AllowPrivate: allowPrivate,
	}
	for _, h := range s.CustomHeaders {
		dst.Headers = append(dst.Headers, deliver.Header{Key: h.Key, Value: h.Value})
	}
	if s.IsSpecificLandingPage {
		dst.LandingPages = append([]string(nil), s.LandingPageUrls...)
	}
	// NotifyOnFailure stays empty: deliver then tells the gateway's
	// notify_url as a trusted (config) address, which an ops URL on a
	// private network needs. Naming the same URL here would put it behind
	// the subscription's private-address guard instead. Without
	// NotifyOnFailure nobody is told.
	dst.NoNotify = !s.NotifyOnFailure
	return dst
}
