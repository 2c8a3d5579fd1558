package leadsquared

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"leadgate/gateway/lead"
	"leadgate/gateway/policy"
)

// This file decodes and checks a Create or Update body, leniently, as
// LeadSquared's own clients write it.

// fieldError is a body that is not per the seed; Field names the attribute.
type fieldError struct {
	Field string
	Msg   string
	// Missing marks an absent mandatory attribute, which LeadSquared reports
	// with its own exception type.
	Missing bool
}

func (e *fieldError) Error() string { return e.Field + ": " + e.Msg }

func invalid(field, format string, args ...any) *fieldError {
	return &fieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

func missing(field string) *fieldError {
	return &fieldError{Field: field, Msg: "is mandatory", Missing: true}
}

// body is the request body with every attribute left raw, because
// LeadSquared clients send numbers as strings, booleans as strings and
// nested JSON as strings; each attribute is decoded leniently on its own.
// Unknown attributes are ignored, as LeadSquared does.
type body struct {
	Description           json.RawMessage
	URL                   json.RawMessage
	Method                json.RawMessage
	ContentType           json.RawMessage
	WebhookEvent          json.RawMessage
	IsSpecificLandingPage json.RawMessage
	LandingPageUrls       json.RawMessage
	NotifyOnFailure       json.RawMessage
	WebhookProperties     json.RawMessage
	CustomHeaders         json.RawMessage
}

// parseBody decodes and validates a Create or Update body into a
// Subscription without id or times. allowPrivate is the gateway's
// server.allow_private_destinations.
func parseBody(data []byte, allowPrivate bool) (Subscription, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return Subscription{}, &fieldError{Field: "body", Msg: "is empty; send the webhook as a JSON object"}
	}
	if data[0] != '{' {
		return Subscription{}, &fieldError{Field: "body", Msg: "must be a JSON object"}
	}
	var b body
	if err := json.Unmarshal(data, &b); err != nil {
		return Subscription{}, &fieldError{Field: "body", Msg: "is not valid JSON: " + err.Error()}
	}
	var s Subscription
	var err error
	if s.Description, err = decodeString(b.Description, "Description"); err != nil {
		return s, err
	}
	if len(s.Description) > maxDescriptionLength {
		return s, invalid("Description", "is longer than %d characters", maxDescriptionLength)
	}
	if s.URL, err = decodeURL(b.URL, allowPrivate); err != nil {
		return s, err
	}
	if s.Method, err = decodeMethod(b.Method); err != nil {
		return s, err
	}
	if s.ContentType, err = decodeContentType(b.ContentType); err != nil {
		return s, err
	}
	if s.WebhookEvent, err = decodeEvent(b.WebhookEvent); err != nil {
		return s, err
	}
	s.Event = events[s.WebhookEvent]
	if s.IsSpecificLandingPage, err = decodeBool(b.IsSpecificLandingPage, "IsSpecificLandingPage"); err != nil {
		return s, err
	}
	if s.LandingPageUrls, err = decodeStrings(b.LandingPageUrls, "LandingPageUrls"); err != nil {
		return s, err
	}
	if err := checkLandingPages(s); err != nil {
		return s, err
	}
	if s.NotifyOnFailure, err = decodeBool(b.NotifyOnFailure, "NotifyOnFailure"); err != nil {
		return s, err
	}
	if s.WebhookProperties, err = decodeProperties(b.WebhookProperties); err != nil {
		return s, err
	}
	if s.CustomHeaders, err = decodeHeaders(b.CustomHeaders); err != nil {
		return s, err
	}
	return s, nil
}

// isNull reports an absent or null attribute.
// unquoteJSON is the JSON raw holds: raw itself, trimmed, or when raw is
// a JSON string, the trimmed text inside it (the seed sends custom headers
// and properties as strings of JSON). ok is false for a string that does
// not decode.
func unquoteJSON(raw json.RawMessage) (t []byte, ok bool) {
	t = bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '"' {
		return t, true
	}
	var s string
	if json.Unmarshal(t, &s) != nil {
		return nil, false
	}
	return []byte(strings.TrimSpace(s)), true
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

func decodeString(raw json.RawMessage, field string) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalid(field, "must be a string")
	}
	return strings.TrimSpace(s), nil
}

