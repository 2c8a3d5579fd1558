package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
	"leadgate/gateway/store/bolt"
)

// postJSON posts a JSON body to path and returns the answer.
func (p *proc) postJSON(t *testing.T, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// storedEvents reads every event of the embedded store in dir, oldest
// first, by lead id.
func storedEvents(t *testing.T, dir string) map[string][]lead.Event {
	t.Helper()
	st, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		t.Fatalf("open the gateway's store: %v", err)
	}
	defer st.Close()
	var all []lead.Event
	q := store.EventQuery{Limit: 200}
	for {
		page, next, err := st.Events(context.Background(), q)
		if err != nil {
			t.Fatalf("read events: %v", err)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		q.Cursor = next
	}
	slices.Reverse(all) // Events lists newest first
	byLead := map[string][]lead.Event{}
	for _, ev := range all {
		byLead[ev.LeadID] = append(byLead[ev.LeadID], ev)
	}
	return byLead
}

// TestSeedPayloadsStoreCanonicalEvents posts the seed payloads of the
// README's walk-through to the real gateway, kills it, and reads the
// stored canonical events back from its embedded store: the events, their
// changed lists and their leads are those of contract section 4.
func TestSeedPayloadsStoreCanonicalEvents(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t)
	_, sinkSrv := newSink(t, func() int { return http.StatusOK })
	g := start(t, writeConfig(t, dir, listen, sinkSrv.URL, ""), listen)

	accept := func(path, body string) string {
		t.Helper()
		code, answer := g.postJSON(t, path, body)
		if code != http.StatusOK {
			t.Fatalf("POST %s = %d %s, want 200", path, code, answer)
		}
		return leadID(t, answer)
	}

	// The Ledsak seed's example body, at Ledsak's own path; then again.
	const ledsak = `{"client": "example_client", "source": "website", "branch": "Main Branch",
	  "lead_details": [{"lead_field": "name", "lead_value": "John Doe"}, {"lead_field": "email", "lead_value": "JohnDoe@Example.com"}]}`
	website := accept("/api/webhook/website/webhook", ledsak)
	if again := accept("/api/webhook/website/webhook", ledsak); again != website {
		t.Errorf("the same payload again answered lead_id %s, want %s", again, website)
	}

	// save_lead: a new lead, a score change, and the score back to 0.
	saved := accept("/hooks/save_lead", `{"data": {"email": "jane@example.com", "company": "Acme", "first_name": "Jane",
	  "last_name": "Roe", "phone": "+14155550100", "website": "", "position": "CTO", "twitter": "", "linkedin": "", "notes": "", "score": 42}}`)
	if id := accept("/hooks/save_lead", `{"data": {"email": "jane@example.com", "score": "57"}}`); id != saved {
		t.Fatalf("score change went to lead %s, want %s", id, saved)
	}
	if id := accept("/hooks/save_lead", `{"data": {"email": "jane@example.com", "score": 0}}`); id != saved {
		t.Fatalf("score 0 went to lead %s, want %s", id, saved)
	}

	// Leadsie, partial success; ?customUserId= wins over the body's user.
	leadsie := accept("/hooks/leadsie?customUserId=user123456", `{"user": "someone-else",
	  "requestUrl": "https://app.leadsie.com/connect/acme", "requestName": "Acme onboarding", "accessLevel": "admin",
	  "status": "PARTIAL_SUCCESS", "connectionAssets": [
	    {"type": "Ad Account", "name": "Acme Ads", "id": "act_1", "isSuccess": true, "message": "", "time": "2026-11-22T10:00:00Z"},
	    {"type": "Ad Account", "name": "Acme Ads 2", "id": "act_2", "isSuccess": false, "message": "No access", "time": "2026-11-22T10:00:01Z"},
	    {"type": "Pixel", "name": "Acme Pixel", "id": "px_3", "isSuccess": false, "message": "Pixel not shared", "time": "2026-11-22T10:00:02Z"}]}`)

	// A value too long to be a store key is still a lead: its identity is
	// hashed, so the same value finds the same lead again.
	longEmail := strings.Repeat("a", 4994) + "@example.com"
	long1 := accept("/hooks/save_lead", `{"data": {"email": "`+longEmail+`", "score": 1}}`)
	if long2 := accept("/hooks/save_lead", `{"data": {"email": "`+longEmail+`", "score": 2}}`); long2 != long1 {
		t.Errorf("the same 5,006-character email went to leads %s and %s, want one", long1, long2)
	}

	g.kill() // kill -9: what was answered 200 is on disk
	byLead := storedEvents(t, filepath.Join(dir, "data"))

	type want struct {
		event   string
		changed []string
	}
	check := func(leadID string, wants []want, lead func(t *testing.T, l lead.Lead)) {
		t.Helper()
		evs := byLead[leadID]
		var got []string
		for _, ev := range evs {
			got = append(got, fmt.Sprintf("%s%v", ev.Event, ev.Changed))
		}
		var exp []string
		for _, w := range wants {
			exp = append(exp, fmt.Sprintf("%s%v", w.event, w.changed))
		}
		if strings.Join(got, " ") != strings.Join(exp, " ") {
			t.Fatalf("lead %s: stored events %v, want %v", leadID, got, exp)
		}
		ids := map[string]bool{}
		for _, ev := range evs {
			if !strings.HasPrefix(ev.ID, "evt_") || ids[ev.ID] || ev.ReceivedAt.IsZero() {
				t.Errorf("event %s: id %q (seen before: %v), received_at %v", ev.Event, ev.ID, ids[ev.ID], ev.ReceivedAt)
			}
			ids[ev.ID] = true
		}
		lead(t, evs[len(evs)-1].Lead)
	}

	check(website, []want{{lead.FormSubmitted, nil}, {lead.LeadCreated, nil}}, func(t *testing.T, l lead.Lead) {
		if l.Email != "johndoe@example.com" || l.FirstName != "John" || l.LastName != "Doe" || l.FullName != "John Doe" ||
			l.Client != "example_client" || l.Branch != "Main Branch" || l.Fields["source"] != "website" {
			t.Errorf("website lead = %+v", l)
		}
	})
	score := []string{"score"}
	check(saved, []want{
		{lead.LeadCreated, nil},
		{lead.LeadUpdated, score}, {lead.LeadScoreChanged, score}, {lead.LeadFieldUpdated, score},
		{lead.LeadUpdated, score}, {lead.LeadScoreChanged, score}, {lead.LeadFieldUpdated, score},
	}, func(t *testing.T, l lead.Lead) {
		if l.Email != "jane@example.com" || l.Company != "Acme" || l.FullName != "Jane Roe" || l.Phone != "+14155550100" || l.Score != 0 {
			t.Errorf("save_lead lead after the score went to 0 = %+v", l)
		}
	})
	if evs := byLead[saved]; len(evs) == 7 && (evs[1].Lead.Score != 57 || evs[0].Lead.Score != 42) {
		t.Errorf("scores stored: %d then %d, want 42 then 57", evs[0].Lead.Score, evs[1].Lead.Score)
	}
	check(leadsie, []want{{lead.ConnectionCreated, nil}}, func(t *testing.T, l lead.Lead) {
		if l.User != "user123456" || l.Status != "PARTIAL_SUCCESS" || len(l.Assets) != 3 || l.Assets[1].OK || l.Assets[1].Message != "No access" {
			t.Errorf("leadsie lead = %+v", l)
		}
		for k, v := range map[string]string{
			"ad_account_id": "act_1, act_2", "ad_account_name": "Acme Ads, Acme Ads 2", "ad_account_is_success": "true, false",
			"ad_account_message": "No access", "pixel_id": "px_3", "pixel_is_success": "false", "pixel_message": "Pixel not shared",
			"requestName": "Acme onboarding", "accessLevel": "admin",
		} {
			if got := l.Fields[k]; got != v {
				t.Errorf("leadsie fields[%s] = %v, want %q", k, got, v)
			}
		}
	})
	check(long1, []want{{lead.LeadCreated, nil}, {lead.LeadUpdated, []string{"score"}}, {lead.LeadScoreChanged, []string{"score"}}, {lead.LeadFieldUpdated, []string{"score"}}}, func(t *testing.T, l lead.Lead) {
		if l.Email != longEmail {
			t.Errorf("long email stored as %d bytes, want it whole (%d)", len(l.Email), len(longEmail))
		}
	})
	if len(byLead) != 4 {
		t.Errorf("events stored for %d leads, want 4: %v", len(byLead), slices.Collect(maps.Keys(byLead)))
	}
}
