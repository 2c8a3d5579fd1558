package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"leadgate/gateway/lead"

	"leadgate/gateway/store"
	"leadgate/gateway/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Open {
		dir := t.TempDir()
		return func(t *testing.T) store.Store {
			s, err := Open(dir, Options{})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			return s
		}
	})
}

func TestSweepDeletesExpiredDedupeKeys(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	at := time.Now()
	for i, ttl := range []time.Duration{time.Minute, time.Minute, time.Hour} {
		_, err := s.Ingest(ctx, store.IngestRequest{
			Source: "website", DedupeKey: fmt.Sprintf("k%d", i), DedupeTTL: ttl,
			Identity: []string{"email:a@b.c"}, Lead: lead.Lead{Email: "a@b.c"}, ReceivedAt: at,
		})
		if err != nil {
			t.Fatalf("ingest: %v", err)
		}
	}
	tests := []struct {
		name string
		now  time.Time
		want int
	}{
		{"nothing expired yet", at.Add(30 * time.Second), 0},
		{"minute keys expired", at.Add(2 * time.Minute), 2},
		{"already swept", at.Add(3 * time.Minute), 0},
		{"hour key expired", at.Add(2 * time.Hour), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := s.Sweep(tt.now)
			if err != nil {
				t.Fatalf("sweep: %v", err)
			}
			if n != tt.want {
				t.Fatalf("swept %d, want %d", n, tt.want)
			}
		})
	}
	res, err := s.Ingest(ctx, store.IngestRequest{Source: "website", DedupeKey: "k2", DedupeTTL: time.Hour,
		Identity: []string{"email:a@b.c"}, Lead: lead.Lead{Email: "a@b.c"}, ReceivedAt: at.Add(time.Minute)})
	if err != nil || res.Duplicate {
		t.Fatalf("after sweep ingest = %+v, %v; want not a duplicate", res, err)
	}
}

func TestUnavailable(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "leadgate.db"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("open on a directory: %v, want ErrUnavailable", err)
	}

	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	ctx := context.Background()
	calls := map[string]func() error{
		"ping": func() error { return s.Ping(ctx) },
		"ingest": func() error {
			_, err := s.Ingest(ctx, store.IngestRequest{Identity: []string{"email:a@b.c"}})
			return err
		},
		"settle": func() error {
			return s.Settle(ctx, []store.Outcome{{Delivery: store.Delivery{ID: "dlv_x_0"}, State: store.Delivered}})
		},
		"put subscription": func() error { return s.PutSubscription(ctx, store.Subscription{ID: "a"}, 0) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("%s after close: %v, want ErrUnavailable", name, err)
			}
		})
	}
}

func TestOneProcessPerFile(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	if _, err := Open(dir, Options{OpenTimeout: 50 * time.Millisecond}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("second open: %v, want ErrUnavailable", err)
	}
}

func TestDeliveryIDRoundTrip(t *testing.T) {
	tests := []struct {
		id    string
		event string
		i     int
		ok    bool
	}{
		{deliveryID("evt_0123abcd", 0), "evt_0123abcd", 0, true},
		{deliveryID("evt_0123abcd", 12), "evt_0123abcd", 12, true},
		{"dlv_abc", "", 0, false},
		{"dlv_abc_x", "", 0, false},
		{"nope", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			ev, i, ok := parseDeliveryID(tt.id)
			if ok != tt.ok || (ok && (ev != tt.event || i != tt.i)) {
				t.Fatalf("parse %q = %q, %d, %v; want %q, %d, %v", tt.id, ev, i, ok, tt.event, tt.i, tt.ok)
			}
		})
	}
	at, rid, dests, err := decodeRoutes(encodeRoutes(42, "req-1", []string{"crm", "", "slack ✓"}))
	if err != nil || at != 42 || rid != "req-1" || len(dests) != 3 || dests[0] != "crm" || dests[1] != "" || dests[2] != "slack ✓" {
		t.Fatalf("routes round trip = %d, %q, %q, %v", at, rid, dests, err)
	}
	// A routes value written before request ids were kept: no zero byte.
	legacy := binary.AppendUvarint(binary.BigEndian.AppendUint64(nil, 7), 3)
	legacy = append(legacy, "crm"...)
	at, rid, dests, err = decodeRoutes(legacy)
	if err != nil || at != 7 || rid != "" || len(dests) != 1 || dests[0] != "crm" {
		t.Fatalf("legacy routes = %d, %q, %q, %v", at, rid, dests, err)
	}
}

