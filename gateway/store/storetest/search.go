package storetest

import (
	"context"
	"slices"
	"testing"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// events pages through Events to the end and returns the ids in order.
func events(t *testing.T, s store.Store, q store.EventQuery) []string {
	t.Helper()
	var ids []string
	for range 1000 {
		page, next, err := s.Events(context.Background(), q)
		if err != nil {
			t.Fatalf("events %+v: %v", q, err)
		}
		if q.Limit > 0 && len(page) > q.Limit {
			t.Fatalf("events %+v: %d items over the limit", q, len(page))
		}
		for _, ev := range page {
			ids = append(ids, ev.ID)
		}
		if next == "" {
			return ids
		}
		q.Cursor = next
	}
	t.Fatalf("events %+v: cursor never ended", q)
	return nil
}

// testEventsSearch: Events lists newest first, pages with a cursor, and
// narrows by event id, lead id, email and phone through the lead index.
func testEventsSearch(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	if got := events(t, s, store.EventQuery{}); len(got) != 0 {
		t.Fatalf("empty store lists %v", got)
	}
	john := ingest(t, s, request(at, lead.Lead{Email: "john@example.com", Phone: "+14155550100"},
		"email:john@example.com", "phone:+14155550100"))
	jane := ingest(t, s, request(at.Add(1), lead.Lead{Email: "jane@example.com"}, "email:jane@example.com"))
	john2 := ingest(t, s, request(at.Add(2), lead.Lead{Email: "john@example.com", Phone: "+14155550100", Score: 5},
		"email:john@example.com", "phone:+14155550100"))

	var all, johns []string
	for _, r := range []store.IngestResult{john, jane, john2} {
		for _, ev := range r.Events {
			all = append(all, ev.ID)
			if r.LeadID == john.LeadID {
				johns = append(johns, ev.ID)
			}
		}
	}
	slices.Reverse(all)
	slices.Reverse(johns)
	if len(johns) != 4 { // lead.created, then updated, score_changed, field_updated
		t.Fatalf("john has %d events, want 4", len(johns))
	}

	tests := []struct {
		name string
		q    store.EventQuery
		want []string
	}{
		{"all newest first", store.EventQuery{}, all},
		{"all in pages of two", store.EventQuery{Limit: 2}, all},
		{"by lead id", store.EventQuery{LeadID: john.LeadID}, johns},
		{"by lead id in pages of one", store.EventQuery{LeadID: john.LeadID, Limit: 1}, johns},
		{"by email", store.EventQuery{Email: "jane@example.com"}, []string{jane.Events[0].ID}},
		{"by phone", store.EventQuery{Phone: "+14155550100"}, johns},
		{"by email and its lead id", store.EventQuery{Email: "john@example.com", LeadID: john.LeadID}, johns},
		{"email and another lead", store.EventQuery{Email: "john@example.com", LeadID: jane.LeadID}, nil},
		{"unknown email", store.EventQuery{Email: "nobody@example.com"}, nil},
		{"unknown lead", store.EventQuery{LeadID: "000000000000000000000000"}, nil},
		{"by event id", store.EventQuery{EventID: jane.Events[0].ID}, []string{jane.Events[0].ID}},
		{"event id of another lead", store.EventQuery{EventID: jane.Events[0].ID, LeadID: john.LeadID}, nil},
		{"unknown event id", store.EventQuery{EventID: "evt_00000000000000000000000000000000"}, nil},
		{"older than a cursor", store.EventQuery{Cursor: all[1]}, all[2:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := events(t, s, tt.q)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("events = %v\nwant %v", got, tt.want)
			}
		})
	}

	t.Run("body as stored", func(t *testing.T) {
		page, _, err := s.Events(context.Background(), store.EventQuery{EventID: jane.Events[0].ID})
		if err != nil || len(page) != 1 {
			t.Fatalf("events = %v, %v", page, err)
		}
		sameEvent(t, page[0], jane.Events[0])
	})
}
