package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

// identityCases are the identity rule of contract section 4, lead_version
// and the lead index's retention; Run runs them with the others.
var identityCases = []struct {
	name string
	run  func(t *testing.T, open Open)
}{
	{"NewEmailKnownPhoneIsNewLead", testNewEmailKnownPhone},
	{"EmailJoinsPhoneOnlyLead", testEmailJoinsPhoneOnly},
	{"KnownEmailNeverReplacedThroughKey", testKnownEmailNeverReplaced},
	{"KeyOnlyIdentity", testKeyOnlyIdentity},
	{"NumberIdentities", testNumberIdentities},
	{"LeadVersion", testLeadVersion},
	{"LeadRecord", testLeadRecord},
	{"SweepLeads", testSweepLeads},
}

func leadRecord(t *testing.T, s store.Store, id string) store.LeadRecord {
	t.Helper()
	r, err := s.Lead(context.Background(), id)
	if err != nil {
		t.Fatalf("lead %s: %v", id, err)
	}
	return r
}

func created(res store.IngestResult) bool {
	return slices.Contains(eventNames(res.Events), lead.LeadCreated)
}

// testNewEmailKnownPhone is issue 11's bug: two people with different
// emails and one office phone are two leads; the phone then names the one
// most recently seen with it, and the first person's email stays.
func testNewEmailKnownPhone(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	a := ingest(t, s, request(at, lead.Lead{Email: "a@x.com", Phone: "+1555", FirstName: "Ann"}, "email:a@x.com", "phone:+1555"))
	b := ingest(t, s, request(at.Add(time.Second), lead.Lead{Email: "b@x.com", Phone: "+1555", FirstName: "Bob"}, "email:b@x.com", "phone:+1555"))
	if a.LeadID == b.LeadID {
		t.Fatalf("two emails share lead %s", a.LeadID)
	}
	if !created(a) || !created(b) {
		t.Fatalf("events = %v and %v, want lead.created for each person", eventNames(a.Events), eventNames(b.Events))
	}
	if b.Events[0].Lead.Email != "b@x.com" || b.Events[0].Lead.FirstName != "Bob" {
		t.Fatalf("second person's lead = %+v", b.Events[0].Lead)
	}
	p := ingest(t, s, request(at.Add(2*time.Second), lead.Lead{Phone: "+1555", Score: 7}, "phone:+1555"))
	if p.LeadID != b.LeadID {
		t.Fatalf("phone-only payload went to %s, want the lead most recently seen with the phone %s", p.LeadID, b.LeadID)
	}
	// The first person again, by email: still the first lead, email intact.
	again := ingest(t, s, request(at.Add(3*time.Second), lead.Lead{Email: "a@x.com", Phone: "+1555"}, "email:a@x.com", "phone:+1555"))
	if again.LeadID != a.LeadID || created(again) {
		t.Fatalf("first person again = %s %v, want %s without lead.created", again.LeadID, eventNames(again.Events), a.LeadID)
	}
	if r := leadRecord(t, s, a.LeadID); r.Lead.Email != "a@x.com" || r.Lead.FirstName != "Ann" || r.Lead.Score != 0 {
		t.Fatalf("first lead = %+v, want Ann's, untouched by the other person", r.Lead)
	}
	if r := leadRecord(t, s, b.LeadID); r.Lead.Email != "b@x.com" || r.Lead.Score != 7 {
		t.Fatalf("second lead = %+v, want Bob's with the phone-only score", r.Lead)
	}
	// Now the phone names the first person again.
	if p := ingest(t, s, request(at.Add(4*time.Second), lead.Lead{Phone: "+1555"}, "phone:+1555")); p.LeadID != a.LeadID {
		t.Fatalf("phone-only payload went to %s, want %s (seen last)", p.LeadID, a.LeadID)
	}
}

