package console

import (
	"strings"
	"testing"
	"time"
)

func TestSessionToken(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good := mintSession("ak", "sk", now.Add(time.Hour))
	tests := []struct {
		name           string
		access, secret string
		value          string
		at             time.Time
		want           bool
	}{
		{"valid", "ak", "sk", good, now, true},
		{"expired", "ak", "sk", good, now.Add(time.Hour), false},
		{"secret key changed", "ak", "sk2", good, now, false},
		{"access key changed", "ak2", "sk", good, now, false},
		{"keys unset", "", "", good, now, false},
		{"expiry edited", "ak", "sk", "1900000000" + good[10:], now, false},
		{"signature edited", "ak", "sk", good[:len(good)-2] + "AA", now, false},
		{"no signature", "ak", "sk", "1800003600", now, false},
		{"no session id", "ak", "sk", "1800003600." + good[strings.LastIndexByte(good, '.')+1:], now, false},
		{"session id edited", "ak", "sk", good[:11] + other(good[11]) + good[12:], now, false},
		{"empty", "ak", "sk", "", now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, got := validSession(tt.access, tt.secret, tt.value, tt.at); got != tt.want {
				t.Fatalf("validSession = %v, want %v", got, tt.want)
			}
		})
	}
}

// other is a base64url character that is not c.
func other(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestSessionIDs: every sign-in gets its own session id, which is what a
// sign-out revokes.
func TestSessionIDs(t *testing.T) {
	exp := time.Unix(1_800_000_000, 0)
	a, okA := validSession("ak", "sk", mintSession("ak", "sk", exp), exp.Add(-time.Minute))
	b, okB := validSession("ak", "sk", mintSession("ak", "sk", exp), exp.Add(-time.Minute))
	if !okA || !okB || a == "" || a == b {
		t.Fatalf("session ids %q (%v) and %q (%v), want two different valid ids", a, okA, b, okB)
	}
}

func TestRecordKeepsWindow(t *testing.T) {
	c := &Console{}
	t0 := time.Unix(0, 0)
	for i := range 200 {
		c.record(sample{at: t0.Add(time.Duration(i) * 5 * time.Second)})
	}
	old, _ := c.oldest()
	last := t0.Add(199 * 5 * time.Second)
	if age := last.Sub(old.at); age < rateWindow || age > rateWindow+5*time.Second {
		t.Fatalf("oldest sample is %v old, want about %v", age, rateWindow)
	}
	if n := len(c.samples); n > int(rateWindow/(5*time.Second))+2 {
		t.Fatalf("kept %d samples", n)
	}
}

// TestRedactURL: the console shows a URL as scheme, host and first path
// segment only: a Slack-style secret in the path, a token in the query,
// user info and the fragment never reach the page.
func TestRedactURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://hooks.slack.com/services/T0001/B0002/XXXXSECRETXXXX", "https://hooks.slack.com/services"},
		{"https://crm.example.com/hook?key=secret", "https://crm.example.com/hook"},
		{"https://user:pass@crm.example.com:8443/a/b#frag", "https://crm.example.com:8443/a"},
		{"http://127.0.0.1:9000/leads", "http://127.0.0.1:9000/leads"},
		{"http://127.0.0.1:9000", "http://127.0.0.1:9000"},
		{"http://127.0.0.1:9000/", "http://127.0.0.1:9000"},
		{"https://example.com//secret/x", "https://example.com"},
		{"https://example.com/a%2Fsecret/b", "https://example.com/a%2Fsecret"},
		{"http://[::1]:8080/x/y", "http://[::1]:8080/x"},
		{"not a url", ""},
		{"%zz", ""},
	} {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
