package deliver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// errBadSecret never carries the secret it is about.
var errBadSecret = errors.New("signing secret is not whsec_ followed by base64")

// DecodeSecret turns a Standard Webhooks secret into its HMAC key: the
// standard base64 after the optional whsec_ prefix, padded or not (secret
// generators differ, and a receiver's library accepts both). Config
// validation uses it too, so a secret that validates is one that signs.
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

// Sign returns the Standard Webhooks webhook-signature value for one
// message: "v1,<base64 HMAC-SHA256 of id.timestamp.body>" per secret,
// space-separated, so a receiver holding either secret accepts it while one
// is being rotated.
func Sign(secrets []string, id string, timestamp int64, body []byte) (string, error) {
	ts := strconv.FormatInt(timestamp, 10)
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := DecodeSecret(s)
		if err != nil {
			return "", err
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}
