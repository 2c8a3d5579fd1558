package deliver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"

	"leadgate/gateway/policy"
)

// Sign returns the Standard Webhooks webhook-signature value for one
// message: "v1,<base64 HMAC-SHA256 of id.timestamp.body>" per secret,
// space-separated, so a receiver holding either secret accepts it while one
// is being rotated.
func Sign(secrets []string, id string, timestamp int64, body []byte) (string, error) {
	ts := strconv.FormatInt(timestamp, 10)
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := policy.DecodeSecret(s)
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
