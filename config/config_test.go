package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"leadgate/gateway/policy"
)

// env is an injected environment for parse.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// exported drops what Load records about the file, so that a loaded Config
// compares with one written in a test.
func exported(c *Config) Config {
	out := *c
	out.file, out.lines, out.redisFromEnv = "", nil, false
	return out
}

func TestLoadValid(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	got, err := Load("testdata/valid.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{
		Server: Server{
			Listen:                   "0.0.0.0:9090",
			BodyLimit:                2048,
			MetricsListen:            "127.0.0.1:9091",
			AllowPrivateDestinations: true,
			ShutdownGrace:            30 * time.Second,
			TrustedProxies:           []string{"10.0.0.0/8", "192.168.1.10"},
			ProxyHeader:              "X-Real-Ip",
		},
		Storage:     Storage{DataDir: filepath.Join("testdata", "state"), Retention: 48 * time.Hour, LeadRetention: 2160 * time.Hour},
		Redis:       Redis{URL: "redis://127.0.0.1:6379/2", MinReplicasAcked: 1},
		MappingsDir: filepath.Join("testdata", "maps"),
		NotifyURL:   "https://ops.example.com/dead",
		RateLimit:   RateLimit{Requests: 50, Per: 10 * time.Second},
		Admin:       Admin{AccessKey: "access-123", SecretKey: "secret-456"},
		Log:         Log{Level: "debug", Format: "text"},
		Subscriptions: Subscriptions{
			Timeout:   10 * time.Second,
			RateLimit: RateLimit{Requests: 10, Per: time.Second},
			Retry:     Retry{MaxAttempts: 5, Schedule: []time.Duration{2 * time.Second, time.Minute}},
			Secrets:   []Secret{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_AAAAAAAAAAAAAAAAAAAAAA=="},
			Ordered:   false,
		},
		Destinations: []Destination{
			{
				Name:         "crm",
				URL:          "https://crm.example.com/leads",
				Method:       "PUT",
				ContentType:  "application/x-www-form-urlencoded",
				Format:       "ledsak",
				Headers:      map[string]Secret{"X-Api-Key": "key-1", "Authorization": "Bearer token-2"},
				Events:       []string{"lead.created", "lead.updated"},
				Sources:      []string{"website", "leadsie"},
				Filter:       []Filter{{Path: "lead.status", Equals: []string{"new", "open"}}},
				LandingPages: []string{"https://example.com/landing"},
				Enabled:      false,
				Delivery: policy.Delivery{
					Timeout:     20 * time.Second,
					RateLimit:   RateLimit{Requests: 5, Per: time.Second},
					Retry:       Retry{MaxAttempts: 3, Schedule: []time.Duration{time.Second, time.Minute}},
					Concurrency: 4,
					Ordered:     true,
				},
				Secrets: []Secret{
					"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
					"whsec_AAAAAAAAAAAAAAAAAAAAAA==",
				},
				NotifyOnFailure: "http://127.0.0.1:9000/failed",
				AllowPrivate:    false,
				Ledsak:          LedsakDefaults{Client: "example_client", Branch: "Main Branch"},
			},
			func() Destination {
				d := DefaultDestination()
				d.Name = "slack_alerts"
				d.URL = "http://127.0.0.1:9001/hook"
				d.Format = "template:" + filepath.Join("testdata", "templates", "note.tmpl")
				d.ContentType = "text/plain"
				d.Secrets = []Secret{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
				return d
			}(),
		},
	}
	if g := exported(got); !reflect.DeepEqual(g, want) {
		t.Fatalf("Load(valid.yaml) =\n%#v\nwant\n%#v", revealed(g), revealed(want))
	}
	if got.File() != "testdata/valid.yaml" {
		t.Fatalf("File() = %q, want testdata/valid.yaml", got.File())
	}
	if f := got.Destinations[1].TemplateFile(); f != filepath.Join("testdata", "templates", "note.tmpl") {
		t.Fatalf("TemplateFile() = %q", f)
	}
}

// revealed renders a config with its secrets, for a failing comparison.
func revealed(c Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%+v admin=%q/%q", c, c.Admin.AccessKey.Reveal(), c.Admin.SecretKey.Reveal())
	for _, d := range c.Destinations {
		fmt.Fprintf(&b, " %s.secrets=%q", d.Name, d.RevealSecrets())
		for k, v := range d.Headers {
			fmt.Fprintf(&b, " %s.%s=%q", d.Name, k, v.Reveal())
		}
	}
	return b.String()
}

// TestValidYAMLUsesEveryKey keeps valid.yaml complete as keys are added.
func TestValidYAMLUsesEveryKey(t *testing.T) {
	data, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := parse("testdata/valid.yaml", data, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keyPaths(reflect.TypeFor[Config](), "") {
		if _, ok := c.lines[key]; !ok {
			t.Errorf("valid.yaml does not set %s", key)
		}
	}
}

// keyPaths lists every key path of a config type, with list entries as
// index 0.
func keyPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && name == "" && opts == "inline" {
			out = append(out, keyPaths(f.Type, prefix)...)
			continue
		}
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		p := joinPath(prefix, name)
		out = append(out, p)
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			out = append(out, keyPaths(ft.Elem(), p+"[0]")...)
		} else if ft.Kind() == reflect.Struct && ft != durationType {
			out = append(out, keyPaths(ft, p)...)
		}
	}
	return out
}

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"unknown-key", []string{"2: server.listn: unknown key; did you mean listen?"}},
		{"duplicate-key", []string{"3: server.listen: duplicate key"}},
		{"syntax", []string{"2: found unexpected end of stream"}},
		{"integer", []string{"2: server.body_limit: must be an integer"}},
		{"bool", []string{"2: server.allow_private_destinations: must be true or false"}},
		{"duration", []string{`3: rate_limit.per: must be a duration such as 5s or 10m, got "5"`}},
		{"mapping", []string{"1: server: must be a mapping"}},
		{"list", []string{"2: destinations: must be a list"}},
		{"documents", []string{"3: only one YAML document is allowed"}},
		{"env-syntax", []string{"1: notify_url: unterminated ${ (write $$ for a literal $)"}},
		{"listen", []string{`2: server.listen: must be host:port, got "8080"`}},
		{"body-limit", []string{"2: server.body_limit: must be greater than 0"}},
		{"metrics-listen", []string{"3: server.metrics_listen: must differ from server.listen (leave it empty to serve metrics there)"}},
		{"shutdown-grace", []string{"2: server.shutdown_grace: must not be negative"}},
		{"trusted-proxies", []string{
			`3: server.trusted_proxies[1]: must be an IP address or a CIDR such as 10.0.0.0/8, got "lb.internal"`,
			`3: server.trusted_proxies[2]: must be an IP address or a CIDR such as 10.0.0.0/8, got "10.0.0.0/33"`,
		}},
		{"proxy-header", []string{`2: server.proxy_header: must be a header name such as X-Forwarded-For, got "X Forwarded For"`}},
		{"data-dir", []string{"2: storage.data_dir: is required when redis.url is empty"}},
		{"retention", []string{"3: storage.retention: must be at least 1h, got 0s"}},
		{"lead-retention", []string{"2: storage.lead_retention: must be at least 1h, got 1m0s"}},
		{"redis-url", []string{"2: redis.url: must start with redis://, rediss://, redis-sentinel://, rediss-sentinel://, redis-cluster:// or rediss-cluster://"}},
		{"redis-sentinel", []string{"2: redis.url: a Sentinel URL needs ?master=NAME, the name the Sentinels monitor"}},
		{"redis-replicas", []string{"3: redis.min_replicas_acked: must be 0 or more"}},
		{"mappings-dir", []string{"1: mappings_dir: is required"}},
		{"notify-url", []string{"1: notify_url: must be an absolute http or https URL"}},
		{"rate-limit", []string{
			"2: rate_limit.requests: must be greater than 0",
			"3: rate_limit.per: must be greater than 0",
		}},
		{"admin-keys", []string{"1: admin.secret_key: must be set when admin.access_key is set"}},
		{"log-level", []string{`2: log.level: must be debug, info, warn or error, got "verbose"`}},
		{"log-format", []string{`2: log.format: must be json or text, got "xml"`}},
		{"name-missing", []string{"2: destinations[0].name: is required"}},
		{"name-pattern", []string{`2: destinations[0].name: must match [a-z0-9_-]+ (it labels metrics), got "My CRM"`}},
		{"name-duplicate", []string{`4: destinations[1].name: "crm" is already the name of destinations[0]`}},
		{"url", []string{"3: destinations[0].url: must be an absolute http or https URL"}},
		{"url-missing", []string{"2: destinations[0].url: is required"}},
		{"method", []string{`4: destinations[0].method: must be POST, PUT or PATCH, got "GET"`}},
		{"content-type", []string{`4: destinations[0].content_type: must be application/json, application/x-www-form-urlencoded or text/plain, got "application/xml"`}},
		{"format", []string{`4: destinations[0].format: must be canonical, ledsak, save_lead, slack or template:FILE, got "xml"`}},
		{"template-missing", []string{"4: destinations[0].format: template file testdata/templates/missing.tmpl: no such file or directory"}},
		{"headers-count", []string{"4: destinations[0].headers: at most 10 headers, got 11"}},
		{"header-name", []string{"5: destinations[0].headers.X Api Key: is not a valid header name"}},
		{"event", []string{`4: destinations[0].events[1]: unknown event "lead.deleted"; known: form.submitted, lead.created, lead.updated, lead.score_changed, lead.field_updated, connection.created`}},
		{"source", []string{"4: destinations[0].sources[1]: must not be empty"}},
		{"filter", []string{
			"5: destinations[0].filter[0].path: is required",
			"6: destinations[0].filter[0].equals: must list at least one value",
		}},
		{"landing-page", []string{"4: destinations[0].landing_pages[0]: must not be empty"}},
		{"timeout", []string{"4: destinations[0].timeout: must be greater than 0 and at most 20s"}},
		{"destination-rate-limit", []string{"4: destinations[0].rate_limit.per: must be greater than 0 (leave rate_limit out for unpaced)"}},
		{"retry-attempts", []string{"4: destinations[0].retry.max_attempts: must be between 1 and 100, got 0"}},
		{"retry-schedule-empty", []string{"4: destinations[0].retry.schedule: must list at least one wait"}},
		{"retry-schedule-entry", []string{"5: destinations[0].retry.schedule[1]: must be greater than 0"}},
		{"secret-prefix", []string{"4: destinations[0].secret: must start with whsec_ (value not shown)"}},
		{"secret-base64", []string{"6: destinations[0].secret[1]: must be whsec_ followed by base64; the rest is not valid base64 (value not shown)"}},
		{"secret-short", []string{"4: destinations[0].secret: must decode to at least 16 bytes after whsec_, got 5 (value not shown)"}},
		{"secret-empty", []string{"4: destinations[0].secret: has no key after whsec_ (write ${VAR:-} for an optional secret, or leave secret out)"}},
		{"secret-unset", []string{
			"4: destinations[0].secret: ${LG_TEST_UNSET_SECRET} is not set (set it, or write ${LG_TEST_UNSET_SECRET:-} to make it optional)",
			"6: subscriptions.secret[1]: ${LG_TEST_UNSET_OLD_SECRET} is not set (set it, or write ${LG_TEST_UNSET_OLD_SECRET:-} to make it optional)"}},
		{"header-unset", []string{
			"5: destinations[0].headers.X-Api-Key: ${LG_TEST_UNSET_KEY} is not set (set it, or write ${LG_TEST_UNSET_KEY:-} to make it optional)",
			"6: destinations[0].headers.Authorization: ${LG_TEST_UNSET_TOKEN} is not set (set it, or write ${LG_TEST_UNSET_TOKEN:-} to make it optional)"}},
		{"admin-unset", []string{"2: admin.access_key: ${LG_TEST_UNSET_ACCESS} is not set (set it, or write ${LG_TEST_UNSET_ACCESS:-} to make it optional)"}},
		{"secret-count", []string{"4: destinations[0].secret: at most 2 secrets (the current and the previous while rotating), got 3"}},
		{"notify-on-failure", []string{"4: destinations[0].notify_on_failure: must be an absolute http or https URL"}},
		{"subscriptions-timeout", []string{"2: subscriptions.timeout: must be greater than 0 and at most 20s"}},
		{"subscriptions-rate-limit", []string{"2: subscriptions.rate_limit.requests: must be greater than 0 (leave rate_limit out for unpaced)"}},
		{"subscriptions-retry-attempts", []string{"2: subscriptions.retry.max_attempts: must be between 1 and 100, got 0"}},
		{"subscriptions-retry-schedule-empty", []string{"3: subscriptions.retry.schedule: must list at least one wait"}},
		{"subscriptions-retry-schedule-entry", []string{"3: subscriptions.retry.schedule[1]: must be greater than 0"}},
		{"subscriptions-secret", []string{"2: subscriptions.secret: must start with whsec_ (value not shown)"}},
		{"subscriptions-secret-count", []string{"2: subscriptions.secret: at most 2 secrets (the current and the previous while rotating), got 3"}},
		{"concurrency", []string{"4: destinations[0].concurrency: must be between 1 and 256, got 0"}},
		{"ledsak-format", []string{`4: destinations[0].ledsak: applies to format ledsak only, got format "canonical"`}},
	}
	t.Setenv("REDIS_URL", "")
	for _, k := range []string{"LG_TEST_UNSET_SECRET", "LG_TEST_UNSET_OLD_SECRET", "LG_TEST_UNSET_KEY", "LG_TEST_UNSET_TOKEN",
		"LG_TEST_UNSET_ACCESS", "LG_TEST_UNSET_SECRET_KEY"} {
		t.Setenv(k, "") // empty counts as unset
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := "testdata/invalid-" + tt.file + ".yaml"
			seen[path] = true
			_, err := Load(path)
			if err == nil {
				t.Fatalf("Load(%s) succeeded, want an error", path)
			}
			want := path + ":" + strings.Join(tt.want, "\n"+path+":")
			if got := err.Error(); got != want {
				t.Fatalf("Load(%s) error =\n%s\nwant\n%s", path, got, want)
			}
			if n := len(Problems(err)); n != len(tt.want) {
				t.Fatalf("Problems() has %d problems, want %d", n, len(tt.want))
			}
		})
	}
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	for _, f := range files {
		if !seen[f] {
			t.Errorf("%s has no case in TestLoadInvalid", f)
		}
	}
}

