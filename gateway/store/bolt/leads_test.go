package bolt

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"leadgate/gateway/store"
)

// TestLegacyLeadsGetRecords opens a file whose lead was stored as its JSON
// alone, before leads had records: Open gives it a record (version 1, seen
// now, the index keys that name it), so SweepLeads removes it and its keys
// like any other.
func TestLegacyLeadsGetRecords(t *testing.T) {
	dir, db := rawFile(t)
	err := db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bMeta).Delete(kLeadRecords); err != nil {
			return err
		}
		if err := tx.Bucket(bLeads).Put([]byte("old1"), []byte(`{"email":"old@b.c","phone":"+1555"}`)); err != nil {
			return err
		}
		if err := tx.Bucket(bIndex).Put([]byte("email:old@b.c"), []byte("old1")); err != nil {
			return err
		}
		return tx.Bucket(bIndex).Put([]byte("phone:+1555"), []byte("old1"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	before := time.Now()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	r, err := s.Lead(ctx, "old1")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(r.Keys)
	if r.Version != 1 || r.LastSeen.Before(before.Truncate(time.Millisecond)) || !slices.Equal(r.Keys, []string{"email:old@b.c", "phone:+1555"}) || r.Lead.Email != "old@b.c" {
		t.Fatalf("migrated record = %+v", r)
	}
	if n, err := s.SweepLeads(ctx, time.Now().Add(time.Minute), 10); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v, want 1", n, err)
	}
	if _, err := s.Lead(ctx, "old1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after the sweep: %v", err)
	}
	for _, k := range []string{"email:old@b.c", "phone:+1555"} {
		if id := s.lookupIndex(k); id != "" {
			t.Fatalf("%s still names %q", k, id)
		}
	}
}
