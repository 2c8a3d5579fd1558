package redisstore

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"leadgate/gateway/lead"
	"leadgate/gateway/redistest"
	"leadgate/gateway/store"
)

// TestBatchKeepsPeopleApart: two people sharing a phone whose payloads
// share one writeScript run are two leads, each with lead.created, as
// they would be one after the other; a third payload in the run with the
// first one's email joins it.
func TestBatchKeepsPeopleApart(t *testing.T) {
	srv := redistest.Start(t)
	s := New(redis.NewClient(&redis.Options{Addr: srv.Addr()}), Options{Prefix: "apart"})
	defer s.Close()
	at := time.Now().Truncate(time.Millisecond)
	req := func(email string) store.IngestRequest {
		return store.IngestRequest{
			Source: "website", Identity: []string{"email:" + email, "phone:+1555"},
			Lead:  lead.Lead{Email: email, Phone: "+1555"},
			Emits: []string{lead.LeadCreated, lead.LeadUpdated}, ReceivedAt: at,
		}
	}
	out := inOneBatch(t, s, []store.IngestRequest{req("a@x.com"), req("b@x.com"), req("a@x.com")})
	if out[0].LeadID == out[1].LeadID || out[0].LeadID != out[2].LeadID {
		t.Fatalf("lead ids = %s %s %s, want a, b, a", out[0].LeadID, out[1].LeadID, out[2].LeadID)
	}
	if len(out[1].Events) != 1 || out[1].Events[0].Event != lead.LeadCreated || out[1].Events[0].LeadVersion != 1 {
		t.Fatalf("second person's events = %+v, want lead.created at version 1", out[1].Events)
	}
}

// TestLegacyLeadsJoinTheSweep: a lead stored before the last-seen set and
// its keys existed enters the set on the first SweepLeads (seen now), and
// a later sweep removes it and its email and phone keys, read from its
// snapshot.
func TestLegacyLeadsJoinTheSweep(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	s := New(rdb, Options{Prefix: "legacy"})
	defer s.Close()
	ctx := t.Context()
	k := s.keys
	if err := rdb.HSet(ctx, k.lead("old1"), "s", `{"email":"old@b.c","phone":"+1555"}`, "v", "4").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, k.idx, "email:old@b.c", "old1", "phone:+1555", "old1", "key:leadsie:u1", "old1").Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SweepLeads(ctx, time.Now().Add(-time.Hour), 10); err != nil || n != 0 {
		t.Fatalf("first sweep = %d, %v, want 0: the lead is seen at the upgrade", n, err)
	}
	if n, err := s.LeadCount(ctx); err != nil || n != 1 {
		t.Fatalf("lead count = %d, %v, want 1", n, err)
	}
	r, err := s.Lead(ctx, "old1")
	if err != nil || r.Version != 4 || r.FirstSeen.IsZero() || r.LastSeen.IsZero() {
		t.Fatalf("lead = %+v, %v", r, err)
	}
	if n, err := s.SweepLeads(ctx, time.Now().Add(time.Minute), 10); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v, want 1", n, err)
	}
	left, err := rdb.HGetAll(ctx, k.idx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left["key:leadsie:u1"] != "old1" {
		t.Fatalf("index after the sweep = %v, want only the mapping key, which no snapshot names", left)
	}
}
