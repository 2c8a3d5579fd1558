// Package config is gateway.yaml: its types, their defaults, Load and
// Validate. Load copies the defaults in, expands ${VAR} from the
// environment, decodes strictly and validates, so that every problem of a
// file is reported at once, each as FILE:LINE: key.path: message. Only main
// turns a Config into the other packages' constructor arguments.
package config

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"leadgate/gateway/policy"
	"leadgate/gateway/ratelimit"
)

// Config is the whole of gateway.yaml.
type Config struct {
	// Server is the HTTP listener.
	Server Server `yaml:"server"`
	// Storage is the embedded store, used when Redis.URL is empty.
	Storage Storage `yaml:"storage"`
	// Redis, when its URL is set, holds the shared state of every replica.
	Redis Redis `yaml:"redis"`
	// MappingsDir holds one <source>.yaml per inbound source; relative to
	// the config file's folder.
	MappingsDir string `yaml:"mappings_dir"`
	// NotifyURL is told of dead letters of a destination that has no
	// NotifyOnFailure of its own; empty: nobody is told.
	NotifyURL string `yaml:"notify_url"`
	// RateLimit is the inbound default, per source and client key.
	RateLimit RateLimit `yaml:"rate_limit"`
	// Admin holds the keys of the admin and LeadSquared-compatible APIs.
	Admin Admin `yaml:"admin"`
	// Destinations are the downstream webhooks written in this file.
	Destinations []Destination `yaml:"destinations"`
	// Subscriptions are the delivery settings of every subscription made
	// through the LeadSquared-compatible API, whose Create body has no
	// attribute for them.
	Subscriptions Subscriptions `yaml:"subscriptions"`
	// Log sets the slog handler.
	Log Log `yaml:"log"`

	// file is the path Load read, for problems and reloads.
	file string
	// lines maps a key path ("destinations[1].url") to its line in file.
	lines map[string]int
	// redisFromEnv records that REDIS_URL replaced redis.url, so that a
	// problem with it names the variable rather than a line that is not it.
	redisFromEnv bool
}

// Server is the HTTP listener.
type Server struct {
	// Listen is host:port of the main listener.
	Listen string `yaml:"listen"`
	// BodyLimit is the largest inbound body in bytes; larger is a 413.
	BodyLimit int64 `yaml:"body_limit"`
	// MetricsListen is host:port of a separate /metrics listener, to keep
	// metrics off a public port; empty serves them on Listen.
	MetricsListen string `yaml:"metrics_listen"`
	// AllowPrivateDestinations lets every destination, including API
	// subscriptions, reach loopback, private, link-local and metadata
	// addresses. Leave it off when untrusted callers hold admin keys.
	AllowPrivateDestinations bool `yaml:"allow_private_destinations"`
	// ShutdownGrace is how long in-flight deliveries may finish after
	// SIGTERM before the process exits; unfinished ones are retried later.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// TrustedProxies lists the load balancers in front of the gateway, as
	// IP addresses or CIDRs. Only a request from one of them has its
	// client's address (rate_limit_key: ip) read from ProxyHeader; empty
	// trusts no one and uses the peer's address.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ProxyHeader is the header the trusted proxies put the client's
	// address in; the rightmost address that is not a trusted proxy wins.
	ProxyHeader string `yaml:"proxy_header"`
}

// Storage is the embedded store.
type Storage struct {
	// DataDir holds the embedded database; relative to the config file's
	// folder.
	DataDir string `yaml:"data_dir"`
	// Retention is how long an event is kept after its last change once
	// every delivery of it is delivered or dead (with its attempts and
	// dead letters), in both backends. Nothing queued or retrying is ever
	// removed.
	Retention time.Duration `yaml:"retention"`
	// LeadRetention is how long a lead stays in the lead index after it
	// was last seen (both backends): a lead not seen for that long leaves
	// it, and a later payload of that person is a new lead. Default 8760h.
	LeadRetention time.Duration `yaml:"lead_retention"`
}

// Redis is the shared backend of several replicas.
type Redis struct {
	// URL is redis://[user:password@]host:port[/db] or rediss://…, a
	// Sentinel set (redis-sentinel://h1:26379,h2:26379/0?master=NAME) or a
	// Cluster (redis-cluster://h1:7000,h2:7001); see package redisurl.
	// Empty uses the embedded store. The REDIS_URL environment variable,
	// when set and non-empty, replaces it.
	URL string `yaml:"url"`
	// MinReplicasAcked is how many replicas must have an accepted lead's
	// write before the 200 (Redis WAIT); 0 answers once the primary has it.
	MinReplicasAcked int `yaml:"min_replicas_acked"`
}

