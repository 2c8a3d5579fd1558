package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
	"leadgate/gateway/store/bolt"
)

// TestCompact fills an embedded store, lets retention remove most of it,
// and compacts it: the file shrinks, and what was kept (a queued event)
// is still there and leasable. Compact refuses while the store is open
// and when Redis is configured.
func TestCompact(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	dir := t.TempDir()
	config := writeConfig(t, dir, freeAddr(t), "http://127.0.0.1:9/leads", "")
	dataDir := filepath.Join(dir, "data")
	st, err := bolt.Open(dataDir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	at := time.Now()
	notes := strings.Repeat("n", 2000)
	var kept string
	for i := range 3000 {
		email := fmt.Sprintf("c%d@compact.test", i)
		req := store.IngestRequest{Source: "website", Identity: []string{"email:" + email},
			Lead: lead.Lead{Email: email, Notes: notes}, Emits: []string{lead.LeadCreated}, ReceivedAt: at}
		if i == 0 {
			req.Route = func(*lead.Event) []string { return []string{"crm"} }
		}
		res, err := st.Ingest(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			kept = res.Events[0].ID
		}
	}
	for {
		n, err := st.SweepEvents(ctx, at.Add(time.Hour), 500)
		if err != nil {
			t.Fatal(err)
		}
		if n < 500 {
			break
		}
	}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"compact", "-config", config}, nil, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "in use by a running gateway") {
		t.Fatalf("compact with the store open = %d, stderr %q; want 1 saying it is in use", code, stderr.String())
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	before := fileSize(t, filepath.Join(dataDir, bolt.FileName))

	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"compact", "-config", config}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("compact = %d, stderr %q", code, stderr.String())
	}
	after := fileSize(t, filepath.Join(dataDir, bolt.FileName))
	// The leads stay (lead retention is another rule); the events, about
	// half of the file, are gone.
	if after*4 > before*3 {
		t.Fatalf("compact: %d bytes before, %d after; want it to shrink by a quarter at least", before, after)
	}
	for _, want := range []string{"copying the live data", "replacing", "before", "after"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("compact output lacks %q:\n%s", want, stdout.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, bolt.FileName+".compact")); !os.IsNotExist(err) {
		t.Errorf("the temporary file is left behind: %v", err)
	}

	st, err = bolt.Open(dataDir, bolt.Options{})
	if err != nil {
		t.Fatalf("open after compact: %v", err)
	}
	defer st.Close()
	if _, err := st.Event(ctx, kept); err != nil {
		t.Fatalf("kept event after compact: %v", err)
	}
	ds, err := st.Lease(ctx, "crm", at.Add(time.Minute), 10, time.Minute)
	if err != nil || len(ds) != 1 || ds[0].EventID != kept {
		t.Fatalf("lease after compact = %+v, %v; want the queued event", ds, err)
	}

	t.Setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
	stderr.Reset()
	if code := run([]string{"compact", "-config", config}, nil, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "redis.url") {
		t.Fatalf("compact with Redis configured = %d, stderr %q; want 1 naming redis.url", code, stderr.String())
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