// decodeBool takes a JSON boolean or the strings "true" and "false" (any
// case; "" is false), as LeadSquared's own forms send them.
func decodeBool(raw json.RawMessage, field string) (bool, error) {
	if isNull(raw) {
		return false, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, invalid(field, "must be true or false")
	}
	switch v := v.(type) {
	case bool:
		return v, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return true, nil
		case "false", "":
			return false, nil
		}
	}
	return false, invalid(field, "must be true or false")
}

func decodeURL(raw json.RawMessage, allowPrivate bool) (string, error) {
	s, err := decodeString(raw, "URL")
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", missing("URL")
	}
	if len(s) > maxURLLength {
		return "", invalid("URL", "is longer than %d characters", maxURLLength)
	}
	// A host name is needed too: the private-address check reads it.
	u, ok := policy.HTTPURL(s)
	if !ok || u.Hostname() == "" {
		return "", invalid("URL", "must be an absolute http or https URL")
	}
	if !allowPrivate && privateHost(u.Hostname()) {
		return "", invalid("URL", "may not point to a loopback, private, link-local or metadata address")
	}
	return s, nil
}

// privateHost catches the addresses a subscription may not reach when they
// are visible in the URL itself. Names that resolve to such addresses are
// refused by the delivery's dial-time guard; this check only answers the
// obvious cases with a 400 instead of dead letters later.
func privateHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || h == "metadata.google.internal" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	cgnat := netip.MustParsePrefix("100.64.0.0/10")
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || cgnat.Contains(ip)
}

// decodeMethod defaults to POST, the only method the seed has.
func decodeMethod(raw json.RawMessage) (string, error) {
	m, err := decodeString(raw, "Method")
	if err != nil {
		return "", err
	}
	if m == "" || strings.EqualFold(m, "POST") {
		return "POST", nil
	}
	return "", invalid("Method", "must be POST")
}

// decodeContentType defaults to application/json, the seed's example.
func decodeContentType(raw json.RawMessage) (string, error) {
	ct, err := decodeString(raw, "ContentType")
	if err != nil {
		return "", err
	}
	if ct == "" {
		return contentTypes[0], nil
	}
	for _, want := range contentTypes {
		if strings.EqualFold(ct, want) {
			return want, nil
		}
	}
	return "", invalid("ContentType", "must be one of %s", strings.Join(contentTypes, ", "))
}

// decodeEvent takes the event number as a JSON number or a string.
func decodeEvent(raw json.RawMessage) (int, error) {
	if isNull(raw) {
		return 0, missing("WebhookEvent")
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, invalid("WebhookEvent", "must be an event number; supported events are %s", supportedEvents)
	}
	var text string
	switch v := v.(type) {
	case float64:
		text = strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		text = strings.TrimSpace(v)
		if text == "" {
			return 0, missing("WebhookEvent")
		}
	default:
		return 0, invalid("WebhookEvent", "must be an event number; supported events are %s", supportedEvents)
	}
	n, err := strconv.Atoi(text)
	if err != nil {
		return 0, invalid("WebhookEvent", "%q is not an event number; supported events are %s", text, supportedEvents)
	}
	if _, ok := events[n]; !ok {
		return 0, invalid("WebhookEvent", "event %d is not supported; supported events are %s", n, supportedEvents)
	}
	return n, nil
}

// decodeStrings takes a JSON array of strings, a string holding such an
// array, or a single plain string.
func decodeStrings(raw json.RawMessage, field string) ([]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	t := bytes.TrimSpace(raw)
	if t[0] == '"' {
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return nil, invalid(field, "must be a list of strings")
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, nil
		}
		if !strings.HasPrefix(s, "[") {
			return []string{s}, nil
		}
		t = []byte(s)
	}
	var list []string
	if err := json.Unmarshal(t, &list); err != nil {
		return nil, invalid(field, "must be a list of strings")
	}
	out := make([]string, 0, len(list))
	for i, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, invalid(field, "item %d is empty", i)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// checkLandingPages applies the seed's rule both ways: the list is mandatory
// when IsSpecificLandingPage is true, and IsSpecificLandingPage must be true
// when a list is given. Landing pages only filter landing page submissions.
func checkLandingPages(s Subscription) error {
	switch {
	case s.IsSpecificLandingPage && len(s.LandingPageUrls) == 0:
		return missingMsg("LandingPageUrls", "is mandatory when IsSpecificLandingPage is true")
	case !s.IsSpecificLandingPage && len(s.LandingPageUrls) > 0:
		return invalid("IsSpecificLandingPage", "must be true when LandingPageUrls are given")
	case s.IsSpecificLandingPage && s.WebhookEvent != 1:
		return invalid("IsSpecificLandingPage", "applies only to WebhookEvent 1 (%s)", lead.FormSubmitted)
	case len(s.LandingPageUrls) > maxLandingPages:
		return invalid("LandingPageUrls", "has more than %d items", maxLandingPages)
	}
	return nil
}