// RateLimit is how many requests a rolling window of Per admits, written
// {requests, per}.
type RateLimit = ratelimit.Limit

// Admin holds the keys of the admin API (X-Access-Key / X-Secret-Key) and of
// the LeadSquared-compatible API (accessKey / secretKey). Both empty
// disables those APIs.
type Admin struct {
	// AccessKey identifies the caller.
	AccessKey Secret `yaml:"access_key"`
	// SecretKey proves it.
	SecretKey Secret `yaml:"secret_key"`
}

// Enabled reports whether the admin APIs are on.
func (a Admin) Enabled() bool { return a.AccessKey != "" && a.SecretKey != "" }

// Log sets the slog handler.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is json or text.
	Format string `yaml:"format"`
}

// SlogLevel returns Level as a slog.Level; an unknown level (which Validate
// refuses) is info.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Destination is one downstream webhook written in gateway.yaml.
type Destination struct {
	// Name is unique and matches [a-z0-9_-]+, since it labels metrics and
	// names the delivery queue.
	Name string `yaml:"name"`
	// URL is the absolute http or https URL delivered to.
	URL string `yaml:"url"`
	// Method is POST, PUT or PATCH.
	Method string `yaml:"method"`
	// ContentType is application/json, application/x-www-form-urlencoded
	// or text/plain.
	ContentType string `yaml:"content_type"`
	// Format is canonical, ledsak, save_lead, slack or template:FILE. Load
	// resolves a relative FILE against the config file's folder.
	Format string `yaml:"format"`
	// Headers are sent with every delivery; at most 10. Values are secrets
	// because they usually carry API keys.
	Headers map[string]Secret `yaml:"headers"`
	// Events the destination gets; empty: all.
	Events []string `yaml:"events"`
	// Sources (mapping names) the destination gets; empty: all.
	Sources []string `yaml:"sources"`
	// Filter admits an event only when every entry matches.
	Filter []Filter `yaml:"filter"`
	// LandingPages, when set, admit form.submitted only for these
	// lead.landing_page values.
	LandingPages []string `yaml:"landing_pages"`
	// Enabled false keeps the destination configured but sends nothing.
	Enabled bool `yaml:"enabled"`
	// Delivery is the delivery policy, written inline: timeout,
	// rate_limit, retry, concurrency and ordered (default false).
	policy.Delivery `yaml:",inline"`
	// Secrets sign deliveries (Standard Webhooks). The YAML key "secret"
	// takes one whsec_… string or a list of two while rotating; empty
	// entries (an unset ${VAR}) are dropped.
	Secrets []Secret `yaml:"secret"`
	// NotifyOnFailure is told when an event is dead-lettered; empty falls
	// back to the top-level NotifyURL.
	NotifyOnFailure string `yaml:"notify_on_failure"`
	// AllowPrivate lets the destination reach loopback, private, link-local
	// and metadata addresses. Destinations written here are trusted, so it
	// defaults to true.
	AllowPrivate bool `yaml:"allow_private"`
	// Ledsak gives the ledsak format a client and a branch for leads that
	// have none of their own (a lead's own win); only with format ledsak.
	Ledsak LedsakDefaults `yaml:"ledsak"`
}

// LedsakDefaults are a destination's client and branch for the Ledsak
// website webhook body, which needs both: a source that maps neither (a
// plain form, save_lead, Leadsie) then works without a template.
type LedsakDefaults struct {
	// Client is the Ledsak client the lead is created for.
	Client string `yaml:"client"`
	// Branch is the Ledsak branch the lead is created in.
	Branch string `yaml:"branch"`
}

// TemplateFile returns the FILE of a template:FILE format, or "".
func (d Destination) TemplateFile() string {
	file, ok := strings.CutPrefix(d.Format, policy.FormatTemplatePrefix)
	if !ok {
		return ""
	}
	return file
}

// RevealSecrets returns the signing secrets as plain strings, for the
// signer.
func (d Destination) RevealSecrets() []string {
	out := make([]string, 0, len(d.Secrets))
	for _, s := range d.Secrets {
		out = append(out, s.Reveal())
	}
	return out
}

