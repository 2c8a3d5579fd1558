package mapping

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func sign(key []byte, parts ...string) []byte {
	mac := hmac.New(sha256.New, key)
	for _, p := range parts {
		mac.Write([]byte(p))
	}
	return mac.Sum(nil)
}

func TestAuthenticate(t *testing.T) {
	t.Setenv("TEST_TOKEN", "s3cret")
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ts := strconv.FormatInt(now.Unix(), 10)
	old := strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10)
	body := `{"email":"a@b.c"}`
	whKey := []byte("0123456789abcdef")
	whsec := "whsec_" + base64.StdEncoding.EncodeToString(whKey)
	stdSig := func(id, ts string) string {
		return "v1," + base64.StdEncoding.EncodeToString(sign(whKey, id+"."+ts+".", body))
	}

	const (
		tokenHeader = "auth: {type: token, header: X-Token, token: '${TEST_TOKEN}'}"
		tokenQuery  = "auth: {type: token, query: token, token: '${TEST_TOKEN}'}"
		tokenBearer = "auth: {type: token, header: Authorization, prefix: 'Bearer ', token: '${TEST_TOKEN}'}"
		tokenEither = "auth: {type: token, header: Authorization, prefix: 'Bearer ', query: token, token: '${TEST_TOKEN}'}"
		hmacHex     = "auth: {type: hmac, header: X-Sig, prefix: 'sha256=', secret: '${TEST_TOKEN}'}"
		hmacB64     = "auth: {type: hmac, header: X-Sig, encoding: base64, secret: s3cret}"
		hmacTS      = "auth: {type: hmac, header: X-Sig, secret: s3cret, timestamp_header: X-Ts, tolerance: 5m}"
	)
	std := "auth: {type: standard_webhooks, secret: '" + whsec + "'}"
	tests := []struct {
		name, auth string
		query      string
		headers    map[string]string
		wantOK     bool
	}{
		{"token header", tokenHeader, "", map[string]string{"X-Token": "s3cret"}, true},
		{"token header wrong", tokenHeader, "", map[string]string{"X-Token": "s3cret!"}, false},
		{"token header missing", tokenHeader, "", nil, false},
		{"token query", tokenQuery, "token=s3cret", nil, true},
		{"token query wrong", tokenQuery, "token=nope", nil, false},
		{"token bearer", tokenBearer, "", map[string]string{"Authorization": "Bearer s3cret"}, true},
		{"token bearer without prefix", tokenBearer, "", map[string]string{"Authorization": "s3cret"}, false},
		{"token header or query: header", tokenEither, "", map[string]string{"Authorization": "Bearer s3cret"}, true},
		{"token header or query: bare query", tokenEither, "token=s3cret", nil, true},
		{"token header or query: wrong query", tokenEither, "token=Bearer s3cret", nil, false},
		{"token header or query: header without prefix", tokenEither, "", map[string]string{"Authorization": "s3cret"}, false},
		{"token header or query: empty", tokenEither, "token=", nil, false},
		{"hmac hex", hmacHex, "", map[string]string{"X-Sig": "sha256=" + hex.EncodeToString(sign([]byte("s3cret"), body))}, true},
		{"hmac hex upper case", hmacHex, "", map[string]string{"X-Sig": "sha256=" + hexUpper(sign([]byte("s3cret"), body))}, true},
		{"hmac hex other key", hmacHex, "", map[string]string{"X-Sig": "sha256=" + hex.EncodeToString(sign([]byte("other"), body))}, false},
		{"hmac hex not hex", hmacHex, "", map[string]string{"X-Sig": "sha256=zz"}, false},
		{"hmac base64", hmacB64, "", map[string]string{"X-Sig": base64.StdEncoding.EncodeToString(sign([]byte("s3cret"), body))}, true},
		{"hmac base64 other body", hmacB64, "", map[string]string{"X-Sig": base64.StdEncoding.EncodeToString(sign([]byte("s3cret"), body+" "))}, false},
		{"hmac timestamp", hmacTS, "", map[string]string{"X-Ts": ts, "X-Sig": hex.EncodeToString(sign([]byte("s3cret"), ts+".", body))}, true},
		{"hmac timestamp stale", hmacTS, "", map[string]string{"X-Ts": old, "X-Sig": hex.EncodeToString(sign([]byte("s3cret"), old+".", body))}, false},
		{"hmac timestamp missing", hmacTS, "", map[string]string{"X-Sig": hex.EncodeToString(sign([]byte("s3cret"), body))}, false},
		{"standard webhooks", std, "", map[string]string{"webhook-id": "msg_1", "webhook-timestamp": ts, "webhook-signature": "v1,bm9wZQ== " + stdSig("msg_1", ts)}, true},
		{"standard webhooks wrong id", std, "", map[string]string{"webhook-id": "msg_2", "webhook-timestamp": ts, "webhook-signature": stdSig("msg_1", ts)}, false},
		{"standard webhooks stale", std, "", map[string]string{"webhook-id": "msg_1", "webhook-timestamp": old, "webhook-signature": stdSig("msg_1", old)}, false},
		{"standard webhooks missing", std, "", nil, false},
		{"none", "auth: {type: none}", "", nil, true},
		{"no auth key", "", "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustCompile(t, "fields: {email: email}\n"+tt.auth+"\n")
			q, _ := url.ParseQuery(tt.query)
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			err := m.Authenticate(Input{Body: []byte(body), Raw: []byte(body), Query: q.Get, Header: h.Get, Now: now})
			if tt.wantOK && err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if !tt.wantOK && !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("Authenticate = %v, want ErrUnauthorized", err)
			}
			if m.HasAuth() != (tt.auth != "" && tt.name != "none") {
				t.Fatalf("HasAuth = %v", m.HasAuth())
			}
		})
	}
}