func missingMsg(field, msg string) *fieldError {
	return &fieldError{Field: field, Msg: msg, Missing: true}
}

// opportunityKey reports a WebhookProperties attribute that only makes sense
// for LeadSquared's opportunity events.
func opportunityKey(k string) bool {
	l := strings.ToLower(k)
	switch l {
	case "statusfrom", "statusto", "stagefrom", "stageto":
		return true
	}
	return strings.Contains(l, "opportunit")
}

// decodeProperties takes null, an object, or a string holding an object (the
// seed shows both), refuses opportunity properties and returns the object
// compacted, or nil.
func decodeProperties(raw json.RawMessage) (json.RawMessage, error) {
	if isNull(raw) {
		return nil, nil
	}
	t, ok := unquoteJSON(raw)
	if !ok {
		return nil, invalid("WebhookProperties", "must be a JSON object")
	}
	if len(t) == 0 || string(t) == "null" {
		return nil, nil
	}
	if len(t) > maxPropertiesLength {
		return nil, invalid("WebhookProperties", "is longer than %d bytes", maxPropertiesLength)
	}
	var obj map[string]json.RawMessage
	if t[0] != '{' || json.Unmarshal(t, &obj) != nil {
		return nil, invalid("WebhookProperties", "must be a JSON object")
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if opportunityKey(k) {
			return nil, invalid("WebhookProperties", "opportunity properties (%s) are not supported: Leadgate has no opportunities; supported events are %s", k, supportedEvents)
		}
	}
	var out bytes.Buffer
	if err := json.Compact(&out, t); err != nil {
		return nil, invalid("WebhookProperties", "must be a JSON object")
	}
	return out.Bytes(), nil
}

// decodeHeaders takes a JSON array of {"Key", "Value"} objects, or a string
// holding that array (the seed's note: "the custom headers are strings in
// JSON format"). Order and repeated keys are kept.
func decodeHeaders(raw json.RawMessage) ([]Header, error) {
	if isNull(raw) {
		return nil, nil
	}
	t, ok := unquoteJSON(raw)
	if !ok {
		return nil, invalid("CustomHeaders", "must be a list of {\"Key\", \"Value\"} objects")
	}
	if len(t) == 0 {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(t, &items); err != nil {
		return nil, invalid("CustomHeaders", "must be a list of {\"Key\", \"Value\"} objects")
	}
	if len(items) > MaxCustomHeaders {
		return nil, invalid("CustomHeaders", "has %d headers; at most %d are allowed", len(items), MaxCustomHeaders)
	}
	out := make([]Header, 0, len(items))
	for i, item := range items {
		h, err := decodeHeader(item, i)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func decodeHeader(item json.RawMessage, i int) (Header, error) {
	field := fmt.Sprintf("CustomHeaders[%d]", i)
	t, ok := unquoteJSON(item)
	if !ok {
		return Header{}, invalid(field, "must be a {\"Key\", \"Value\"} object")
	}
	var h struct {
		Key   *string
		Value *string
	}
	if err := json.Unmarshal(t, &h); err != nil || h.Key == nil {
		return Header{}, invalid(field, "must be a {\"Key\", \"Value\"} object with string values")
	}
	key := strings.TrimSpace(*h.Key)
	if !policy.HeaderName(key) {
		return Header{}, invalid(field+".Key", "%q is not a valid header name", key)
	}
	if reservedHeaders[strings.ToLower(key)] {
		return Header{}, invalid(field+".Key", "%q is set by the gateway and cannot be a custom header", key)
	}
	var value string
	if h.Value != nil {
		value = *h.Value
	}
	if len(value) > maxHeaderValueLength {
		return Header{}, invalid(field+".Value", "is longer than %d characters", maxHeaderValueLength)
	}
	if !policy.HeaderValue(value) {
		return Header{}, invalid(field+".Value", "may not contain line breaks or other control characters")
	}
	return Header{Key: key, Value: value}, nil
}
