package bolt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
)

// ErrInUse: Compact could not lock the file, because a running gateway
// holds it.
var ErrInUse = errors.New("the store file is in use by a running gateway; stop it first")

// FileName is the store's file in its folder.
const FileName = "leadgate.db"

// compactTxSize bounds one transaction of the copy, so that compacting a
// large file does not hold all of it in memory at once.
const compactTxSize = 64 << 20

// Compact rewrites dir/leadgate.db into a new file holding only the live
// data, and puts it in the old one's place: the pages that retention freed
// are given back to the disk. It must run with no gateway on the file: it
// takes the file's lock (waiting at most openTimeout) and answers ErrInUse
// when it cannot. The new file is written next to the old one, synced and
// renamed over it, and the folder synced, so a crash at any point leaves
// either the old file or the new one, never a half-written store. progress
// is told what happens, one line at a time.
func Compact(dir string, openTimeout time.Duration, progress func(line string)) (before, after int64, err error) {
	if progress == nil {
		progress = func(string) {}
	}
	path := filepath.Join(dir, FileName)
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("compact: %w", err)
	}
	before = fi.Size()
	src, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: openTimeout, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
	if errors.Is(err, bbolt.ErrTimeout) {
		return before, 0, fmt.Errorf("compact %s: %w", path, ErrInUse)
	}
	if err != nil {
		return before, 0, fmt.Errorf("compact: open %s: %w", path, err)
	}
	defer src.Close() // holds the lock until the new file is in place
	tmp := path + ".compact"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return before, 0, fmt.Errorf("compact: remove a stale %s: %w", tmp, err)
	}
	progress(fmt.Sprintf("copying the live data of %s (%s) into %s", path, HumanBytes(before), tmp))
	// The copy is synced once at the end, not per transaction.
	dst, err := bbolt.Open(tmp, 0o600, &bbolt.Options{NoSync: true, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return before, 0, fmt.Errorf("compact: create %s: %w", tmp, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = dst.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := bbolt.Compact(dst, src, compactTxSize); err != nil {
		return before, 0, fmt.Errorf("compact: copy: %w", err)
	}
	progress("syncing the new file")
	if err := dst.Sync(); err != nil {
		return before, 0, fmt.Errorf("compact: sync %s: %w", tmp, err)
	}
	if err := dst.Close(); err != nil {
		return before, 0, fmt.Errorf("compact: close %s: %w", tmp, err)
	}
	ok = true
	if fi, err = os.Stat(tmp); err != nil {
		return before, 0, fmt.Errorf("compact: %w", err)
	}
	after = fi.Size()
	progress(fmt.Sprintf("replacing %s", path))
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return before, 0, fmt.Errorf("compact: replace %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return before, after, fmt.Errorf("compact: sync %s: %w", dir, err)
	}
	return before, after, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// HumanBytes writes a byte count for people: 12.3 MiB.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
