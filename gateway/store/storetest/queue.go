package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/store"
)

func testLeaseDueAndOrder(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	var want []string
	for i := range 5 {
		email := fmt.Sprintf("o%d@b.c", i)
		res := ingest(t, s, request(at.Add(time.Duration(i)*time.Millisecond), lead.Lead{Email: email}, "email:"+email))
		want = append(want, res.Events[0].ID)
	}
	if ds := lease(t, s, "crm", at.Add(-time.Second), 10, time.Minute); len(ds) != 0 {
		t.Fatalf("leased %d before they were due", len(ds))
	}
	var got []string
	for _, n := range []int{2, 2, 1, 0} {
		ds := lease(t, s, "crm", at.Add(time.Second), 2, time.Minute)
		if len(ds) != n {
			t.Fatalf("leased %d, want %d", len(ds), n)
		}
		for _, d := range ds {
			got = append(got, d.EventID)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("lease order = %v, want oldest due first %v", got, want)
	}
}

func testLeaseHidesUntilExpiry(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	ingest(t, s, request(at, lead.Lead{Email: "l@b.c"}, "email:l@b.c"))
	first := lease(t, s, "crm", at, 10, 30*time.Second)
	if len(first) != 1 {
		t.Fatalf("leased %d, want 1", len(first))
	}
	if ds := lease(t, s, "crm", at.Add(29*time.Second), 10, 30*time.Second); len(ds) != 0 {
		t.Fatalf("leased %d while the lease holds, want 0", len(ds))
	}
	again := lease(t, s, "crm", at.Add(31*time.Second), 10, 30*time.Second)
	if len(again) != 1 || again[0].ID != first[0].ID || again[0].Attempts != 0 {
		t.Fatalf("after the lease ran out got %+v, want the same delivery with 0 attempts", again)
	}
	if ds := lease(t, s, "crm", at.Add(32*time.Second), 10, 30*time.Second); len(ds) != 0 {
		t.Fatalf("leased %d under the new lease, want 0", len(ds))
	}
}

func attemptAt(at time.Time, code int, msg string) store.Attempt {
	return store.Attempt{At: at, Code: code, DurationMS: 12, Error: msg}
}

func testSettleDelivered(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	res := ingest(t, s, request(at, lead.Lead{Email: "d@b.c"}, "email:d@b.c"))
	ds := lease(t, s, "crm", at, 10, time.Minute)
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(at, 200, ""), State: store.Delivered})
	if got := lease(t, s, "crm", at.Add(time.Hour), 10, time.Minute); len(got) != 0 {
		t.Fatalf("leased %d after delivery, want 0", len(got))
	}
	rec, err := s.Event(context.Background(), res.Events[0].ID)
	if err != nil {
		t.Fatalf("event: %v", err)
	}
	if len(rec.Deliveries) != 1 || rec.Deliveries[0].Status != "delivered" || len(rec.Deliveries[0].Attempts) != 1 {
		t.Fatalf("deliveries = %+v", rec.Deliveries)
	}
	if d := depth(t, s); d["due"]+d["scheduled"]+d["in_flight"]+d["dead"] != 0 {
		t.Fatalf("depth = %v, want all zero", d)
	}
}

func testSettleRetrying(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	ingest(t, s, request(at, lead.Lead{Email: "r@b.c"}, "email:r@b.c"))
	ds := lease(t, s, "crm", at, 10, 30*time.Second)
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(at, 503, "HTTP 503"), State: store.Retrying, RetryAt: at.Add(5 * time.Minute)})
	if got := lease(t, s, "crm", at.Add(time.Minute), 10, 30*time.Second); len(got) != 0 {
		t.Fatalf("leased %d before retry_at (and after the old lease), want 0", len(got))
	}
	got := lease(t, s, "crm", at.Add(5*time.Minute), 10, 30*time.Second)
	if len(got) != 1 || got[0].ID != ds[0].ID || got[0].Attempts != 1 || got[0].EventID != ds[0].EventID {
		t.Fatalf("at retry_at got %+v, want the delivery with 1 attempt", got)
	}
	settle(t, s, store.Outcome{Delivery: got[0], Attempt: attemptAt(at.Add(5*time.Minute), 500, "HTTP 500"), State: store.Retrying, RetryAt: at.Add(10 * time.Minute)})
	got = lease(t, s, "crm", at.Add(10*time.Minute), 10, 30*time.Second)
	if len(got) != 1 || got[0].Attempts != 2 {
		t.Fatalf("got %+v, want the delivery with 2 attempts", got)
	}
}

