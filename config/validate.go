package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/policy"
	"leadgate/gateway/redisurl"
)

// Problem is one thing wrong with a config, and where: it prints as
// FILE:LINE: key.path: message, leaving out what is unknown.
type Problem struct {
	// File is the config file; empty for a Config built in code.
	File string
	// Line is 1-based; 0 when unknown.
	Line int
	// Path is the key path, such as "destinations[1].url".
	Path string
	// Msg says what is wrong; it never holds a secret.
	Msg string
}

// Error implements error.
func (p *Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":" + strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems flattens an error of Load or Validate into its problems, in
// order. An error that holds none (a file that cannot be read) yields nil.
func Problems(err error) []*Problem {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*Problem
		for _, e := range j.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	var p *Problem
	if errors.As(err, &p) {
		return []*Problem{p}
	}
	return nil
}

// Line returns the line of key path in the file Load read, or of its
// nearest parent that was written (a missing key points at its block); 0
// when unknown.
func (c *Config) Line(path string) int {
	for path != "" {
		if l, ok := c.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// Where returns "FILE:LINE" of key path (see Line), "FILE" when the line is
// unknown, or "" for a Config built in code: the prefix of a problem found
// outside this package.
func (c *Config) Where(path string) string {
	if c.file == "" {
		return ""
	}
	if l := c.Line(path); l > 0 {
		return c.file + ":" + strconv.Itoa(l)
	}
	return c.file
}

// Problemf returns a Problem at key path of this config, so that checks
// made outside this package (destination sources naming loaded mappings)
// report their file and line too.
func (c *Config) Problemf(path, format string, args ...any) *Problem {
	return &Problem{File: c.file, Line: c.Line(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Limits Validate applies; the delivery policy's are package policy's.
const (
	MaxHeaders = policy.MaxHeaders
	MaxSecrets = 2
	// MaxTimeout keeps an attempt within a delivery lease, so a replica
	// that dies mid-delivery has its work taken over within 30 s.
	MaxTimeout     = policy.MaxAttemptTime
	MaxConcurrency = policy.MaxConcurrency
	MaxAttempts    = policy.MaxAttempts
	minSecretBytes = 16
)

var destinationName = regexp.MustCompile(`^[a-z0-9_-]+$`)

// validator collects problems against one config.
type validator struct {
	c    *Config
	errs []error
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, v.c.Problemf(path, format, args...))
}

// Validate reports every problem of the config at once, joined, each a
// *Problem. It changes nothing; its only look outside is whether template
// files exist.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.server()
	if c.Redis.URL == "" && c.Storage.DataDir == "" {
		v.add("storage.data_dir", "is required when redis.url is empty")
	}
	if c.Storage.Retention < time.Hour {
		v.add("storage.retention", "must be at least 1h, got %s", c.Storage.Retention)
	}
	if c.Storage.LeadRetention < time.Hour {
		v.add("storage.lead_retention", "must be at least 1h, got %s", c.Storage.LeadRetention)
	}
	if c.Redis.URL != "" {
		if _, err := redisurl.Parse(c.Redis.URL); err != nil {
			msg := err.Error()
			if c.redisFromEnv {
				msg += " (set by REDIS_URL)"
			}
			v.add("redis.url", "%s", msg)
		}
	}
	if c.Redis.MinReplicasAcked < 0 {
		v.add("redis.min_replicas_acked", "must be 0 or more")
	}
	if c.MappingsDir == "" {
		v.add("mappings_dir", "is required")
	}
	v.optionalURL("notify_url", c.NotifyURL)
	if c.RateLimit.Requests <= 0 {
		v.add("rate_limit.requests", "must be greater than 0")
	}
	if c.RateLimit.Per <= 0 {
		v.add("rate_limit.per", "must be greater than 0")
	}
	switch {
	case c.Admin.AccessKey != "" && c.Admin.SecretKey == "":
		v.add("admin.secret_key", "must be set when admin.access_key is set")
	case c.Admin.AccessKey == "" && c.Admin.SecretKey != "":
		v.add("admin.access_key", "must be set when admin.secret_key is set")
	}
	for i := range c.Destinations {
		v.destination(i)
	}
	v.subscriptions()
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		v.add("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		v.add("log.format", "must be json or text, got %q", c.Log.Format)
	}
	return errors.Join(v.errs...)
}

func (v *validator) server() {
	s := v.c.Server
	if !validHostPort(s.Listen) {
		v.add("server.listen", "must be host:port, got %q", s.Listen)
	}
	if s.BodyLimit <= 0 {
		v.add("server.body_limit", "must be greater than 0")
	}
	if s.MetricsListen != "" {
		switch {
		case !validHostPort(s.MetricsListen):
			v.add("server.metrics_listen", "must be host:port, got %q", s.MetricsListen)
		case s.MetricsListen == s.Listen:
			v.add("server.metrics_listen", "must differ from server.listen (leave it empty to serve metrics there)")
		}
	}
	if s.ShutdownGrace < 0 {
		v.add("server.shutdown_grace", "must not be negative")
	}
	for i, p := range s.TrustedProxies {
		if !validProxy(p) {
			v.add(fmt.Sprintf("server.trusted_proxies[%d]", i), "must be an IP address or a CIDR such as 10.0.0.0/8, got %q", p)
		}
	}
	if !policy.HeaderName(s.ProxyHeader) {
		v.add("server.proxy_header", "must be a header name such as X-Forwarded-For, got %q", s.ProxyHeader)
	}
}

// validProxy admits an IP address or a CIDR prefix.
func validProxy(s string) bool {
	if strings.Contains(s, "/") {
		_, err := netip.ParsePrefix(s)
		return err == nil
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

func (v *validator) destination(i int) {
	d := v.c.Destinations[i]
	p := fmt.Sprintf("destinations[%d]", i)
	switch {
	case d.Name == "":
		v.add(p+".name", "is required")
	case !destinationName.MatchString(d.Name):
		v.add(p+".name", "must match [a-z0-9_-]+ (it labels metrics), got %q", d.Name)
	default:
		if j := slices.IndexFunc(v.c.Destinations[:i], func(o Destination) bool { return o.Name == d.Name }); j >= 0 {
			v.add(p+".name", "%q is already the name of destinations[%d]", d.Name, j)
		}
	}
	if d.URL == "" {
		v.add(p+".url", "is required")
	} else {
		v.optionalURL(p+".url", d.URL)
	}
	v.problems(p, policy.Shape{Method: d.Method, ContentType: d.ContentType, Format: d.Format}.Validate())
	v.template(p+".format", d)
	if d.Ledsak != (LedsakDefaults{}) && d.Format != policy.FormatLedsak {
		v.add(p+".ledsak", "applies to format ledsak only, got format %q", d.Format)
	}
	v.headers(p, d.Headers)
	for k, e := range d.Events {
		if !slices.Contains(lead.EventNames, e) {
			v.add(fmt.Sprintf("%s.events[%d]", p, k), "unknown event %q; known: %s", e, strings.Join(lead.EventNames, ", "))
		}
	}
	for k, s := range d.Sources {
		if s == "" {
			v.add(fmt.Sprintf("%s.sources[%d]", p, k), "must not be empty")
		}
	}
	for k, f := range d.Filter {
		fp := fmt.Sprintf("%s.filter[%d]", p, k)
		if f.Path == "" {
			v.add(fp+".path", "is required")
		}
		if len(f.Equals) == 0 {
			v.add(fp+".equals", "must list at least one value")
		}
	}
	for k, lp := range d.LandingPages {
		if lp == "" {
			v.add(fmt.Sprintf("%s.landing_pages[%d]", p, k), "must not be empty")
		}
	}
	v.problems(p, d.Delivery.Validate())
	v.secrets(p+".secret", d.Secrets)
	v.optionalURL(p+".notify_on_failure", d.NotifyOnFailure)
}

// problems reports the problems one of package policy's validators found
// (a destination's shape, a delivery policy) at the block's path p.
func (v *validator) problems(p string, err error) {
	for _, e := range joined(err) {
		var pp *policy.Problem
		if errors.As(e, &pp) {
			v.add(p+"."+pp.Path, "%s", pp.Msg)
		}
	}
}

// joined lists the errors errors.Join put together.
func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err != nil {
		return []error{err}
	}
	return nil
}

// subscriptions checks the block every API subscription is delivered with.
func (v *validator) subscriptions() {
	s := v.c.Subscriptions
	v.problems("subscriptions", s.Delivery().Validate())
	v.secrets("subscriptions.secret", s.Secrets)
}

// template checks the file a template:FILE format names (the format's
// name is policy.Shape's to check).
func (v *validator) template(path string, d Destination) {
	if !strings.HasPrefix(d.Format, policy.FormatTemplatePrefix) {
		return
	}
	file := d.TemplateFile()
	if file == "" {
		v.add(path, "template: needs a file, as in template:slack.tmpl")
		return
	}
	switch st, err := os.Stat(file); {
	case err != nil:
		v.add(path, "template file %s: %v", file, errors.Unwrap(err))
	case st.IsDir():
		v.add(path, "template file %s: is a directory", file)
	}
}

// headers checks the headers of the destination at path p.
func (v *validator) headers(p string, h map[string]Secret) {
	v.problems(p, policy.HeaderCount(len(h)))
	path := p + ".headers"
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !policy.HeaderName(k) {
			v.add(path+"."+k, "is not a valid header name")
		}
		if !policy.HeaderValue(h[k].Reveal()) {
			v.add(path+"."+k, "value %s", policy.BadHeaderValue)
		}
	}
}

func (v *validator) secrets(path string, secrets []Secret) {
	if len(secrets) > MaxSecrets {
		v.add(path, "at most %d secrets (the current and the previous while rotating), got %d", MaxSecrets, len(secrets))
	}
	for k, s := range secrets {
		p := fmt.Sprintf("%s[%d]", path, k)
		if _, listed := v.c.lines[p]; v.c.lines != nil && !listed {
			p = path // written as one string
		}
		// The signer's own rule, so a secret that validates is one that
		// signs (padded or unpadded base64 alike).
		if msg := policy.SecretProblem(s.Reveal()); msg != "" {
			v.add(p, "%s", msg)
			continue
		}
		if key, _ := policy.DecodeSecret(s.Reveal()); len(key) < minSecretBytes {
			v.add(p, "must decode to at least %d bytes after whsec_, got %d (value not shown)", minSecretBytes, len(key))
		}
	}
}

// optionalURL checks an absolute http(s) URL when one is set. The URL is
// not printed: it may carry credentials.
func (v *validator) optionalURL(path, u string) {
	if _, ok := policy.HTTPURL(u); u != "" && !ok {
		v.add(path, "must be an absolute http or https URL")
	}
}

func validHostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}
