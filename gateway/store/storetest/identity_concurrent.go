package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// testIdentityConcurrent: concurrent payloads of 60 people sharing 5
// phones, a quarter of them phone-only: every email stays one lead with
// that email, every lead has one lead.created at version 1, and no two
// lead.updated of a lead share a version.
func testIdentityConcurrent(t *testing.T, open Open) {
	s := &closer{Store: open(t)}
	t.Cleanup(func() { _ = s.Close() })
	all := postPeople(t, []store.Store{s})
	checkPeople(t, s, all)
}

// personResult is one concurrent payload's answer, and the email it
// carried ("" when phone-only).
type personResult struct {
	email string
	res   store.IngestResult
}

// postPeople posts testIdentityConcurrent's payloads concurrently, spread
// over stores, and answers each one's result.
func postPeople(t *testing.T, stores []store.Store) []personResult {
	t.Helper()
	salt := rand.IntN(1 << 30)
	const people, phones, rounds = 60, 5, 6
	at := base()
	var mu sync.Mutex
	var all []personResult
	var wg sync.WaitGroup
	for r := 0; r < rounds; r++ {
		for i := 0; i < people; i++ {
			wg.Add(1)
			go func(r, i int) {
				defer wg.Done()
				email := fmt.Sprintf("p%d-%d@x.com", i, salt)
				phone := fmt.Sprintf("+1%d%04d", salt, rand.IntN(phones))
				l := lead.Lead{Email: email, Phone: phone, Score: int64(r*100 + i + 1), HasScore: true}
				ids := []string{"email:" + email, "phone:" + phone}
				if rand.IntN(4) == 0 { // phone only
					l = lead.Lead{Phone: phone, Score: int64(r*1000 + i), HasScore: true}
					ids = []string{"phone:" + phone}
					email = ""
				}
				req := request(at.Add(time.Duration(r)*time.Millisecond), l, ids...)
				res, err := stores[(r+i)%len(stores)].Ingest(context.Background(), req)
				if err != nil {
					t.Errorf("ingest: %v", err)
					return
				}
				mu.Lock()
				all = append(all, personResult{email, res})
				mu.Unlock()
			}(r, i)
		}
	}
	wg.Wait()
	return all
}

// checkPeople checks testIdentityConcurrent's results against what s
// stored: one lead per email, one lead.created each, distinct versions.
func checkPeople(t *testing.T, s store.Store, all []personResult) {
	t.Helper()
	byEmail := map[string]string{}
	emailOf := map[string]string{}
	created := map[string]int{}
	versions := map[string]map[int64]string{}
	for _, g := range all {
		if g.email != "" {
			if id, ok := byEmail[g.email]; ok && id != g.res.LeadID {
				t.Errorf("email %s is two leads: %s and %s", g.email, id, g.res.LeadID)
			}
			byEmail[g.email] = g.res.LeadID
			if e, ok := emailOf[g.res.LeadID]; ok && e != g.email {
				t.Errorf("lead %s has two emails: %s and %s", g.res.LeadID, e, g.email)
			}
			emailOf[g.res.LeadID] = g.email
		}
		for _, ev := range g.res.Events {
			if ev.LeadID != g.res.LeadID {
				t.Errorf("event lead %s != result lead %s", ev.LeadID, g.res.LeadID)
			}
			if ev.Event == lead.LeadCreated {
				created[ev.LeadID]++
				if ev.LeadVersion != 1 {
					t.Errorf("lead.created with version %d", ev.LeadVersion)
				}
			}
			if ev.Event == lead.LeadUpdated {
				if versions[ev.LeadID] == nil {
					versions[ev.LeadID] = map[int64]string{}
				}
				if prev, ok := versions[ev.LeadID][ev.LeadVersion]; ok {
					t.Errorf("lead %s: two lead.updated with version %d (%s, %s)", ev.LeadID, ev.LeadVersion, prev, ev.ID)
				}
				versions[ev.LeadID][ev.LeadVersion] = ev.ID
			}
		}
	}
	seen := map[string]bool{}
	for _, g := range all {
		seen[g.res.LeadID] = true
	}
	for id := range seen {
		if created[id] != 1 {
			t.Errorf("lead %s: %d lead.created", id, created[id])
		}
		rec, err := s.Lead(context.Background(), id)
		if err != nil {
			t.Errorf("lead %s: %v", id, err)
			continue
		}
		if e := emailOf[id]; e != "" && rec.Lead.Email != e {
			t.Errorf("lead %s stored email %q, payload email %q", id, rec.Lead.Email, e)
		}
	}
	t.Logf("%d payloads, %d leads", len(all), len(seen))
}
