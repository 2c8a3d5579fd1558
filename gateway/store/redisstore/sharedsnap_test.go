package redisstore_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"leadgate/gateway/lead"
	"leadgate/gateway/redistest"
	"leadgate/gateway/store"
)

// snapshots counts a prefix's shared snapshots (sn:SID).
func snapshots(t *testing.T, c *redis.Client, prefix string) int {
	t.Helper()
	keys, err := c.Keys(context.Background(), "lg:{"+prefix+"}:sn:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

// deliverAll leases and settles as delivered whatever crm has due at now.
func deliverAll(t *testing.T, s store.Store, now time.Time) {
	t.Helper()
	ds, err := s.Lease(context.Background(), "crm", now, 100, time.Minute)
	if err != nil {
		t.Fatalf("lease: %v", err)
	}
	outs := make([]store.Outcome, len(ds))
	for i, d := range ds {
		outs[i] = store.Outcome{Delivery: d, State: store.Delivered, Attempt: store.Attempt{At: now, Code: 200}}
	}
	if err := s.Settle(context.Background(), outs); err != nil {
		t.Fatalf("settle: %v", err)
	}
}

// TestSharedSnapshotLifetime: an Ingest stores its snapshot once, held by
// its lead and its events; it goes when the last of them lets go (the
// events swept, the lead written again or swept), so nothing is left of a
// lead once retention took its events and the lead.
func TestSharedSnapshotLifetime(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	s := open(t, srv.URL(), prefix)
	defer s.Close()
	ctx, c := context.Background(), srv.Client()
	at := time.Now().Truncate(time.Millisecond)
	first, err := s.Ingest(ctx, request(at, "life@b.c"))
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	steps := []struct {
		name string
		do   func() error
		want int
	}{
		{"after the first ingest", func() error { return nil }, 1},
		{"its events swept, the lead still holds it", func() error {
			deliverAll(t, s, at)
			_, err := s.SweepEvents(ctx, at.Add(time.Hour), 100)
			return err
		}, 1},
		{"the lead written again: the old one went", func() error {
			req := request(at.Add(time.Second), "life@b.c")
			req.Lead.FirstName = "Changed"
			res, err := s.Ingest(ctx, req)
			if err == nil && res.LeadID != first.LeadID {
				t.Errorf("second payload went to %s, want %s", res.LeadID, first.LeadID)
			}
			return err
		}, 1},
		{"events swept and lead swept: none left", func() error {
			deliverAll(t, s, at.Add(time.Second))
			if _, err := s.SweepEvents(ctx, at.Add(time.Hour), 100); err != nil {
				return err
			}
			_, err := s.SweepLeads(ctx, at.Add(time.Hour), 100)
			return err
		}, 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.do(); err != nil {
				t.Fatal(err)
			}
			if got := snapshots(t, c, prefix); got != st.want {
				t.Errorf("%d shared snapshots, want %d", got, st.want)
			}
		})
	}
	if n := c.Exists(ctx, "lg:{"+prefix+"}:lead:"+first.LeadID).Val(); n != 0 {
		t.Errorf("lead hash still there after SweepLeads")
	}
}

// writeOldLayout stores a lead and one queued event for crm as the layout
// before shared snapshots did: the snapshot in the lead's hash (s) and the
// whole event JSON, lead included, in the event's hash (_).
func writeOldLayout(t *testing.T, c *redis.Client, prefix string, at time.Time, l lead.Lead) lead.Event {
	t.Helper()
	ctx, p := context.Background(), "lg:{"+prefix+"}:"
	ev := lead.Event{ID: lead.NewEventID(), Event: lead.LeadCreated, Source: "website", LeadID: lead.NewLeadID(),
		LeadVersion: 1, ReceivedAt: at.UTC(), Lead: l}
	snap, _ := json.Marshal(l)
	body, _ := json.Marshal(ev)
	ms := strconv.FormatInt(at.UnixMilli(), 10)
	did := "dlv_" + ev.ID[len("evt_"):] + "_0"
	_, err := c.TxPipelined(ctx, func(pp redis.Pipeliner) error {
		pp.HSet(ctx, p+"lead:"+ev.LeadID, "s", snap, "v", 1, "f", ms, "k:email:"+l.Email, 1, "o:website", 1)
		pp.HSet(ctx, p+"idx", "email:"+l.Email, ev.LeadID)
		pp.ZAdd(ctx, p+"leads", redis.Z{Score: float64(at.UnixMilli()), Member: ev.LeadID})
		pp.HSet(ctx, p+"ev:"+ev.ID, "_", body, "q", ms, "0.d", "crm")
		pp.ZAdd(ctx, p+"q:crm", redis.Z{Score: float64(at.UnixMilli()), Member: did})
		pp.SAdd(ctx, p+"pending", "crm")
		return nil
	})
	if err != nil {
		t.Fatalf("write old layout: %v", err)
	}
	return ev
}

// TestOldLayoutRead: data written before snapshots were shared is leased,
// read, searched, written again, swept and its lead swept by this code,
// leaving nothing behind.
func TestOldLayoutRead(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	s := open(t, srv.URL(), prefix)
	defer s.Close()
	ctx, c := context.Background(), srv.Client()
	at := time.Now().Truncate(time.Millisecond)
	l := lead.Lead{Email: "old@b.c", FirstName: "Old", Score: 3}
	old := writeOldLayout(t, c, prefix, at, l)
	want, _ := json.Marshal(l)
	same := func(what string, got lead.Lead) {
		t.Helper()
		if b, _ := json.Marshal(got); string(b) != string(want) {
			t.Errorf("%s: lead %s, want %s", what, b, want)
		}
	}
	ds, err := s.Lease(ctx, "crm", at, 10, time.Minute)
	if err != nil || len(ds) != 1 || ds[0].EventID != old.ID {
		t.Fatalf("lease: %v, %v; want the old event", ds, err)
	}
	same("Lease", ds[0].Event.Lead)
	rec, err := s.Event(ctx, old.ID)
	if err != nil {
		t.Fatalf("event: %v", err)
	}
	same("Event", rec.Event.Lead)
	evs, _, err := s.Events(ctx, store.EventQuery{Email: "old@b.c"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("events: %d, %v", len(evs), err)
	}
	same("Events", evs[0].Lead)
	rl, err := s.Lead(ctx, old.LeadID)
	if err != nil || rl.Version != 1 {
		t.Fatalf("lead: %+v, %v", rl, err)
	}
	same("Lead", rl.Lead)
	if err := s.Settle(ctx, []store.Outcome{{Delivery: ds[0], State: store.Delivered, Attempt: store.Attempt{At: at, Code: 200}}}); err != nil {
		t.Fatalf("settle: %v", err)
	}
	req := request(at.Add(time.Second), "old@b.c")
	req.Lead = l
	req.Lead.Score = 4
	res, err := s.Ingest(ctx, req)
	if err != nil || res.LeadID != old.LeadID || res.Events[0].LeadVersion != 2 {
		t.Fatalf("ingest on the old lead: %+v, %v", res, err)
	}
	if got := c.HExists(ctx, "lg:{"+prefix+"}:lead:"+old.LeadID, "s").Val(); got {
		t.Errorf("the old lead kept its own snapshot after a write")
	}
	if rl, err := s.Lead(ctx, old.LeadID); err != nil || rl.Lead.Score != 4 || rl.Lead.FirstName != "Old" {
		t.Errorf("lead after the write: %+v, %v", rl.Lead, err)
	}
	deliverAll(t, s, at.Add(time.Second))
	if n, err := s.SweepEvents(ctx, at.Add(time.Hour), 100); err != nil || n != 1+len(res.Events) {
		t.Fatalf("sweep events: %d, %v; want %d", n, err, 1+len(res.Events))
	}
	if n, err := s.SweepLeads(ctx, at.Add(time.Hour), 100); err != nil || n != 1 {
		t.Fatalf("sweep leads: %d, %v", n, err)
	}
	for _, pat := range []string{"sn:*", "ev:*", "lead:*"} {
		if keys := c.Keys(ctx, "lg:{"+prefix+"}:"+pat).Val(); len(keys) != 0 {
			t.Errorf("left behind: %v", keys)
		}
	}
}