func TestEncodeEventMatchesJSON(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.FixedZone("X", 3600))
	l := lead.Lead{Email: "a@b.c", FirstName: "<Kim> & \"Lee\"", Score: 42, Fields: map[string]any{"budget": "5000", "n": int64(7)},
		Assets: []lead.Asset{{Type: "Page", OK: false}}}
	tests := []struct {
		name string
		ev   lead.Event
	}{
		{"plain", lead.Event{ID: "evt_1", Event: lead.LeadCreated, Source: "website", LeadID: "abc", ReceivedAt: at, Lead: l}},
		{"changed", lead.Event{ID: "evt_2", Event: lead.LeadUpdated, Source: "website", LeadID: "abc", ReceivedAt: at.UTC(), Changed: []string{"score", "first_name"}, Lead: l}},
		{"escaped envelope", lead.Event{ID: "evt_3", Event: "x<y>", Source: "só\u2028\"q\"\\\n", LeadID: "a&b", ReceivedAt: at, Changed: []string{"f<"}}},
		{"invalid utf-8", lead.Event{ID: "evt_4", Event: "e", Source: "\xff\xfe", LeadID: "l", ReceivedAt: time.Time{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leadRaw, err := lead.AppendLeadJSON(nil, &tt.ev.Lead, true)
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodeEvent([]byte("prefix"), &tt.ev, leadRaw)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			want, err := json.Marshal(tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix"+string(want) {
				t.Fatalf("encodeEvent = %s\nwant        %s", got, want)
			}
		})
	}
}

// TestLegacyLeadIndex opens a file whose lead index is the keyed bucket
// written before the index became a log: its keys still name their leads,
// and a key pointed elsewhere since is read from the log.
func TestLegacyLeadIndex(t *testing.T) {
	dir, db := rawFile(t)
	err := db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bIndex)
		if err := b.Put([]byte("email:old@b.c"), []byte("legacy1")); err != nil {
			return err
		}
		return b.Put([]byte("phone:+1555"), []byte("legacy2"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := store.IngestRequest{Source: "website", Identity: []string{"email:old@b.c", "phone:+1555"}, Lead: lead.Lead{Email: "old@b.c", Phone: "+1555"},
		Emits: []string{lead.LeadCreated}, ReceivedAt: time.Now()}
	res, err := s.Ingest(ctx, req)
	if err != nil || res.LeadID != "legacy1" {
		t.Fatalf("ingest = %+v, %v; want lead legacy1", res, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct{ key, want string }{
		{"email:old@b.c", "legacy1"},
		{"phone:+1555", "legacy1"}, // repointed through the log, which wins
		{"email:none@b.c", ""},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := s.lookupIndex(tt.key); got != tt.want {
				t.Fatalf("lookup %s = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

// TestPlanWithoutTx covers Ingest's plan without a read transaction: it
// answers errNeedsRead for a lead the index knows, and a plan made before
// the index learned the key does not hold in the commit.
func TestPlanWithoutTx(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	req := store.IngestRequest{Source: "website", Identity: []string{"email:a@b.c"}, Lead: lead.Lead{Email: "a@b.c"},
		Emits: []string{lead.LeadCreated, lead.LeadUpdated}, ReceivedAt: time.Now()}
	stale, err := makePlan(nil, &req, s.lookupIndex)
	if err != nil {
		t.Fatalf("plan for a new person: %v", err)
	}
	first, err := s.Ingest(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := makePlan(nil, &req, s.lookupIndex); !errors.Is(err, errNeedsRead) {
		t.Fatalf("plan for a known person without tx: %v, want errNeedsRead", err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		if stale.holds(tx, &req, s.lookupIndex) {
			t.Fatal("a plan made before the lead was indexed still holds")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	req.Lead.FirstName = "Kim"
	second, err := s.Ingest(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if second.LeadID != first.LeadID || len(second.Events) != 1 || second.Events[0].Event != lead.LeadUpdated {
		t.Fatalf("second ingest = %+v, want one lead.updated of %s", second, first.LeadID)
	}
}

// rawFile makes a new store's file and opens it with bbolt directly, so a
// test can write what an earlier version of the store left behind; the
// test closes db before it opens the store again.
func rawFile(t *testing.T) (dir string, db *bbolt.DB) {
	t.Helper()
	dir = t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = bbolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	return dir, db
}
