package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// leads pages through Leads to the end and returns the records in order,
// failing on a page over the limit or a cursor that never ends.
func leads(t *testing.T, s store.Store, q store.LeadQuery) []store.LeadRecord {
	t.Helper()
	var out []store.LeadRecord
	for range 10_000 {
		page, next, err := s.Leads(context.Background(), q)
		if err != nil {
			t.Fatalf("leads %+v: %v", q, err)
		}
		limit := q.Limit
		if limit == 0 {
			limit = store.DefaultLeadPage
		}
		if len(page) > limit {
			t.Fatalf("leads %+v: %d items over the limit", q, len(page))
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		q.Cursor = next
	}
	t.Fatalf("leads %+v: cursor never ended", q)
	return nil
}

func leadIDs(rs []store.LeadRecord) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

// testLeadsExport: Leads lists the leads by last seen, then id, with each
// lead's version, first and last seen and the sources that touched it;
// narrows by the [Since, Until) window and by source.
func testLeadsExport(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	if got := leads(t, s, store.LeadQuery{}); len(got) != 0 {
		t.Fatalf("empty store lists %v", leadIDs(got))
	}

	sourced := func(req store.IngestRequest, source string) store.IngestRequest {
		req.Source = source
		return req
	}
	ann := ingest(t, s, request(at, lead.Lead{Email: "ann@example.com", FirstName: "Ann", Score: 1}, "email:ann@example.com"))
	bob := ingest(t, s, sourced(request(at.Add(time.Second), lead.Lead{Email: "bob@example.com"}, "email:bob@example.com"), "leadsie"))
	cy := ingest(t, s, request(at.Add(2*time.Second), lead.Lead{Phone: "+14155550100"}, "phone:+14155550100"))
	// Ann changes (version 2) through leadsie, then is seen unchanged
	// through save_lead: seen, not changed, so still version 2.
	ingest(t, s, sourced(request(at.Add(3*time.Second), lead.Lead{Email: "ann@example.com", FirstName: "Ann", Score: 7}, "email:ann@example.com"), "leadsie"))
	ingest(t, s, sourced(request(at.Add(4*time.Second), lead.Lead{Email: "ann@example.com", FirstName: "Ann", Score: 7}, "email:ann@example.com"), "save_lead"))

	all := leads(t, s, store.LeadQuery{})
	if want := []string{bob.LeadID, cy.LeadID, ann.LeadID}; !slices.Equal(leadIDs(all), want) {
		t.Fatalf("leads = %v, want bob, cy, ann %v (by last seen)", leadIDs(all), want)
	}
	a := all[2]
	if a.Version != 2 || !a.FirstSeen.Equal(at) || !a.LastSeen.Equal(at.Add(4*time.Second)) {
		t.Errorf("ann: version %d, first %v, last %v; want 2, %v, %v", a.Version, a.FirstSeen, a.LastSeen, at, at.Add(4*time.Second))
	}
	if a.Lead.Email != "ann@example.com" || a.Lead.FirstName != "Ann" || a.Lead.Score != 7 {
		t.Errorf("ann's lead = %+v, want the merged lead with score 7", a.Lead)
	}
	if want := []string{"leadsie", "save_lead", "website"}; !slices.Equal(a.Sources, want) {
		t.Errorf("ann's sources = %v, want %v (sorted)", a.Sources, want)
	}
	if b := all[0]; b.Version != 1 || !b.FirstSeen.Equal(b.LastSeen) || !b.LastSeen.Equal(at.Add(time.Second)) || !slices.Equal(b.Sources, []string{"leadsie"}) {
		t.Errorf("bob: version %d, first %v, last %v, sources %v; want 1, seen once at %v through leadsie",
			b.Version, b.FirstSeen, b.LastSeen, b.Sources, at.Add(time.Second))
	}

	tests := []struct {
		name string
		q    store.LeadQuery
		want []string
	}{
		{"since is inclusive", store.LeadQuery{Since: at.Add(2 * time.Second)}, []string{cy.LeadID, ann.LeadID}},
		{"until is exclusive", store.LeadQuery{Until: at.Add(2 * time.Second)}, []string{bob.LeadID}},
		{"window", store.LeadQuery{Since: at.Add(time.Second), Until: at.Add(4 * time.Second)}, []string{bob.LeadID, cy.LeadID}},
		{"last seen, not first seen", store.LeadQuery{Since: at.Add(4 * time.Second)}, []string{ann.LeadID}},
		{"a window before anything", store.LeadQuery{Until: at}, nil},
		{"a window after everything", store.LeadQuery{Since: at.Add(time.Hour)}, nil},
		{"source", store.LeadQuery{Source: "leadsie"}, []string{bob.LeadID, ann.LeadID}},
		{"source seen unchanged", store.LeadQuery{Source: "save_lead"}, []string{ann.LeadID}},
		{"source and window", store.LeadQuery{Source: "website", Until: at.Add(3 * time.Second)}, []string{cy.LeadID}},
		{"unknown source", store.LeadQuery{Source: "nobody"}, nil},
		{"small pages", store.LeadQuery{Limit: 1}, []string{bob.LeadID, cy.LeadID, ann.LeadID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := leadIDs(leads(t, s, tt.q)); !slices.Equal(got, tt.want) {
				t.Fatalf("leads %+v = %v, want %v", tt.q, got, tt.want)
			}
		})
	}

	for _, bad := range []string{"x", "not a cursor", "-", "!!!!!!!!!!!!"} {
		if _, _, err := s.Leads(context.Background(), store.LeadQuery{Cursor: bad}); !errors.Is(err, store.ErrBadCursor) || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("leads with cursor %q: %v, want ErrBadCursor", bad, err)
		}
	}
}

