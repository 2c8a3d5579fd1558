package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"leadgate/gateway/ratelimit"
)

// The defaults users see: a gateway.yaml destination sends 16 at a time,
// unordered; a LeadSquared subscription 4 at a time, ordered; both retry
// 8 times on the contract's schedule with a 15 s attempt timeout.
func TestDefaults(t *testing.T) {
	tests := []struct {
		name            string
		got             Delivery
		wantConcurrency int
		wantOrdered     bool
	}{
		{"destination", Default(), 16, false},
		{"subscription", Subscription(), 4, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.got
			if d.Concurrency != tt.wantConcurrency || d.Ordered != tt.wantOrdered || d.Timeout != 15*time.Second ||
				d.Retry.MaxAttempts != 8 || !slices.Equal(d.Retry.Schedule, DefaultSchedule()) || d.Paced() {
				t.Fatalf("%+v", d)
			}
			if err := d.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
	a := Default()
	a.Retry.Schedule[0] = time.Hour
	if Default().Retry.Schedule[0] == time.Hour {
		t.Fatal("Default() shares its schedule between callers")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Delivery)
		want   []string
	}{
		{"timeout zero", func(d *Delivery) { d.Timeout = 0 }, []string{"timeout: must be greater than 0 and at most 20s"}},
		{"timeout long", func(d *Delivery) { d.Timeout = 21 * time.Second }, []string{"timeout: must be greater than 0 and at most 20s"}},
		{"rate limit half set", func(d *Delivery) { d.RateLimit = ratelimit.Limit{Per: time.Second} },
			[]string{"rate_limit.requests: must be greater than 0 (leave rate_limit out for unpaced)"}},
		{"attempts", func(d *Delivery) { d.Retry.MaxAttempts = 101 }, []string{"retry.max_attempts: must be between 1 and 100, got 101"}},
		{"schedule empty", func(d *Delivery) { d.Retry.Schedule = nil }, []string{"retry.schedule: must list at least one wait"}},
		{"schedule entry", func(d *Delivery) { d.Retry.Schedule = []time.Duration{time.Second, 0} },
			[]string{"retry.schedule[1]: must be greater than 0"}},
		{"concurrency", func(d *Delivery) { d.Concurrency = 0 }, []string{"concurrency: must be between 1 and 256, got 0"}},
		{"every problem at once", func(d *Delivery) { d.Timeout, d.Concurrency = 0, 300 },
			[]string{"timeout: must be greater than 0 and at most 20s", "concurrency: must be between 1 and 256, got 300"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Default()
			tt.change(&d)
			err := d.Validate()
			if err == nil {
				t.Fatal("Validate() = nil")
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tt.want) {
				t.Fatalf("Validate() =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestOrFillsOnlyWhatIsUnset(t *testing.T) {
	d := Delivery{Timeout: 3 * time.Second, Ordered: true}.Or(Default())
	if d.Timeout != 3*time.Second || !d.Ordered || d.Concurrency != DefaultConcurrency || d.Retry.MaxAttempts != DefaultMaxAttempts ||
		!slices.Equal(d.Retry.Schedule, DefaultSchedule()) {
		t.Fatalf("Or = %+v", d)
	}
}

func TestHeaderName(t *testing.T) {
	for name, want := range map[string]bool{
		"X-Api-Key": true, "x_custom.1": true, "!#$%&'*+-.^_`|~": true,
		"": false, "Bad Header": false, "a:b": false, "é": false, "a\r\nb": false, "(x)": false,
	} {
		t.Run(name, func(t *testing.T) {
			if got := HeaderName(name); got != want {
				t.Fatalf("HeaderName(%q) = %v, want %v", name, got, want)
			}
		})
	}
}

func TestHTTPURL(t *testing.T) {
	for raw, want := range map[string]bool{
		"https://crm.example.com/leads": true, "http://127.0.0.1:9000/x": true, "HTTPS://Example.com": true,
		"/relative": false, "ftp://x/": false, "https://": false, "mailto:a@b": false, "http://%zz": false,
	} {
		t.Run(raw, func(t *testing.T) {
			if _, got := HTTPURL(raw); got != want {
				t.Fatalf("HTTPURL(%q) = %v, want %v", raw, got, want)
			}
		})
	}
}

func TestDecodeSecret(t *testing.T) {
	tests := []struct {
		secret string
		ok     bool
	}{
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true},
		{"whsec_YSBrZXkgb2YgMjUgYnl0ZXMsIG5vIHBhZA", true}, // unpadded
		{"whsec_!!!", false},
		{"whsec_", false},
	}
	for _, tt := range tests {
		t.Run(tt.secret, func(t *testing.T) {
			_, err := DecodeSecret(tt.secret)
			if (err == nil) != tt.ok {
				t.Fatalf("DecodeSecret: %v, want ok %v", err, tt.ok)
			}
			if key := strings.TrimPrefix(tt.secret, "whsec_"); err != nil && key != "" && strings.Contains(err.Error(), key) {
				t.Fatalf("the error repeats the secret: %v", err)
			}
		})
	}
}
