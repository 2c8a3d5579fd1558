// Package credential compares presented credentials with expected ones: the
// one key comparison of the gateway, used for the admin keys (package
// adminkeys) and a source's token (package mapping). It has no dependencies
// of the gateway's own, so the mapping engine can use it without pulling in
// the HTTP server.
package credential

import (
	"crypto/sha256"
	"crypto/subtle"
)

// Equal compares a presented key with the expected one in constant time.
// It compares SHA-256 digests, which are always 32 bytes, because
// ConstantTimeCompare returns at once on a length mismatch and would time
// the key's length.
func Equal(got, want []byte) bool {
	g, w := sha256.Sum256(got), sha256.Sum256(want)
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
