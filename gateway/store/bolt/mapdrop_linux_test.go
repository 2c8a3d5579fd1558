package bolt

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// TestDropMapped checks that dropping the mapped pages takes the file out
// of the resident set and leaves what it holds readable.
func TestDropMapped(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var ids []string
	for i := range 300 {
		email := fmt.Sprintf("drop%d@example.com", i)
		res, err := s.Ingest(ctx, store.IngestRequest{Source: "website", Identity: []string{"email:" + email},
			Lead:  lead.Lead{Email: email, Fields: map[string]any{"note": strings.Repeat("x", 500)}},
			Emits: []string{lead.LeadCreated}, ReceivedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.LeadID)
	}
	readAll := func() {
		t.Helper()
		for i, id := range ids {
			r, err := s.Lead(ctx, id)
			if err != nil || r.Lead.Email != fmt.Sprintf("drop%d@example.com", i) {
				t.Fatalf("lead %s = %+v, %v", id, r.Lead, err)
			}
		}
	}
	readAll()
	before := mappedKB(t, s)
	if err := s.db.Update(func(tx *bbolt.Tx) error { dropMapped(s.db, tx); return nil }); err != nil {
		t.Fatal(err)
	}
	after := mappedKB(t, s)
	if before < 64 || after > before/4 {
		t.Fatalf("mapped file resident: %d kB before the drop, %d kB after", before, after)
	}
	readAll()
}

// mappedKB reads the resident kilobytes of s's file mapping.
func mappedKB(t *testing.T, s *Store) int {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps")
	}
	lines := strings.Split(string(raw), "\n")
	for i, l := range lines {
		if !strings.HasSuffix(l, s.db.Path()) {
			continue
		}
		for _, m := range lines[i+1:] {
			if f := strings.Fields(m); len(f) >= 2 && f[0] == "Rss:" {
				n, err := strconv.Atoi(f[1])
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
	}
	t.Fatal("file mapping not found")
	return 0
}
