package mapping

import (
	"crypto/sha256"
	"encoding/hex"
)

// MaxIdentity is the longest identity value (an email, a phone, the
// mapping's key) used as it is, in bytes. A longer one, which no real
// email, phone or id is, is replaced by "sha256:" and its hash: it still
// names one lead, the same every time, and every store key stays short. No
// lead is refused for the size of a value: server.body_limit bounds them
// all, and a web form or Leadsie does not retry a 422, so the lead would be
// lost.
const MaxIdentity = 256

// identityValue is v as an identity key's value: v, or its hash when it is
// longer than MaxIdentity.
func identityValue(v string) string {
	if len(v) <= MaxIdentity {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(sum[:])
}
