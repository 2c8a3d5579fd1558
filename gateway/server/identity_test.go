package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"leadgate/gateway/deliver"
	"leadgate/gateway/lead"
	"leadgate/gateway/redistest"
	"leadgate/gateway/store"
	"leadgate/gateway/store/redisstore"
)

// TestTwoPeopleOnePhone is issue 11's bug through the inbound route: two
// form posts with different emails and one office phone are two leads,
// each with lead.created at lead_version 1, and the first person's email
// is never replaced. It runs on both backends.
func TestTwoPeopleOnePhone(t *testing.T) {
	backends := map[string]func(*testing.T) store.Store{
		"bolt": func(*testing.T) store.Store { return nil },
		"redis": func(t *testing.T) store.Store {
			srv := redistest.Start(t)
			st := redisstore.New(redis.NewClient(&redis.Options{Addr: srv.Addr()}), redisstore.Options{Prefix: "phone"})
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
	for name, backend := range backends {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			if st := backend(t); st != nil {
				h = newHarness(t, func(o *Options, _ *Runtime) { o.Store = st })
				h.store = st
			}
			const form = "application/x-www-form-urlencoded"
			a := h.post(t, "/hooks/website", form, "name=Ann+Able&email=ann@example.com&phone=%2B14155550100")
			b := h.post(t, "/hooks/website", form, "name=Bob+Best&email=bob@example.com&phone=%2B14155550100")
			if a.code != http.StatusOK || b.code != http.StatusOK {
				t.Fatalf("answers %d %s, %d %s", a.code, a.raw, b.code, b.raw)
			}
			if a.body["lead_id"] == b.body["lead_id"] {
				t.Fatalf("two people got one lead_id %v", a.body["lead_id"])
			}
			var created []lead.Event
			for _, d := range h.pending(t, "crm") {
				switch d.Event.Event {
				case lead.LeadCreated:
					created = append(created, d.Event)
				case lead.LeadUpdated:
					t.Fatalf("lead.updated %s: one person's post updated another's lead", d.Event.LeadID)
				}
			}
			if len(created) != 2 || created[0].Lead.Email != "ann@example.com" || created[1].Lead.Email != "bob@example.com" {
				t.Fatalf("lead.created events = %+v, want Ann's then Bob's", created)
			}
			for _, ev := range created {
				if ev.Lead.Phone != "+14155550100" {
					t.Fatalf("lead %+v lacks the shared phone, so the test shows nothing", ev.Lead)
				}
				if ev.LeadVersion != 1 {
					t.Fatalf("lead.created of %s at lead_version %d, want 1", ev.Lead.Email, ev.LeadVersion)
				}
				body, err := deliver.Render(&deliver.Destination{Format: deliver.FormatCanonical}, &ev)
				if err != nil {
					t.Fatal(err)
				}
				if want := `"lead_id":"` + ev.LeadID + `","lead_version":1,`; !strings.Contains(string(body), want) {
					t.Fatalf("canonical body %s lacks %s", body, want)
				}
			}
			// Ann posts again: her lead, her email.
			again := h.post(t, "/hooks/website", form, "name=Ann+Able&email=ann@example.com&phone=%2B14155550100&budget=9")
			if again.body["lead_id"] != a.body["lead_id"] {
				t.Fatalf("Ann again = %v, want %v", again.body["lead_id"], a.body["lead_id"])
			}
			for _, d := range h.pending(t, "crm") {
				if d.Event.LeadID == a.body["lead_id"] && d.Event.Lead.Email != "ann@example.com" {
					t.Fatalf("Ann's lead now has email %q", d.Event.Lead.Email)
				}
			}
		})
	}
}