// testEmailJoinsPhoneOnly: an email is added to a lead that has only a
// phone; once it has one, another email is another person.
func testEmailJoinsPhoneOnly(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	p := ingest(t, s, request(at, lead.Lead{Phone: "+1666", FirstName: "Pat"}, "phone:+1666"))
	j := ingest(t, s, request(at.Add(time.Second), lead.Lead{Email: "pat@x.com", Phone: "+1666"}, "email:pat@x.com", "phone:+1666"))
	if j.LeadID != p.LeadID || created(j) {
		t.Fatalf("email with a known phone = %s %v, want to join %s", j.LeadID, eventNames(j.Events), p.LeadID)
	}
	if got := eventNames(j.Events); !slices.Contains(got, lead.LeadUpdated) || !slices.Contains(j.Events[0].Changed, "email") {
		t.Fatalf("events = %v changed %v, want lead.updated naming email", got, j.Events[0].Changed)
	}
	if e := ingest(t, s, request(at.Add(2*time.Second), lead.Lead{Email: "pat@x.com"}, "email:pat@x.com")); e.LeadID != p.LeadID {
		t.Fatalf("the added email names %s, want %s", e.LeadID, p.LeadID)
	}
	o := ingest(t, s, request(at.Add(3*time.Second), lead.Lead{Email: "other@x.com", Phone: "+1666"}, "email:other@x.com", "phone:+1666"))
	if o.LeadID == p.LeadID || !created(o) {
		t.Fatalf("another email with the phone = %s %v, want a new lead", o.LeadID, eventNames(o.Events))
	}
	if r := leadRecord(t, s, p.LeadID); r.Lead.Email != "pat@x.com" || r.Lead.FirstName != "Pat" {
		t.Fatalf("joined lead = %+v", r.Lead)
	}
}

// testKnownEmailNeverReplaced: a mapping's key does not carry a payload
// with another email into a lead that has one.
func testKnownEmailNeverReplaced(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	a := ingest(t, s, request(at, lead.Lead{Email: "a@x.com", User: "u1"}, "email:a@x.com", "key:leadsie:u1"))
	b := ingest(t, s, request(at.Add(time.Second), lead.Lead{Email: "b@x.com", User: "u1"}, "email:b@x.com", "key:leadsie:u1"))
	if a.LeadID == b.LeadID || !created(b) {
		t.Fatalf("new email with a known key = %s %v, want a new lead", b.LeadID, eventNames(b.Events))
	}
	if r := leadRecord(t, s, a.LeadID); r.Lead.Email != "a@x.com" {
		t.Fatalf("first lead's email = %q, want a@x.com", r.Lead.Email)
	}
	if k := ingest(t, s, request(at.Add(2*time.Second), lead.Lead{User: "u1"}, "key:leadsie:u1")); k.LeadID != b.LeadID {
		t.Fatalf("key-only payload went to %s, want the lead seen last with it %s", k.LeadID, b.LeadID)
	}
}

// testKeyOnlyIdentity: a mapping's key alone names a lead; a phone seen
// with it later names the same lead.
func testKeyOnlyIdentity(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	k := ingest(t, s, request(at, lead.Lead{User: "u9"}, "key:leadsie:u9"))
	if !created(k) {
		t.Fatalf("events = %v, want lead.created", eventNames(k.Events))
	}
	same := ingest(t, s, request(at.Add(time.Second), lead.Lead{User: "u9", Phone: "+1777"}, "phone:+1777", "key:leadsie:u9"))
	if same.LeadID != k.LeadID || created(same) {
		t.Fatalf("key and new phone = %s %v, want %s", same.LeadID, eventNames(same.Events), k.LeadID)
	}
	if p := ingest(t, s, request(at.Add(2*time.Second), lead.Lead{Phone: "+1777"}, "phone:+1777")); p.LeadID != k.LeadID {
		t.Fatalf("phone-only = %s, want %s", p.LeadID, k.LeadID)
	}
	// An email joins the key's lead, which has none yet.
	if e := ingest(t, s, request(at.Add(3*time.Second), lead.Lead{Email: "k@x.com", User: "u9"}, "email:k@x.com", "key:leadsie:u9")); e.LeadID != k.LeadID {
		t.Fatalf("email with the key = %s, want to join %s", e.LeadID, k.LeadID)
	}
	if o := ingest(t, s, request(at, lead.Lead{User: "u10"}, "key:leadsie:u10")); o.LeadID == k.LeadID {
		t.Fatalf("another key named the same lead")
	}
}

