package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

func testDepth(t *testing.T, open Open) {
	s := openStore(t, open)
	now := base()
	want := map[string]int64{"due": 0, "scheduled": 0, "in_flight": 0, "dead": 0}
	check := func(step string) {
		t.Helper()
		got := depth(t, s)
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				t.Fatalf("%s: depth = %v, want %v", step, got, want)
			}
		}
	}
	check("empty")
	for i := range 4 {
		email := fmt.Sprintf("dp%d@b.c", i)
		ingest(t, s, request(now.Add(-time.Minute), lead.Lead{Email: email}, "email:"+email))
	}
	want["due"] = 4
	check("ingested")
	ds := lease(t, s, "crm", now, 3, time.Hour)
	want["due"], want["in_flight"] = 1, 3
	check("leased")
	settle(t, s,
		store.Outcome{Delivery: ds[0], Attempt: attemptAt(now, 500, "e"), State: store.Retrying, RetryAt: now.Add(time.Hour)},
		store.Outcome{Delivery: ds[1], Attempt: attemptAt(now, 410, "e"), State: store.Dead},
		store.Outcome{Delivery: ds[2], Attempt: attemptAt(now, 200, ""), State: store.Delivered},
	)
	want["scheduled"], want["in_flight"], want["dead"] = 1, 0, 1
	check("settled")
}

func testPending(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	pending := func() []string {
		t.Helper()
		got, err := s.Pending(context.Background())
		if err != nil {
			t.Fatalf("pending: %v", err)
		}
		slices.Sort(got)
		return got
	}
	if got := pending(); len(got) != 0 {
		t.Fatalf("pending = %v, want none", got)
	}
	req := request(at, lead.Lead{Email: "p@b.c"}, "email:p@b.c")
	req.Route = routeTo("old", "new")
	ingest(t, s, req)
	if got := pending(); !slices.Equal(got, []string{"new", "old"}) {
		t.Fatalf("pending = %v, want [new old]", got)
	}
	ds := lease(t, s, "old", at, 1, time.Minute)
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(at, 500, "e"), State: store.Retrying, RetryAt: at.Add(time.Hour)})
	if got := pending(); !slices.Equal(got, []string{"new", "old"}) {
		t.Fatalf("pending = %v, want a scheduled retry to count", got)
	}
	ds = lease(t, s, "old", at.Add(time.Hour), 1, time.Minute)
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(at, 200, ""), State: store.Delivered})
	if got := pending(); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("pending = %v, want [new]", got)
	}
}

func testSubscriptions(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := context.Background()
	version := func() int64 {
		t.Helper()
		v, err := s.SubscriptionsVersion(ctx)
		if err != nil {
			t.Fatalf("version: %v", err)
		}
		return v
	}
	list := func() string {
		t.Helper()
		subs, err := s.Subscriptions(ctx)
		if err != nil {
			t.Fatalf("subscriptions: %v", err)
		}
		out := ""
		for _, sub := range subs {
			out += sub.ID + "=" + string(sub.Body) + ";"
		}
		return out
	}
	seen := map[int64]bool{version(): true}
	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"put b", func() error { return s.PutSubscription(ctx, store.Subscription{ID: "b", Body: []byte(`{"n":1}`)}, 2) }, `b={"n":1};`},
		{"put a", func() error { return s.PutSubscription(ctx, store.Subscription{ID: "a", Body: []byte(`{"n":2}`)}, 2) }, `a={"n":2};b={"n":1};`},
		{"replace b at the cap", func() error { return s.PutSubscription(ctx, store.Subscription{ID: "b", Body: []byte(`{"n":3}`)}, 2) }, `a={"n":2};b={"n":3};`},
		{"delete a", func() error { return s.DeleteSubscription(ctx, "a") }, `b={"n":3};`},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := list(); got != st.want {
			t.Fatalf("%s: list = %s, want %s", st.name, got, st.want)
		}
		v := version()
		if seen[v] {
			t.Fatalf("%s: version %d did not change", st.name, v)
		}
		seen[v] = true
	}
	v := version()
	if err := s.DeleteSubscription(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete missing: %v, want ErrNotFound", err)
	}
	if version() != v {
		t.Fatalf("a failed delete changed the version")
	}
}