// testLeadsPaging: many leads, ten to each last-seen time so that pages
// end inside a run of equal times, come back once each, by last seen then
// id, over many pages, with and without a source filter.
func testLeadsPaging(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	const n = 230
	type want struct {
		last time.Time
		id   string
	}
	var every, website []want
	for i := range n {
		email := fmt.Sprintf("lead%03d@example.com", i)
		req := request(at.Add(time.Duration(i/10)*time.Millisecond), lead.Lead{Email: email}, "email:"+email)
		if i%3 == 0 {
			req.Source = "leadsie"
		}
		res := ingest(t, s, req)
		w := want{req.ReceivedAt, res.LeadID}
		every = append(every, w)
		if req.Source == "website" {
			website = append(website, w)
		}
	}
	order := func(a, b want) int {
		if c := a.last.Compare(b.last); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	}
	slices.SortFunc(every, order)
	slices.SortFunc(website, order)
	ids := func(ws []want) []string {
		out := make([]string, len(ws))
		for i, w := range ws {
			out[i] = w.id
		}
		return out
	}
	for _, tt := range []struct {
		name string
		q    store.LeadQuery
		want []string
	}{
		{"pages of 7", store.LeadQuery{Limit: 7}, ids(every)},
		{"default pages", store.LeadQuery{}, ids(every)},
		{"source, pages of 5", store.LeadQuery{Source: "website", Limit: 5}, ids(website)},
		{"window, pages of 4", store.LeadQuery{Since: at.Add(5 * time.Millisecond), Until: at.Add(9 * time.Millisecond), Limit: 4}, ids(every[50:90])},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := leads(t, s, tt.q)
			if !slices.Equal(leadIDs(got), tt.want) {
				t.Fatalf("leads %+v: %d ids, want %d\ngot  %v\nwant %v", tt.q, len(got), len(tt.want), leadIDs(got), tt.want)
			}
			for i, r := range got {
				if i > 0 && r.LastSeen.Before(got[i-1].LastSeen) {
					t.Fatalf("lead %d last seen %v before the one ahead of it %v", i, r.LastSeen, got[i-1].LastSeen)
				}
			}
		})
	}
}

// testLeadsSeenWhilePaging: a lead seen again between two pages leaves its
// old place and is listed at its new one; the leads after the cursor are
// listed once each, even when the cursor's own lead is the one that moved.
func testLeadsSeenWhilePaging(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	byID := map[string]store.IngestRequest{}
	var ids []string
	for i := range 5 {
		email := fmt.Sprintf("tie%d@example.com", i)
		req := request(at, lead.Lead{Email: email}, "email:"+email)
		id := ingest(t, s, req).LeadID
		byID[id] = req
		ids = append(ids, id)
	}
	slices.Sort(ids) // equal last seen: by id
	first, next, err := s.Leads(context.Background(), store.LeadQuery{Limit: 2})
	if err != nil || next == "" {
		t.Fatalf("first page: %v, next %q", err, next)
	}
	if got := leadIDs(first); !slices.Equal(got, ids[:2]) {
		t.Fatalf("first page = %v, want %v", got, ids[:2])
	}
	// The cursor's own lead is seen again, later.
	again := byID[ids[1]]
	again.ReceivedAt = at.Add(time.Second)
	ingest(t, s, again)
	rest := leads(t, s, store.LeadQuery{Limit: 2, Cursor: next})
	if got, want := leadIDs(rest), []string{ids[2], ids[3], ids[4], ids[1]}; !slices.Equal(got, want) {
		t.Fatalf("after the cursor = %v, want %v", got, want)
	}
	if !rest[3].LastSeen.Equal(again.ReceivedAt) {
		t.Fatalf("moved lead's last seen = %v, want %v", rest[3].LastSeen, again.ReceivedAt)
	}
}
