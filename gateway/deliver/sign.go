package deliver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"strconv"
	"strings"
	"sync"

	"leadgate/gateway/policy"
)

// Sign returns the Standard Webhooks webhook-signature value for one
// message: "v1,<base64 HMAC-SHA256 of id.timestamp.body>" per secret,
// space-separated, so a receiver holding either secret accepts it while one
// is being rotated.
func Sign(secrets []string, id string, timestamp int64, body []byte) (string, error) {
	s, err := newSigner(secrets)
	if err != nil {
		return "", err
	}
	return s.sign(id, strconv.FormatInt(timestamp, 10), body), nil
}

// signer signs with a destination's decoded secrets. The sender keeps one
// per destination, so a delivery neither decodes the secrets again nor
// builds a new HMAC (two SHA-256 states and their pads) for each of them:
// each key's HMACs are pooled and Reset between messages.
type signer struct {
	macs []*sync.Pool // of *pooledMAC, one pool per secret, in order
}

// pooledMAC is an HMAC with scratch space for the "id.timestamp." prefix
// and the sum, so that signing allocates only the header value.
type pooledMAC struct {
	mac    hash.Hash
	prefix []byte
	sum    [sha256.Size]byte
}

func newSigner(secrets []string) (*signer, error) {
	s := &signer{macs: make([]*sync.Pool, 0, len(secrets))}
	for _, sec := range secrets {
		key, err := policy.DecodeSecret(sec)
		if err != nil {
			return nil, err
		}
		s.macs = append(s.macs, &sync.Pool{New: func() any {
			return &pooledMAC{mac: hmac.New(sha256.New, key), prefix: make([]byte, 0, 64)}
		}})
	}
	return s, nil
}

// sign is Sign's value for one message; ts is the timestamp as sent.
func (s *signer) sign(id, ts string, body []byte) string {
	var out strings.Builder
	out.Grow(len(s.macs) * 48)
	for i, pool := range s.macs {
		pm := pool.Get().(*pooledMAC)
		pm.prefix = append(append(append(append(pm.prefix[:0], id...), '.'), ts...), '.')
		pm.mac.Write(pm.prefix)
		pm.mac.Write(body)
		if i > 0 {
			out.WriteByte(' ')
		}
		out.WriteString("v1,")
		out.Write(base64.StdEncoding.AppendEncode(pm.prefix[:0], pm.mac.Sum(pm.sum[:0])))
		pm.mac.Reset()
		pool.Put(pm)
	}
	return out.String()
}
