package console

import (
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
		{"empty", "ak", "sk", "", now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validSession(tt.access, tt.secret, tt.value, tt.at); got != tt.want {
				t.Fatalf("validSession = %v, want %v", got, tt.want)
			}
		})
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
