package mapping

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"leadgate/gateway/adminkeys"
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

var authKeys = []string{"type", "header", "query", "token", "secret", "encoding", "prefix", "timestamp_header", "tolerance"}

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

func (c *compiler) auth(n *yaml.Node) {
	if n == nil {
		return
	}
	k := c.keys(n, authKeys)
	str := func(key string) string {
		if v := k[key]; v != nil {
			s, _ := c.scalar(v, "auth."+key)
			return s
		}
		return ""
	}
	a := authSpec{header: str("header"), query: str("query"), prefix: str("prefix"), tsHeader: str("timestamp_header")}
	typ := str("type")
	only := func(allowed ...string) {
		for _, key := range authKeys {
			if key != "type" && k[key] != nil && !strings.Contains(" "+strings.Join(allowed, " ")+" ", " "+key+" ") {
				c.errf(k[key], "auth: %s does not apply to type %s", key, typ)
			}
		}
	}
	// A token or secret may expand to nothing only through an explicit
	// ${VAR:-}: the source is then open (a fresh machine with no secrets
	// still serves, HasAuth reports it and the server warns). An unset
	// ${VAR}, or a literal empty value, is a mistake that would switch
	// authentication off, so it fails validation instead.
	optional := false // the secret holds a ${VAR:-…}
	secret := func(key string) string {
		v := k[key]
		if v == nil {
			c.errf(n, "auth: %s is required for type %s (write \"${VAR:-}\" to make it optional)", key, typ)
			return ""
		}
		s, missing, opt := expandSecret(v.Value)
		optional = opt
		for _, name := range missing {
			c.errf(v, "auth.%s: ${%s} is not set (set it, or write \"${%s:-}\" to leave the source unauthenticated while it is unset)", key, name, name)
		}
		s = strings.TrimSpace(s)
		if s == "" && len(missing) == 0 && !optional {
			c.errf(v, "auth.%s is empty (write \"${VAR:-}\" to make it optional, or use type: none)", key)
		}
		return s
	}
	switch typ {
	case "", "none":
		only()
		return
	case "token":
		only("header", "query", "token", "prefix")
		if a.header == "" && a.query == "" {
			c.errf(n, "auth: token needs a header or a query parameter to read it from")
		}
		a.kind, a.secret = authToken, []byte(secret("token"))
	case "hmac":
		only("header", "secret", "encoding", "prefix", "timestamp_header", "tolerance")
		if a.header == "" {
			c.errf(n, "auth: hmac needs the header that carries the signature")
		}
		a.kind, a.secret = authHMAC, []byte(secret("secret"))
		switch enc := str("encoding"); enc {
		case "", "hex":
		case "base64":
			a.base64 = true
		default:
			c.errf(k["encoding"], "auth: encoding %q: want hex or base64", enc)
		}
	case "standard_webhooks":
		only("secret", "tolerance")
		a.kind = authStandard
		if s := secret("secret"); s != "" {
			raw := strings.TrimPrefix(s, "whsec_")
			key, err := base64.StdEncoding.DecodeString(raw)
			switch {
			case strings.TrimSpace(raw) == "" && !optional:
				// "whsec_" alone decodes to no key, which would turn the
				// source's authentication off.
				c.errf(k["secret"], "auth: a standard_webhooks secret has no key after whsec_ (write \"${VAR:-}\" to make it optional, or use type: none)")
			case err != nil:
				c.errf(k["secret"], "auth: a standard_webhooks secret is whsec_ and base64")
			}
			a.secret = key
		}
	default:
		c.errf(k["type"], "auth: unknown type %q (want none, token, hmac, standard_webhooks)", typ)
		return
	}
	if v := k["tolerance"]; v != nil {
		d, err := time.ParseDuration(v.Value)
		if err != nil || d <= 0 {
			c.errf(v, "auth: tolerance %q: want a positive duration such as 5m", v.Value)
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
		if !adminkeys.Equal([]byte(got), a.secret) {
			return fmt.Errorf("%w: wrong token", ErrUnauthorized)
		}
	case authHMAC:
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
	case authStandard:
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
	return nil
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