// testNumberIdentities: identities made of numbers' text (a 20-digit id,
// a decimal) name one lead each, and the numbers survive the store as they
// were written, so a repeat is no change.
func testNumberIdentities(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	for i, v := range []json.Number{"12345678901234567890", "5000.50"} {
		l := lead.Lead{Fields: map[string]any{"id": v}}
		key := "key:website:" + string(v)
		first := ingest(t, s, request(at.Add(time.Duration(i)*time.Second), l, key))
		again := ingest(t, s, request(at.Add(time.Minute), l, key))
		if !created(first) || again.LeadID != first.LeadID || len(again.Events) != 0 {
			t.Fatalf("%s: %s %v then %s %v, want one lead and no change", v, first.LeadID, eventNames(first.Events), again.LeadID, eventNames(again.Events))
		}
		if got := mustJSON(t, leadRecord(t, s, first.LeadID).Lead.Fields); !strings.Contains(got, `"id":`+string(v)) {
			t.Fatalf("%s: stored fields %s, want the number as written", v, got)
		}
	}
	a := ingest(t, s, request(at, lead.Lead{}, "key:website:5000.5"))
	if !created(a) {
		t.Fatalf("5000.5 and 5000.50 are different texts, want another lead")
	}
}

// testLeadVersion: lead_version is 1 for a new lead and one more per
// stored change; a payload that changes nothing and a duplicate keep it.
func testLeadVersion(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	key := "email:v@x.com"
	step := func(i int, l lead.Lead, dedupe string) store.IngestResult {
		req := request(at.Add(time.Duration(i)*time.Second), l, key)
		req.Emits = form
		req.DedupeKey, req.DedupeTTL = dedupe, time.Hour
		return ingest(t, s, req)
	}
	steps := []struct {
		l       lead.Lead
		dedupe  string
		version int64
	}{
		{lead.Lead{Email: "v@x.com", Score: 1}, "d1", 1},
		{lead.Lead{Email: "v@x.com", Score: 2}, "d2", 2},
		{lead.Lead{Email: "v@x.com", Score: 2}, "d3", 2}, // no change: form.submitted only
		{lead.Lead{Email: "v@x.com", Score: 2}, "d2", 0}, // a duplicate: nothing
		{lead.Lead{Email: "v@x.com", FirstName: "Vi"}, "d4", 3},
	}
	var id string
	for i, st := range steps {
		res := step(i, st.l, st.dedupe)
		if st.version == 0 {
			if !res.Duplicate || len(res.Events) != 0 {
				t.Fatalf("step %d: %+v, want a duplicate", i, res)
			}
			continue
		}
		if len(res.Events) == 0 {
			t.Fatalf("step %d: no events", i)
		}
		for _, ev := range res.Events {
			if ev.LeadVersion != st.version {
				t.Fatalf("step %d: %s lead_version = %d, want %d", i, ev.Event, ev.LeadVersion, st.version)
			}
		}
		id = res.LeadID
	}
	if r := leadRecord(t, s, id); r.Version != 3 {
		t.Fatalf("stored version = %d, want 3", r.Version)
	}
	// The stored events carry it too, as deliveries hand them out.
	var got []int64
	for _, d := range lease(t, s, "crm", at.Add(time.Hour), 100, time.Minute) {
		if d.Event.Event != lead.FormSubmitted {
			got = append(got, d.Event.LeadVersion)
		}
	}
	if !slices.Equal(got, []int64{1, 2, 2, 2, 3, 3}) {
		t.Fatalf("leased lead.* versions = %v, want [1 2 2 2 3 3]", got)
	}
}

