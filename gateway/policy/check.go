package policy

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
)

// MaxHeaders is how many custom headers a destination may carry
// (LeadSquared's own limit, applied to gateway.yaml's too).
const MaxHeaders = 10

// HeaderName reports whether s is a valid header name: an RFC 9110 token.
func HeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// HTTPURL parses s and reports whether it is an absolute http or https URL
// with a host, the only kind a delivery or a notice can be sent to.
func HTTPURL(s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, false
	}
	return u, true
}

// errBadSecret never carries the secret it is about.
var errBadSecret = errors.New("signing secret is not whsec_ followed by base64")

// DecodeSecret turns a Standard Webhooks secret into its HMAC key: the
// standard base64 after the optional whsec_ prefix, padded or not (secret
// generators differ, and a receiver's library accepts both). The signer
// and config validation both use it, so a secret that validates is one
// that signs.
func DecodeSecret(s string) ([]byte, error) {
	rest := strings.TrimPrefix(s, "whsec_")
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(rest)
	}
	if err != nil || len(key) == 0 {
		return nil, errBadSecret
	}
	return key, nil
}
