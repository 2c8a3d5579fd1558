//go:build !linux

package bolt

import "go.etcd.io/bbolt"

// dropMapped is a no-op where MADV_DONTNEED is not at hand.
func dropMapped(*bbolt.DB, *bbolt.Tx) {}
