//go:build linux

package bolt

import (
	"syscall"

	"go.etcd.io/bbolt"
)

// dropMapped unmaps from the process the pages of tx's file that bbolt
// read through its memory map, so that they stop counting in its resident
// memory; they stay in the page cache and a later read maps them again.
// Every leaf page a commit writes is read by a later one, so without this
// the resident set grew with the file. It must run in a write transaction:
// bbolt maps the file anew only while committing one, so the map cannot
// move under the call. It is advice: an error changes nothing.
func dropMapped(db *bbolt.DB, tx *bbolt.Tx) {
	if size := tx.Size(); size > 0 {
		_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, db.Info().Data, uintptr(size), syscall.MADV_DONTNEED)
	}
}
