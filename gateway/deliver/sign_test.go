package deliver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// verifyStandardWebhooks is a receiver's check, written from the Standard
// Webhooks spec rather than from Sign: any v1 signature in the header that
// matches the message under secret passes.
func verifyStandardWebhooks(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	signed := h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "." + string(body)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signed))
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		version, b64, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func TestSignSpecVector(t *testing.T) {
	// The example of the Standard Webhooks specification.
	got, err := Sign([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestSignTwoSecretsForRotation(t *testing.T) {
	oldS := "whsec_" + base64.StdEncoding.EncodeToString([]byte("old secret key 0123456789"))
	newS := "whsec_" + base64.StdEncoding.EncodeToString([]byte("new secret key 9876543210"))
	body := []byte(`{"id":"evt_1"}`)
	sig, err := Sign([]string{oldS, newS}, "evt_1", 1700000000, body)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(sig)); n != 2 {
		t.Fatalf("signatures = %d, want 2: %s", n, sig)
	}
	h := http.Header{}
	h.Set("webhook-id", "evt_1")
	h.Set("webhook-timestamp", "1700000000")
	h.Set("webhook-signature", sig)
	for _, tc := range []struct {
		name, secret string
		want         bool
	}{
		{"old", oldS, true},
		{"new", newS, true},
		{"other", "whsec_" + base64.StdEncoding.EncodeToString([]byte("someone else")), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := verifyStandardWebhooks(tc.secret, h, body); got != tc.want {
				t.Fatalf("verify = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := Sign([]string{"whsec_not base64"}, "evt_1", 1, body); err == nil {
		t.Fatal("Sign with a bad secret succeeded")
	}
}
