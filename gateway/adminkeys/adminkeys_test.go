package adminkeys

import "testing"

func TestMatch(t *testing.T) {
	tests := []struct {
		name                           string
		access, secret, gotAcc, gotSec string
		want                           bool
	}{
		{"equal", "ak", "sk", "ak", "sk", true},
		{"wrong secret", "ak", "sk", "ak", "sx", false},
		{"secret prefix", "ak", "sk-long", "ak", "sk", false},
		{"secret longer", "ak", "sk", "ak", "sk-long", false},
		{"wrong access", "ak", "sk", "ax", "sk", false},
		{"nothing sent", "ak", "sk", "", "", false},
		{"none configured", "", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Match(tt.access, tt.secret, tt.gotAcc, tt.gotSec); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKey(t *testing.T) {
	for _, tt := range []struct{ ip, want string }{
		{"203.0.113.9", "admin-fail:203.0.113.9"},
		{"::ffff:203.0.113.9", "admin-fail:203.0.113.9"},
		{"2001:db8:1:2:3:4:5:6", "admin-fail:2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", "admin-fail:2001:db8:1:2::/64"},
		{"fe80::1%eth0", "admin-fail:fe80::/64"},
		{"not-an-ip", "admin-fail:not-an-ip"},
	} {
		if got := Key(tt.ip); got != tt.want {
			t.Errorf("Key(%q) = %q, want %q", tt.ip, got, tt.want)
		}
	}
}