// testLeadRecord: the record keeps first and last seen and the keys, and
// it and the lead count survive a restart.
func testLeadRecord(t *testing.T, open Open) {
	first := &closer{Store: open(t)}
	t.Cleanup(func() { _ = first.Close() })
	at := base()
	ingest(t, first, request(at, lead.Lead{Email: "other@x.com"}, "email:other@x.com"))
	if err := first.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s := openStore(t, open)
	r0 := ingest(t, s, request(at, lead.Lead{Email: "r@x.com"}, "email:r@x.com"))
	ingest(t, s, request(at.Add(time.Hour), lead.Lead{Email: "r@x.com", Phone: "+1888"}, "email:r@x.com", "phone:+1888"))
	// An older payload arriving late does not move last seen back.
	ingest(t, s, request(at.Add(time.Minute), lead.Lead{Email: "r@x.com"}, "email:r@x.com"))
	r := leadRecord(t, s, r0.LeadID)
	if !r.FirstSeen.Equal(at) || !r.LastSeen.Equal(at.Add(time.Hour)) {
		t.Fatalf("first/last seen = %v %v, want %v %v", r.FirstSeen, r.LastSeen, at, at.Add(time.Hour))
	}
	slices.Sort(r.Keys)
	if !slices.Equal(r.Keys, []string{"email:r@x.com", "phone:+1888"}) {
		t.Fatalf("keys = %v", r.Keys)
	}
	if _, err := s.Lead(context.Background(), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown lead: %v, want ErrNotFound", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	again := openStore(t, open)
	if got := leadRecord(t, again, r0.LeadID); got.Version != r.Version || !got.LastSeen.Equal(r.LastSeen) || got.Lead.Phone != "+1888" {
		t.Fatalf("after a restart = %+v, want %+v", got, r)
	}
	if n, err := again.LeadCount(context.Background()); err != nil || n != 2 {
		t.Fatalf("lead count after a restart = %d, %v, want 2", n, err)
	}
}

// testSweepLeads: a lead not seen since the cutoff leaves the index and a
// later payload of that person is a new lead; a recent one stays; a pass
// removes at most max; a key that moved to another lead stays with it.
func testSweepLeads(t *testing.T, open Open) {
	ctx := context.Background()
	s := openStore(t, open)
	at := base()
	var old []store.IngestResult
	for i, e := range []string{"o1@x.com", "o2@x.com", "o3@x.com"} {
		old = append(old, ingest(t, s, request(at.Add(time.Duration(i)*time.Second), lead.Lead{Email: e, Phone: "+1999"}, "email:"+e, "phone:+1999")))
	}
	recent := ingest(t, s, request(at.Add(2*time.Hour), lead.Lead{Email: "new@x.com"}, "email:new@x.com"))
	count := func() int64 {
		n, err := s.LeadCount(ctx)
		if err != nil {
			t.Fatalf("lead count: %v", err)
		}
		return n
	}
	if n := count(); n != 4 {
		t.Fatalf("lead count = %d, want 4", n)
	}
	cutoff := at.Add(time.Hour)
	for _, want := range []int{2, 1, 0} {
		n, err := s.SweepLeads(ctx, cutoff, 2)
		if err != nil {
			t.Fatalf("sweep: %v", err)
		}
		if n != want {
			t.Fatalf("swept %d, want %d", n, want)
		}
	}
	if n := count(); n != 1 {
		t.Fatalf("lead count = %d, want 1", n)
	}
	for _, o := range old {
		if _, err := s.Lead(ctx, o.LeadID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("swept lead %s: %v, want ErrNotFound", o.LeadID, err)
		}
	}
	if r := leadRecord(t, s, recent.LeadID); r.Lead.Email != "new@x.com" {
		t.Fatalf("recent lead = %+v", r.Lead)
	}
	back := ingest(t, s, request(at.Add(3*time.Hour), lead.Lead{Email: "o1@x.com"}, "email:o1@x.com"))
	if back.LeadID == old[0].LeadID || !created(back) {
		t.Fatalf("swept person again = %s %v, want a new lead", back.LeadID, eventNames(back.Events))
	}
	if p := ingest(t, s, request(at.Add(3*time.Hour), lead.Lead{Phone: "+1999"}, "phone:+1999")); !created(p) {
		t.Fatalf("the swept phone still named a lead: %v", eventNames(p.Events))
	}
	if r := ingest(t, s, request(at.Add(3*time.Hour), lead.Lead{Email: "new@x.com"}, "email:new@x.com")); r.LeadID != recent.LeadID || created(r) {
		t.Fatalf("recent person = %s %v, want %s", r.LeadID, eventNames(r.Events), recent.LeadID)
	}

	// A phone that moved on to a lead still seen is not removed with the
	// old lead.
	a := ingest(t, s, request(at.Add(4*time.Hour), lead.Lead{Email: "ma@x.com", Phone: "+1444"}, "email:ma@x.com", "phone:+1444"))
	b := ingest(t, s, request(at.Add(6*time.Hour), lead.Lead{Email: "mb@x.com", Phone: "+1444"}, "email:mb@x.com", "phone:+1444"))
	// Swept: a and the three leads last seen at three hours.
	if n, err := s.SweepLeads(ctx, at.Add(5*time.Hour), 10); err != nil || n != 4 {
		t.Fatalf("sweep = %d, %v, want the 4 leads seen before the cutoff", n, err)
	}
	if _, err := s.Lead(ctx, a.LeadID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old lead: %v", err)
	}
	if p := ingest(t, s, request(at.Add(7*time.Hour), lead.Lead{Phone: "+1444"}, "phone:+1444")); p.LeadID != b.LeadID {
		t.Fatalf("phone = %s, want the lead it moved to %s", p.LeadID, b.LeadID)
	}
}