func testPersistence(t *testing.T, open Open) {
	ctx := context.Background()
	at := base()
	s := &closer{Store: open(t)}
	t.Cleanup(func() { _ = s.Close() })

	req := request(at, lead.Lead{Email: "keep@b.c", Phone: "+1999", FirstName: "Kim", Fields: map[string]any{"budget": int64(5000)}}, "email:keep@b.c", "phone:+1999")
	req.Route = routeTo("deliver", "retry", "dead", "leased")
	req.DedupeKey, req.DedupeTTL = "persist", time.Hour
	res := ingest(t, s, req)
	evID := res.Events[0].ID
	dl := lease(t, s, "dead", at, 1, time.Minute)
	rt := lease(t, s, "retry", at, 1, time.Minute)
	lease(t, s, "leased", at, 1, time.Minute)
	settle(t, s,
		store.Outcome{Delivery: dl[0], Attempt: attemptAt(at, 410, "HTTP 410"), State: store.Dead},
		store.Outcome{Delivery: rt[0], Attempt: attemptAt(at, 503, "HTTP 503"), State: store.Retrying, RetryAt: at.Add(time.Minute)},
	)
	if err := s.PutSubscription(ctx, store.Subscription{ID: "sub", Body: []byte(`{"x":1}`)}, 0); err != nil {
		t.Fatalf("put subscription: %v", err)
	}
	version, err := s.SubscriptionsVersion(ctx)
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	r := openStore(t, open)
	rec, err := r.Event(ctx, evID)
	if err != nil {
		t.Fatalf("event after reopen: %v", err)
	}
	sameEvent(t, rec.Event, res.Events[0])
	if len(rec.Deliveries) != 4 {
		t.Fatalf("deliveries after reopen = %+v", rec.Deliveries)
	}
	if dls := deadLetters(t, r, ""); len(dls) != 1 || dls[0].ID != dl[0].ID {
		t.Fatalf("dead letters after reopen = %+v", dls)
	}
	later := at.Add(2 * time.Minute) // past the retry and the old lease
	for _, dest := range []string{"deliver", "retry", "leased"} {
		ds := lease(t, r, dest, later, 10, time.Minute)
		if len(ds) != 1 || ds[0].EventID != evID {
			t.Fatalf("%s after reopen leased %+v, want the event", dest, ds)
		}
		sameEvent(t, ds[0].Event, res.Events[0])
	}
	if got, err := r.SubscriptionsVersion(ctx); err != nil || got != version {
		t.Fatalf("version after reopen = %d, %v; want %d", got, err, version)
	}
	if subs, err := r.Subscriptions(ctx); err != nil || len(subs) != 1 || string(subs[0].Body) != `{"x":1}` {
		t.Fatalf("subscriptions after reopen = %+v, %v", subs, err)
	}
	dup := ingest(t, r, req)
	if !dup.Duplicate || dup.LeadID != res.LeadID {
		t.Fatalf("dedupe after reopen = %+v, want a duplicate of %s", dup, res.LeadID)
	}
	again := ingest(t, r, request(at.Add(time.Second), lead.Lead{Phone: "+1999", LastName: "Lee", Fields: map[string]any{"budget": int64(5000)}}, "phone:+1999"))
	if again.LeadID != res.LeadID {
		t.Fatalf("lead index lost: %s, want %s", again.LeadID, res.LeadID)
	}
	if len(again.Events) == 0 || !slices.Equal(again.Events[0].Changed, []string{"last_name", "full_name"}) {
		t.Fatalf("events after reopen = %+v, want changes against the stored lead", again.Events)
	}
	if l := again.Events[0].Lead; l.FullName != "Kim Lee" || l.Email != "keep@b.c" {
		t.Fatalf("merged lead after reopen = %+v", l)
	}
}

func testPing(t *testing.T, open Open) {
	s := openStore(t, open)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

// testDisabled: a 410's disabled mark is kept per destination with its
// config fingerprint, replaced by a newer one, cleared by "", and survives a
// restart (the next start and every replica keep the destination disabled).
func testDisabled(t *testing.T, open Open) {
	ctx := context.Background()
	s := &closer{Store: open(t)}
	t.Cleanup(func() { _ = s.Close() })
	get := func(st store.Store) map[string]string {
		t.Helper()
		m, err := st.Disabled(ctx)
		if err != nil {
			t.Fatalf("disabled: %v", err)
		}
		return m
	}
	if m := get(s); len(m) != 0 {
		t.Fatalf("a new store has disabled destinations: %v", m)
	}
	for _, set := range [][2]string{{"crm", "fp1"}, {"slack", "fp2"}, {"crm", "fp3"}, {"gone", "fp4"}, {"gone", ""}} {
		if err := s.SetDisabled(ctx, set[0], set[1]); err != nil {
			t.Fatalf("set disabled %v: %v", set, err)
		}
	}
	want := map[string]string{"crm": "fp3", "slack": "fp2"}
	if m := get(s); !maps.Equal(m, want) {
		t.Fatalf("disabled = %v, want %v", m, want)
	}
	if err := s.SetDisabled(ctx, "never", ""); err != nil {
		t.Fatalf("clearing a destination that was not disabled: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	again := &closer{Store: open(t)}
	t.Cleanup(func() { _ = again.Close() })
	if m := get(again); !maps.Equal(m, want) {
		t.Fatalf("after a restart disabled = %v, want %v", m, want)
	}
}