func hexUpper(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestAuthEnvExpansion(t *testing.T) {
	tests := []struct {
		name, env, token string
		hasAuth          bool
		wantErr          string // a validation error instead of a mapping
	}{
		{"unset optional", "", "${LEADGATE_TEST_UNSET:-}", false, ""},
		{"unset with default", "", "${LEADGATE_TEST_UNSET:-fallback}", true, ""},
		{"set", "v", "${LEADGATE_TEST_SET}", true, ""},
		{"set wins over default", "v", "${LEADGATE_TEST_SET:-fallback}", true, ""},
		{"literal", "", "plain", true, ""},
		{"unset required", "", "${LEADGATE_TEST_UNSET}", false,
			`m.yaml:2: auth.token: ${LEADGATE_TEST_UNSET} is not set (set it, or write "${LEADGATE_TEST_UNSET:-}"`},
		{"set but empty", "", "${LEADGATE_TEST_SET}", false, `m.yaml:2: auth.token: ${LEADGATE_TEST_SET} is not set`},
		{"unset inside a longer value", "", "pre-${LEADGATE_TEST_UNSET}", false, `m.yaml:2: auth.token: ${LEADGATE_TEST_UNSET} is not set`},
		{"literal empty", "", "", false, `m.yaml:2: auth.token is empty (write "${VAR:-}" to make it optional, or use type: none)`},
		{"blank", "", "  ", false, `m.yaml:2: auth.token is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LEADGATE_TEST_SET", tt.env)
			src := "fields: {email: email}\nauth: {type: token, header: X-T, token: '" + tt.token + "'}\n"
			if tt.wantErr != "" {
				_, err := Compile("m", "m.yaml", []byte(src))
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Compile error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			m := mustCompile(t, src)
			if m.HasAuth() != tt.hasAuth {
				t.Fatalf("HasAuth = %v, want %v", m.HasAuth(), tt.hasAuth)
			}
		})
	}
	// Each secret key of each type goes through the same rule.
	for _, auth := range []string{
		"{type: hmac, header: X-Sig, secret: '${LEADGATE_TEST_UNSET}'}",
		"{type: standard_webhooks, secret: '${LEADGATE_TEST_UNSET}'}",
	} {
		_, err := Compile("m", "m.yaml", []byte("fields: {email: email}\nauth: "+auth+"\n"))
		if err == nil || !strings.Contains(err.Error(), "m.yaml:2: auth.secret: ${LEADGATE_TEST_UNSET} is not set") {
			t.Errorf("auth %s: Compile error = %v, want auth.secret not set", auth, err)
		}
	}
	// whsec_ and an optional variable left empty: open, as asked.
	if m := mustCompile(t, "fields: {email: email}\nauth: {type: standard_webhooks, secret: 'whsec_${LEADGATE_TEST_UNSET:-}'}\n"); m.HasAuth() {
		t.Fatal("whsec_${UNSET:-} authenticates, want the source open as asked")
	}
	if got, _, _ := expandSecret("a${LEADGATE_TEST_UNSET:-b}c"); got != "abc" {
		t.Fatalf("expandSecret = %q", got)
	}
}