// TestEveryProblemAtOnce: decoding and validation problems of one file come
// back together, in line order, and a key that failed to decode is not
// reported twice.
func TestEveryProblemAtOnce(t *testing.T) {
	const file = `server:
  listen: nowhere
  body_limit: lots
  bogus: 1
rate_limit: {requests: 0, per: 5s}
destinations:
  - name: crm
    url: /relative
    method: GET
    timeout: 0s
  - name: crm
    url: http://127.0.0.1/x
    secret: plain
log: {level: loud}
`
	_, err := parse("gw.yaml", []byte(file), env(nil))
	want := []string{
		`gw.yaml:2: server.listen: must be host:port, got "nowhere"`,
		"gw.yaml:3: server.body_limit: must be an integer",
		"gw.yaml:4: server.bogus: unknown key",
		"gw.yaml:5: rate_limit.requests: must be greater than 0",
		"gw.yaml:8: destinations[0].url: must be an absolute http or https URL",
		`gw.yaml:9: destinations[0].method: must be POST, PUT or PATCH, got "GET"`,
		"gw.yaml:10: destinations[0].timeout: must be greater than 0 and at most 20s",
		`gw.yaml:11: destinations[1].name: "crm" is already the name of destinations[0]`,
		"gw.yaml:13: destinations[1].secret: must start with whsec_ (value not shown)",
		`gw.yaml:14: log.level: must be debug, info, warn or error, got "loud"`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Fatalf("error =\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

func TestExpandString(t *testing.T) {
	lookup := env(map[string]string{"SET": "value", "EMPTY": ""})
	tests := []struct {
		in, want string
	}{
		{"${SET}", "value"},
		{"${UNSET}", ""},
		{"${EMPTY}", ""},
		{"${SET:-fallback}", "value"},
		{"${UNSET:-fallback}", "fallback"},
		{"${EMPTY:-fallback}", "fallback"},
		{"${UNSET:-}", ""},
		{"${UNSET:-a:b/c}", "a:b/c"},
		{"http://${SET}:8080/${SET}", "http://value:8080/value"},
		{"$$", "$"},
		{"$${SET}", "${SET}"},
		{"cost: $5", "cost: $5"},
		{"trailing $", "trailing $"},
		{"$SET", "$SET"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expandString(tt.in, lookup)
			if err != nil {
				t.Fatalf("expandString(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("expandString(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	for _, bad := range []string{"${SET", "${}", "${1X}", "${A B}"} {
		if _, err := expandString(bad, lookup); err == nil {
			t.Errorf("expandString(%q) succeeded, want an error", bad)
		}
	}
}

// TestLoadExpandsEnvironment goes through Load and the real environment:
// values expand, keys do not, numbers and durations expand before parsing,
// and lines stay true after a multi-line expansion.
func TestLoadExpandsEnvironment(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	t.Setenv("LG_TEST_PORT", "9999")
	t.Setenv("LG_TEST_KEY", "k\ney")
	t.Setenv("LG_TEST_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	os.Unsetenv("LG_TEST_UNSET")
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	const file = `server:
  listen: "127.0.0.1:${LG_TEST_PORT}"
  body_limit: ${LG_TEST_UNSET:-4096}
admin:
  access_key: "${LG_TEST_KEY}"
  secret_key: "$$ecret"
rate_limit: {requests: "${LG_TEST_UNSET:-7}", per: "${LG_TEST_UNSET:-3s}"}
notify_url: "${LG_TEST_UNSET}"
destinations:
  - name: crm
    url: http://127.0.0.1:${LG_TEST_PORT}/x
    secret: ["${LG_TEST_SECRET}", "${LG_TEST_UNSET:-}"]
    timeout: ${LG_TEST_UNSET:-bad}
`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	// The one bad value proves lines survive the multi-line expansion above.
	want := path + `:13: destinations[0].timeout: must be a duration such as 5s or 10m, got "bad"`
	if err == nil || err.Error() != want {
		t.Fatalf("Load error = %v, want %s", err, want)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(file, ":-bad", ":-2s", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Server.Listen, "127.0.0.1:9999"},
		{"body_limit", c.Server.BodyLimit, int64(4096)},
		{"access_key", c.Admin.AccessKey.Reveal(), "k\ney"},
		{"secret_key", c.Admin.SecretKey.Reveal(), "$ecret"},
		{"rate_limit", c.RateLimit, RateLimit{Requests: 7, Per: 3 * time.Second}},
		{"notify_url", c.NotifyURL, ""},
		{"url", c.Destinations[0].URL, "http://127.0.0.1:9999/x"},
		{"secrets", c.Destinations[0].RevealSecrets(), []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		{"timeout", c.Destinations[0].Timeout, 2 * time.Second},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
}

func TestRedisURLOverride(t *testing.T) {
	const file = "redis:\n  url: redis://file:6379\n"
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"unset keeps the file", nil, "redis://file:6379", ""},
		{"empty keeps the file", map[string]string{"REDIS_URL": ""}, "redis://file:6379", ""},
		{"set wins", map[string]string{"REDIS_URL": "rediss://env:6380/1"}, "rediss://env:6380/1", ""},
		{"a sentinel set", map[string]string{"REDIS_URL": "redis-sentinel://s1:26379,s2:26379/0?master=m"}, "redis-sentinel://s1:26379,s2:26379/0?master=m", ""},
		{"a cluster", map[string]string{"REDIS_URL": "redis-cluster://c1:7000,c2:7001"}, "redis-cluster://c1:7000,c2:7001", ""},
		{"bad names the variable", map[string]string{"REDIS_URL": "localhost:6379"}, "",
			"gw.yaml:2: redis.url: must start with redis://, rediss://, redis-sentinel://, rediss-sentinel://, redis-cluster:// or rediss-cluster:// (set by REDIS_URL)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse("gw.yaml", []byte(file), env(tt.env))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Redis.URL != tt.want {
				t.Fatalf("redis.url = %q, want %q", c.Redis.URL, tt.want)
			}
		})
	}
	t.Run("through Load", func(t *testing.T) {
		t.Setenv("REDIS_URL", "redis://127.0.0.1:1234")
		c, err := Load("testdata/valid.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if c.Redis.URL != "redis://127.0.0.1:1234" {
			t.Fatalf("redis.url = %q", c.Redis.URL)
		}
	})
}

func TestSecretNeverPrints(t *testing.T) {
	const value = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	s := Secret(value)
	d := DefaultDestination()
	d.Secrets = []Secret{s}
	d.Headers = map[string]Secret{"X-Api-Key": s}
	c := Default()
	c.Admin = Admin{AccessKey: s, SecretKey: s}
	c.Destinations = []Destination{d}

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		outputs = append(outputs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, c))
	}
	outputs = append(outputs, s.String(), s.GoString(), fmt.Sprint(s), fmt.Sprintln(c))
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(js))
	ys, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(ys))
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		slog.New(h(&buf)).Info("loaded", "secret", s, "admin", c.Admin, "config", c, "secrets", d.Secrets)
		outputs = append(outputs, buf.String())
	}
	for _, out := range outputs {
		if strings.Contains(out, "MfKQ9r8GKYqr") {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if got := fmt.Sprintf("%v|%#v|%s", s, s, js[:0]); got != "<secret>|<secret>|" {
		t.Errorf("Sprintf = %q", got)
	}
	// encoding/json escapes < and >; what it decodes to is <secret>.
	var back string
	if b, _ := json.Marshal(s); json.Unmarshal(b, &back) != nil || back != "<secret>" {
		t.Errorf("json = %s", b)
	}
	if s.Reveal() != value {
		t.Errorf("Reveal() = %q, want the value", s.Reveal())
	}
}

func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "etc")
	if err := os.MkdirAll(filepath.Join(sub, "tmpl"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "tmpl", "a.tmpl"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(dir, "abs-data")
	file := fmt.Sprintf(`storage: {data_dir: ./data}
mappings_dir: %s
destinations:
  - {name: a, url: "http://x/", format: "template:tmpl/a.tmpl"}
`, abs)
	path := filepath.Join(sub, "gateway.yaml")
	c, err := parse(path, []byte(file), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(sub, "data"); c.Storage.DataDir != want {
		t.Errorf("data_dir = %q, want %q", c.Storage.DataDir, want)
	}
	if c.MappingsDir != abs {
		t.Errorf("mappings_dir = %q, want the absolute path %q unchanged", c.MappingsDir, abs)
	}
	if want := "template:" + filepath.Join(sub, "tmpl", "a.tmpl"); c.Destinations[0].Format != want {
		t.Errorf("format = %q, want %q", c.Destinations[0].Format, want)
	}
	// The default mappings dir resolves too.
	c, err = parse(path, nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(sub, "mappings"); c.MappingsDir != want {
		t.Errorf("default mappings_dir = %q, want %q", c.MappingsDir, want)
	}
}

func TestDefaults(t *testing.T) {
	c, err := parse("gw.yaml", []byte(""), env(nil))
	if err != nil {
		t.Fatalf("empty file: %v", err)
	}
	want := Default()
	want.Storage.DataDir = "data"
	want.MappingsDir = "mappings"
	if !reflect.DeepEqual(exported(c), want) {
		t.Fatalf("empty file = %+v, want %+v", exported(c), want)
	}
	if c.Admin.Enabled() {
		t.Fatal("admin enabled without keys")
	}
	// LeadSquared subscriptions are CRMs: they get a lead's events in
	// order unless told otherwise; a gateway.yaml destination does not.
	if !c.Subscriptions.Ordered || DefaultDestination().Ordered {
		t.Fatalf("ordered defaults: subscriptions %v, destination %v; want true, false", c.Subscriptions.Ordered, DefaultDestination().Ordered)
	}
	if err := want.Validate(); err != nil {
		t.Fatalf("Default().Validate(): %v", err)
	}

	// A destination with only a name and a URL gets every default, and a
	// list it sets replaces the default list instead of sharing it.
	c, err = parse("gw.yaml", []byte(`destinations:
  - {name: a, url: "http://x/"}
  - {name: b, url: "http://x/", retry: {schedule: [1s]}}
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	wantA := DefaultDestination()
	wantA.Name, wantA.URL = "a", "http://x/"
	if !reflect.DeepEqual(c.Destinations[0], wantA) {
		t.Fatalf("destination a = %+v, want %+v", c.Destinations[0], wantA)
	}
	if !wantA.AllowPrivate || !wantA.Enabled || wantA.Concurrency != 16 || wantA.Retry.MaxAttempts != 8 {
		t.Fatalf("DefaultDestination() = %+v", wantA)
	}
	if got := c.Destinations[1].Retry; got.MaxAttempts != 8 || !slices.Equal(got.Schedule, []time.Duration{time.Second}) {
		t.Fatalf("destination b retry = %+v", got)
	}
	c.Destinations[0].Retry.Schedule[0] = time.Hour
	if DefaultDestination().Retry.Schedule[0] != 5*time.Second {
		t.Fatal("a loaded destination shares its schedule with the defaults")
	}
}

// TestSecretForms: secret takes one string or a list; empty entries, as an
// unset ${VAR} leaves, are dropped.
func TestSecretForms(t *testing.T) {
	const a, b = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_AAAAAAAAAAAAAAAAAAAAAA=="
	tests := []struct {
		yaml string
		want []string
	}{
		{`secret: ` + a, []string{a}},
		{`secret: ""`, []string{}},
		{`secret:`, []string{}},
		{`secret: [` + a + `, ` + b + `]`, []string{a, b}},
		{`secret: ["", ` + b + `]`, []string{b}},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			file := "destinations:\n  - name: a\n    url: http://x/\n    " + tt.yaml + "\n"
			c, err := parse("gw.yaml", []byte(file), env(nil))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Destinations[0].RevealSecrets(); !slices.Equal(got, tt.want) {
				t.Fatalf("secrets = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	const file = `x-common: &common
  url: http://127.0.0.1:9000/leads
  timeout: 5s
destinations:
  - <<: *common
    name: a
  - <<: *common
    name: b
    timeout: 7s
`
	_, err := parse("gw.yaml", []byte(file), env(nil))
	// x-common is not a key of gateway.yaml: the anchor must live in one.
	if want := "gw.yaml:1: x-common: unknown key"; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
	const ok = `destinations:
  - &common
    name: a
    url: http://127.0.0.1:9000/leads
    timeout: 5s
  - <<: *common
    name: b
    timeout: 7s
`
	c, err := parse("gw.yaml", []byte(ok), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Destinations[1]
	if b.Name != "b" || b.URL != "http://127.0.0.1:9000/leads" || b.Timeout != 7*time.Second {
		t.Fatalf("merged destination = %+v", b)
	}
}

func TestLineAndProblemf(t *testing.T) {
	c, err := parse("gw.yaml", []byte("destinations:\n  - name: a\n    url: http://x/\n    sources: [web, shop]\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want int
	}{
		{"destinations[0].sources[1]", 4},
		{"destinations[0].url", 3},
		{"destinations[0].timeout", 2}, // not written: its destination
		{"server.listen", 0},           // nothing written above it
	}
	for _, tt := range tests {
		if got := c.Line(tt.path); got != tt.want {
			t.Errorf("Line(%q) = %d, want %d", tt.path, got, tt.want)
		}
	}
	p := c.Problemf("destinations[0].sources[1]", "no mapping named %q", "shop")
	if want := `gw.yaml:4: destinations[0].sources[1]: no mapping named "shop"`; p.Error() != want {
		t.Fatalf("Problemf = %q, want %q", p.Error(), want)
	}
	if got := c.Where("destinations[0].sources"); got != "gw.yaml:4" {
		t.Fatalf("Where = %q, want gw.yaml:4", got)
	}
	if got := c.Where("server.listen"); got != "gw.yaml" {
		t.Fatalf("Where of an unwritten key = %q, want gw.yaml", got)
	}
	// A Config built in code has no file or lines.
	d := Default()
	if got := d.Where("server.listen"); got != "" {
		t.Fatalf("Where without a file = %q", got)
	}
	if got := d.Problemf("server.listen", "taken").Error(); got != "server.listen: taken" {
		t.Fatalf("Problemf without a file = %q", got)
	}
	if Problems(nil) != nil || Problems(os.ErrNotExist) != nil {
		t.Fatal("Problems of a non-problem error is not nil")
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	if err == nil || !strings.HasPrefix(err.Error(), "load config: ") || Problems(err) != nil {
		t.Fatalf("Load(missing) = %v", err)
	}
}

// TestDefaultGatewayYAML: the shipped gateway.yaml loads on a fresh machine
// (no Redis, no secrets), serves the contract's defaults and sends nowhere.
func TestDefaultGatewayYAML(t *testing.T) {
	for _, k := range []string{"REDIS_URL", "GATEWAY_ACCESS_KEY", "GATEWAY_SECRET_KEY"} {
		t.Setenv(k, "")
	}
	c, err := Load("../gateway.yaml")
	if err != nil {
		t.Fatalf("Load(../gateway.yaml): %v", err)
	}
	if c.Server.Listen != "127.0.0.1:8080" || c.Redis.URL != "" || c.Admin.Enabled() || len(c.Destinations) != 0 {
		t.Fatalf("gateway.yaml = %+v", exported(c))
	}
	if c.RateLimit != (RateLimit{Requests: 25, Per: 5 * time.Second}) {
		t.Fatalf("rate_limit = %+v", c.RateLimit)
	}
	if c.Storage.DataDir != filepath.Join("..", "data") || c.MappingsDir != filepath.Join("..", "mappings") {
		t.Fatalf("paths = %q, %q", c.Storage.DataDir, c.MappingsDir)
	}

	t.Setenv("GATEWAY_ACCESS_KEY", "ak")
	t.Setenv("GATEWAY_SECRET_KEY", "sk")
	if c, err = Load("../gateway.yaml"); err != nil || !c.Admin.Enabled() {
		t.Fatalf("admin keys from the environment: %v", err)
	}
}

// TestGatewayYAMLExample: the commented-out example destination, once
// uncommented, is valid and shows every key.
func TestGatewayYAMLExample(t *testing.T) {
	data, err := os.ReadFile("../gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, example, ok := strings.Cut(string(data), "\ndestinations:\n")
	if !ok {
		t.Fatal("gateway.yaml has no destinations: line")
	}
	var b strings.Builder
	b.WriteString("destinations:\n")
	for _, line := range strings.Split(example, "\n") {
		b.WriteString(strings.TrimPrefix(line, "#") + "\n")
	}
	c, err := parse("example.yaml", []byte(b.String()), env(map[string]string{
		"CRM_SIGNING_SECRET":          "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"SUBSCRIPTION_SIGNING_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"CRM_KEY":                     "crm-key",
	}))
	if err != nil {
		t.Fatalf("uncommented example: %v", err)
	}
	if len(c.Destinations) != 1 {
		t.Fatalf("example has %d destinations, want 1", len(c.Destinations))
	}
	for _, key := range keyPaths(reflect.TypeFor[Destination](), "destinations[0]") {
		if _, ok := c.lines[key]; !ok {
			t.Errorf("the example destination does not show %s", key)
		}
	}
	d := c.Destinations[0]
	want := DefaultDestination()
	if d.Method != want.Method || d.Timeout != want.Timeout || !slices.Equal(d.Retry.Schedule, want.Retry.Schedule) ||
		d.Concurrency != want.Concurrency || d.AllowPrivate != want.AllowPrivate {
		t.Errorf("the example's values differ from the defaults it documents: %+v", d)
	}
}

func BenchmarkLoad(b *testing.B) {
	data, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := parse("testdata/valid.yaml", data, env(nil)); err != nil {
			b.Fatal(err)
		}
	}
}