// Subscriptions are what every LeadSquared-compatible subscription is
// delivered with. The rest of a subscription comes from its Create body,
// and the gateway fixes the format (canonical) and the concurrency.
type Subscriptions struct {
	// Timeout bounds one attempt.
	Timeout time.Duration `yaml:"timeout"`
	// RateLimit paces each subscription's deliveries (they wait, never
	// drop); zero: unpaced.
	RateLimit RateLimit `yaml:"rate_limit"`
	// Retry is the retry policy.
	Retry Retry `yaml:"retry"`
	// Secrets sign every subscription's deliveries (Standard Webhooks),
	// as a destination's: one whsec_… string, or a list of two while
	// rotating; empty: unsigned.
	Secrets []Secret `yaml:"secret"`
	// Ordered delivers one lead's events to each subscription in
	// lead_version order, as a destination's ordered does. Default true:
	// a CRM wants a lead's events in order.
	Ordered bool `yaml:"ordered"`
}

// Delivery returns the policy of every subscription: policy.Subscription()
// with this block's settings over it. The concurrency stays the
// subscription's fixed one; this block has no key for it.
func (s Subscriptions) Delivery() policy.Delivery {
	d := policy.Subscription()
	d.Timeout = s.Timeout
	d.RateLimit = s.RateLimit
	d.Retry = s.Retry
	d.Ordered = s.Ordered
	return d
}

// RevealSecrets returns the signing secrets as plain strings, for the
// signer.
func (s Subscriptions) RevealSecrets() []string {
	out := make([]string, 0, len(s.Secrets))
	for _, sec := range s.Secrets {
		out = append(out, sec.Reveal())
	}
	return out
}

// Filter admits an event only when the value at Path equals one of Equals.
type Filter struct {
	// Path is a gjson path over the canonical event, e.g. "lead.status".
	Path string `yaml:"path"`
	// Equals lists the admitted values, compared as strings.
	Equals []string `yaml:"equals"`
}

// Retry is a destination's retry policy.
type Retry = policy.Retry

// DefaultLeadRetention is storage.lead_retention when gateway.yaml does not
// set it: a year.
const DefaultLeadRetention = 8760 * time.Hour

// Default returns the configuration of an empty gateway.yaml: the values
// Load copies in before decoding.
func Default() Config {
	return Config{
		Server: Server{
			Listen:        "127.0.0.1:8080",
			BodyLimit:     1 << 20,
			ShutdownGrace: 15 * time.Second,
			ProxyHeader:   "X-Forwarded-For",
		},
		Storage:     Storage{DataDir: "data", Retention: DefaultRetention, LeadRetention: DefaultLeadRetention},
		MappingsDir: "mappings",
		RateLimit:   RateLimit{Requests: 25, Per: 5 * time.Second},
		Log:         Log{Level: "info", Format: "json"},

		Subscriptions: DefaultSubscriptions(),
	}
}

// DefaultRetention is storage.retention when the file does not set it.
const DefaultRetention = 720 * time.Hour

// DefaultSubscriptions returns the subscriptions block of an empty
// gateway.yaml: policy.Subscription()'s settings (a destination's
// defaults, but ordered), unsigned and unpaced.
func DefaultSubscriptions() Subscriptions {
	d := policy.Subscription()
	return Subscriptions{Timeout: d.Timeout, RateLimit: d.RateLimit, Retry: d.Retry, Ordered: d.Ordered}
}

// DefaultDestination returns the values a destination entry starts from
// before its keys are decoded: policy.Default() for its delivery.
func DefaultDestination() Destination {
	return Destination{
		Method:       "POST",
		ContentType:  policy.ContentJSON,
		Format:       policy.FormatCanonical,
		Enabled:      true,
		Delivery:     policy.Default(),
		AllowPrivate: true,
	}
}

// setDefaults lets the decoder start each list entry from its defaults.
func (d *Destination) setDefaults() { *d = DefaultDestination() }

// File returns the path Load read, or "" for a Config built in code.
func (c *Config) File() string { return c.file }

// Destination returns the destination named name.
func (c *Config) Destination(name string) (Destination, bool) {
	i := slices.IndexFunc(c.Destinations, func(d Destination) bool { return d.Name == name })
	if i < 0 {
		return Destination{}, false
	}
	return c.Destinations[i], true
}

// Secret is a string that never prints: fmt (every verb), JSON, YAML and
// slog all show <secret>. Reveal returns the value for the code that must
// use it.
type Secret string

const redacted = "<secret>"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer, for %#v.
func (s Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that no verb, %d or %x included, can
// print the value.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler, for map keys and text
// encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalYAML implements yaml.Marshaler.
func (s Secret) MarshalYAML() (any, error) { return redacted, nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }
