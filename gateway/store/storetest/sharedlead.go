package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// testSweepKeepsSiblingsLead: the events of one Ingest carry the same
// lead; when one of them is finished and swept, the others, still queued,
// are leased, read and searched with that lead, and the lead itself, later
// written again, is unchanged by the sweep. (A backend that stores the
// snapshot once per Ingest must keep it while any of its events lives.)
func testSweepKeepsSiblingsLead(t *testing.T, open Open) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	at := time.Now().Truncate(time.Millisecond)
	l := lead.Lead{Email: "sib@b.c", FirstName: "Sib", Score: 7}
	req := request(at, l, "email:sib@b.c")
	req.Emits = form
	req.Route = func(ev *lead.Event) []string {
		if ev.Event == lead.FormSubmitted {
			return []string{"a"}
		}
		return []string{"b"}
	}
	res := ingest(t, s, req)
	if len(res.Events) != 2 {
		t.Fatalf("ingest made %d events, want 2", len(res.Events))
	}
	want, _ := json.Marshal(res.Events[1].Lead)
	ds := lease(t, s, "a", at, 10, time.Minute)
	if len(ds) != 1 {
		t.Fatalf("leased %d from a, want 1", len(ds))
	}
	if err := s.Settle(ctx, []store.Outcome{{Delivery: ds[0], State: store.Delivered, Attempt: store.Attempt{At: at, Code: 200}}}); err != nil {
		t.Fatalf("settle: %v", err)
	}
	if n, err := s.SweepEvents(ctx, at.Add(time.Hour), 100); err != nil || n != 1 {
		t.Fatalf("sweep removed %d, %v; want 1", n, err)
	}
	sameLead := func(what string, got lead.Lead) {
		t.Helper()
		if b, _ := json.Marshal(got); string(b) != string(want) {
			t.Errorf("%s: lead %s, want %s", what, b, want)
		}
	}
	rec, err := s.Event(ctx, res.Events[1].ID)
	if err != nil {
		t.Fatalf("event: %v", err)
	}
	sameLead("Event", rec.Event.Lead)
	evs, _, err := s.Events(ctx, store.EventQuery{LeadID: res.LeadID})
	if err != nil || len(evs) != 1 {
		t.Fatalf("events: %d, %v; want 1", len(evs), err)
	}
	sameLead("Events", evs[0].Lead)
	ds = lease(t, s, "b", at, 10, time.Minute)
	if len(ds) != 1 {
		t.Fatalf("leased %d from b, want 1", len(ds))
	}
	sameLead("Lease", ds[0].Event.Lead)
	l.Score = 8
	again := ingest(t, s, request(at.Add(time.Second), l, "email:sib@b.c"))
	if again.LeadID != res.LeadID {
		t.Fatalf("second payload went to lead %s, want %s", again.LeadID, res.LeadID)
	}
	rec, err = s.Event(ctx, res.Events[1].ID)
	if err != nil {
		t.Fatalf("event after the lead changed: %v", err)
	}
	sameLead("Event after the lead changed", rec.Event.Lead)
	got, err := s.Lead(ctx, res.LeadID)
	if err != nil || got.Lead.Score != 8 || got.Version != 2 {
		t.Fatalf("lead: score %d, version %d, %v; want 8, 2", got.Lead.Score, got.Version, err)
	}
}