// testRetryLeasedOnce: a retry due at once, settled after its lease ran
// out, is leased again once and then held by that new lease like any
// other: a second Lease must not hand it out while it is in flight.
func testRetryLeasedOnce(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	ingest(t, s, request(at, lead.Lead{Email: "o@b.c"}, "email:o@b.c"))
	ds := lease(t, s, "crm", at, 10, 30*time.Second)
	if len(ds) != 1 {
		t.Fatalf("leased %d, want 1", len(ds))
	}
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(at.Add(40*time.Second), 503, "HTTP 503"), State: store.Retrying, RetryAt: at.Add(40 * time.Second)})
	now := at.Add(time.Minute)
	got := lease(t, s, "crm", now, 10, 30*time.Second)
	if len(got) != 1 || got[0].ID != ds[0].ID || got[0].Attempts != 1 {
		t.Fatalf("after the retry came due got %+v, want the delivery with 1 attempt", got)
	}
	for _, later := range []time.Duration{0, time.Second, 29 * time.Second} {
		if again := lease(t, s, "crm", now.Add(later), 10, 30*time.Second); len(again) != 0 {
			t.Fatalf("leased %d at +%v while the retry's lease holds, want 0", len(again), later)
		}
	}
	if again := lease(t, s, "crm", now.Add(31*time.Second), 10, 30*time.Second); len(again) != 1 {
		t.Fatalf("leased %d after the retry's lease ran out, want 1", len(again))
	}
}

func testSettleDead(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	res := ingest(t, s, request(at, lead.Lead{Email: "x@b.c"}, "email:x@b.c"))
	ds := lease(t, s, "crm", at, 10, time.Minute)
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(at, 503, "HTTP 503"), State: store.Retrying, RetryAt: at.Add(time.Second)})
	ds = lease(t, s, "crm", at.Add(time.Second), 10, time.Minute)
	deadAt := at.Add(2 * time.Second)
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: attemptAt(deadAt, 404, "HTTP 404"), State: store.Dead})
	if got := lease(t, s, "crm", at.Add(time.Hour), 10, time.Minute); len(got) != 0 {
		t.Fatalf("leased %d dead deliveries, want 0", len(got))
	}
	dls := deadLetters(t, s, "crm")
	if len(dls) != 1 {
		t.Fatalf("dead letters = %+v, want 1", dls)
	}
	dl := dls[0]
	if dl.ID != ds[0].ID || dl.EventID != res.Events[0].ID || dl.Destination != "crm" || dl.Attempts != 2 ||
		dl.LastError != "HTTP 404" || !dl.DeadAt.Equal(deadAt) {
		t.Fatalf("dead letter = %+v", dl)
	}
	if d := depth(t, s); d["dead"] != 1 {
		t.Fatalf("depth = %v, want dead 1", d)
	}
}

func testEventRecord(t *testing.T, open Open) {
	s := openStore(t, open)
	at := base()
	if _, err := s.Event(context.Background(), "evt_unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown event: %v, want ErrNotFound", err)
	}
	req := request(at, lead.Lead{Email: "e@b.c"}, "email:e@b.c")
	req.Route = routeTo("c", "a", "b")
	res := ingest(t, s, req)
	a := lease(t, s, "a", at, 1, time.Minute)
	b := lease(t, s, "b", at, 1, time.Minute)
	first := attemptAt(at, 503, "HTTP 503")
	settle(t, s,
		store.Outcome{Delivery: a[0], Attempt: first, State: store.Retrying, RetryAt: at.Add(time.Second)},
		store.Outcome{Delivery: b[0], Attempt: attemptAt(at, 400, "HTTP 400"), State: store.Dead},
	)
	a = lease(t, s, "a", at.Add(time.Second), 1, time.Minute)
	second := attemptAt(at.Add(time.Second), 204, "")
	settle(t, s, store.Outcome{Delivery: a[0], Attempt: second, State: store.Delivered})

	rec, err := s.Event(context.Background(), res.Events[0].ID)
	if err != nil {
		t.Fatalf("event: %v", err)
	}
	sameEvent(t, rec.Event, res.Events[0])
	want := []struct {
		dest     string
		status   string
		attempts []store.Attempt
	}{
		{"a", "delivered", []store.Attempt{first, second}},
		{"b", "dead", []store.Attempt{attemptAt(at, 400, "HTTP 400")}},
		{"c", "pending", nil},
	}
	if len(rec.Deliveries) != len(want) {
		t.Fatalf("deliveries = %+v, want %d", rec.Deliveries, len(want))
	}
	for i, w := range want {
		got := rec.Deliveries[i]
		if got.Destination != w.dest || got.Status != w.status || len(got.Attempts) != len(w.attempts) {
			t.Fatalf("delivery %d = %+v, want %s %s with %d attempts", i, got, w.dest, w.status, len(w.attempts))
		}
		for j, wa := range w.attempts {
			g := got.Attempts[j]
			if !g.At.Equal(wa.At) || g.Code != wa.Code || g.DurationMS != wa.DurationMS || g.Error != wa.Error {
				t.Fatalf("%s attempt %d = %+v, want %+v", w.dest, j, g, wa)
			}
		}
	}
	retrying := ingest(t, s, request(at, lead.Lead{Email: "e2@b.c"}, "email:e2@b.c"))
	ds := lease(t, s, "crm", at, 1, time.Minute)
	settle(t, s, store.Outcome{Delivery: ds[0], Attempt: first, State: store.Retrying, RetryAt: at.Add(time.Hour)})
	rec, err = s.Event(context.Background(), retrying.Events[0].ID)
	if err != nil {
		t.Fatalf("event: %v", err)
	}
	if len(rec.Deliveries) != 1 || rec.Deliveries[0].Status != "retrying" {
		t.Fatalf("deliveries = %+v, want one retrying", rec.Deliveries)
	}
}
