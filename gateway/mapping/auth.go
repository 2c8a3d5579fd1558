package mapping

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"leadgate/gateway/credential"
)

type authKind uint8

const (
	authNone authKind = iota
	authToken
	authHMAC
	authStandard
)

// authSpec is a source's compiled authentication.
type authSpec struct {
	kind      authKind
	header    string
	query     string
	prefix    string
	secret    []byte // token, HMAC key or the decoded whsec_ key
	base64    bool
	tsHeader  string
	tolerance time.Duration
}

const defaultTolerance = 5 * time.Minute

var envRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandSecret expands ${VAR} and ${VAR:-default} (default when VAR is
// unset or empty) in a token or secret. missing names each ${VAR}, written
// without a default, that is unset or empty: such a secret would expand to
// less than was written, and an empty one would switch the source's
// authentication off without anyone asking for it. optional is set when the
// value holds a ${VAR:-…}, the explicit way to let a secret be empty.
func expandSecret(s string) (v string, missing []string, optional bool) {
	v = envRe.ReplaceAllStringFunc(s, func(ref string) string {
		m := envRe.FindStringSubmatch(ref)
		val := os.Getenv(m[1])
		switch {
		case m[2] != "":
			optional = true
			if val == "" {
				return m[3]
			}
		case val == "":
			missing = append(missing, m[1])
		}
		return val
	})
	return v, missing, optional
}

// authCompiler compiles one auth section.
type authCompiler struct {
	c   *compiler
	src *authSrc
	typ string
	// optional is set when the secret holds a ${VAR:-…}.
	optional bool
}

// str is key's value, "" when absent.
func (ac *authCompiler) str(key string) string {
	if v := ac.src.keys[key]; v != nil {
		return v.val
	}
	return ""
}

// only reports every key written besides type and allowed.
func (ac *authCompiler) only(allowed ...string) {
	for _, key := range authKeys {
		if v := ac.src.keys[key]; key != "type" && v != nil && !slices.Contains(allowed, key) {
			ac.c.errf(v.line, "auth: %s does not apply to type %s", key, ac.typ)
		}
	}
}

// secret is key's value expanded. A token or secret may expand to
// nothing only through an explicit ${VAR:-}: the source is then open (a
// fresh machine with no secrets still serves, HasAuth reports it and the
// server warns). An unset ${VAR}, or a literal empty value, is a mistake
// that would switch authentication off, so it fails validation instead.
func (ac *authCompiler) secret(key string) string {
	v := ac.src.keys[key]
	if v == nil {
		ac.c.errf(ac.src.line, "auth: %s is required for type %s (write \"${VAR:-}\" to make it optional)", key, ac.typ)
		return ""
	}
	s, missing, opt := expandSecret(v.val)
	ac.optional = opt
	for _, name := range missing {
		ac.c.errf(v.line, "auth.%s: ${%s} is not set (set it, or write \"${%s:-}\" to leave the source unauthenticated while it is unset)", key, name, name)
	}
	s = strings.TrimSpace(s)
	if s == "" && len(missing) == 0 && !ac.optional {
		ac.c.errf(v.line, "auth.%s is empty (write \"${VAR:-}\" to make it optional, or use type: none)", key)
	}
	return s
}

func (c *compiler) auth(src *authSrc) {
	if src == nil {
		return
	}
	ac := &authCompiler{c: c, src: src}
	ac.typ = ac.str("type")
	a := authSpec{header: ac.str("header"), query: ac.str("query"), prefix: ac.str("prefix"), tsHeader: ac.str("timestamp_header")}
	switch ac.typ {
	case "", "none":
		ac.only()
		return
	case "token":
		ac.only("header", "query", "token", "prefix")
		if a.header == "" && a.query == "" {
			c.errf(src.line, "auth: token needs a header or a query parameter to read it from")
		}
		a.kind, a.secret = authToken, []byte(ac.secret("token"))
	case "hmac":
		ac.hmac(&a)
	case "standard_webhooks":
		ac.standard(&a)
	default:
		c.errf(src.keys["type"].line, "auth: unknown type %q (want none, token, hmac, standard_webhooks)", ac.typ)
		return
	}
	if v := src.keys["tolerance"]; v != nil {
		d, err := time.ParseDuration(v.val)
		if err != nil || d <= 0 {
			c.errf(v.line, "auth: tolerance %q: want a positive duration such as 5m", v.val)
		}
		a.tolerance = d
	}
	if a.tolerance == 0 && (a.tsHeader != "" || a.kind == authStandard) {
		a.tolerance = defaultTolerance
	}
	if len(a.secret) == 0 {
		a.kind = authNone
	}
	c.m.auth = a
}

func (ac *authCompiler) hmac(a *authSpec) {
	ac.only("header", "secret", "encoding", "prefix", "timestamp_header", "tolerance")
	if a.header == "" {
		ac.c.errf(ac.src.line, "auth: hmac needs the header that carries the signature")
	}
	a.kind, a.secret = authHMAC, []byte(ac.secret("secret"))
	switch enc := ac.str("encoding"); enc {
	case "", "hex":
	case "base64":
		a.base64 = true
	default:
		ac.c.errf(ac.src.keys["encoding"].line, "auth: encoding %q: want hex or base64", enc)
	}
}

func (ac *authCompiler) standard(a *authSpec) {
	ac.only("secret", "tolerance")
	a.kind = authStandard
	s := ac.secret("secret")
	if s == "" {
		return
	}
	raw := strings.TrimPrefix(s, "whsec_")
	key, err := base64.StdEncoding.DecodeString(raw)
	switch line := ac.src.keys["secret"].line; {
	case strings.TrimSpace(raw) == "" && !ac.optional:
		// "whsec_" alone decodes to no key, which would turn the
		// source's authentication off.
		ac.c.errf(line, "auth: a standard_webhooks secret has no key after whsec_ (write \"${VAR:-}\" to make it optional, or use type: none)")
	case err != nil:
		ac.c.errf(line, "auth: a standard_webhooks secret is whsec_ and base64")
	}
	a.secret = key
}

// Authenticate checks the request against the source's authentication:
// a token in a header or query parameter, an HMAC-SHA256 of the raw body
// or a Standard Webhooks signature, all compared in constant time. A
// failure wraps ErrUnauthorized; the reason never holds a secret.
func (m *Mapping) Authenticate(in Input) error {
	a := &m.auth
	raw := in.Raw
	if raw == nil {
		raw = in.Body
	}
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	switch a.kind {
	case authToken:
		return a.checkToken(&in)
	case authHMAC:
		return a.checkHMAC(&in, raw, now)
	case authStandard:
		return a.checkStandard(&in, raw, now)
	}
	return nil
}

func (a *authSpec) checkToken(in *Input) error {
	// The prefix ("Bearer ") belongs to the header; a query parameter
	// carries the bare token.
	got, ok := "", false
	if a.header != "" {
		if h := in.header(a.header); h != "" {
			got, ok = strings.CutPrefix(h, a.prefix)
		}
	}
	if !ok && a.query != "" {
		got, ok = in.query(a.query), true
	}
	if got == "" || !ok {
		return fmt.Errorf("%w: missing token", ErrUnauthorized)
	}
	if !credential.Equal([]byte(got), a.secret) {
		return fmt.Errorf("%w: wrong token", ErrUnauthorized)
	}
	return nil
}

func (a *authSpec) checkHMAC(in *Input, raw []byte, now time.Time) error {
	sig, ok := strings.CutPrefix(strings.TrimSpace(in.header(a.header)), a.prefix)
	if sig == "" || !ok {
		return fmt.Errorf("%w: missing signature", ErrUnauthorized)
	}
	mac := hmac.New(sha256.New, a.secret)
	if a.tsHeader != "" {
		ts := in.header(a.tsHeader)
		if err := checkTimestamp(ts, now, a.tolerance); err != nil {
			return err
		}
		mac.Write([]byte(ts))
		mac.Write([]byte("."))
	}
	mac.Write(raw)
	var got []byte
	var err error
	if a.base64 {
		got, err = base64.StdEncoding.DecodeString(sig)
	} else {
		got, err = hex.DecodeString(sig)
	}
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%w: bad signature", ErrUnauthorized)
	}
	return nil
}

func (a *authSpec) checkStandard(in *Input, raw []byte, now time.Time) error {
	id, ts, sigs := in.header("webhook-id"), in.header("webhook-timestamp"), in.header("webhook-signature")
	if id == "" || sigs == "" {
		return fmt.Errorf("%w: missing webhook-id or webhook-signature", ErrUnauthorized)
	}
	if err := checkTimestamp(ts, now, a.tolerance); err != nil {
		return err
	}
	mac := hmac.New(sha256.New, a.secret)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(raw)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		b64, ok := strings.CutPrefix(s, "v1,")
		if !ok {
			continue
		}
		if got, err := base64.StdEncoding.DecodeString(b64); err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: bad signature", ErrUnauthorized)
}

func checkTimestamp(ts string, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(strings.TrimSpace(ts), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: missing or malformed timestamp", ErrUnauthorized)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp outside tolerance", ErrUnauthorized)
	}
	return nil
}
