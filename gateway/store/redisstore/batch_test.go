package redisstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"leadgate/gateway/lead"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/redistest"
	"leadgate/gateway/store"
)

// inOneBatch runs the ingests concurrently and lets the store's batcher
// start only once all of them wait, so their first writes are one
// writeScript run, in the order given. It returns the results in that
// order.
func inOneBatch(t *testing.T, s *Store, reqs []store.IngestRequest) []store.IngestResult {
	t.Helper()
	out, errs := inOneBatchErrs(t, s, reqs)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("ingest %d: %v", i, err)
		}
	}
	return out
}

// inOneBatchErrs is inOneBatch for ingests that may fail: it answers each
// one's error.
func inOneBatchErrs(t *testing.T, s *Store, reqs []store.IngestRequest) ([]store.IngestResult, []error) {
	t.Helper()
	s.batch.close()
	b := &batcher{rdb: s.rdb, w: s.batch.w, ch: make(chan *call, maxBatch), quit: make(chan struct{})}
	s.batch = b
	out := make([]store.IngestResult, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = s.Ingest(context.Background(), req)
		}()
		// One at a time into the queue, so the batch keeps the order given.
		for deadline := time.Now().Add(5 * time.Second); len(b.ch) < i+1; {
			if time.Now().After(deadline) {
				t.Fatalf("only %d of %d ingests reached the batcher", len(b.ch), len(reqs))
			}
			time.Sleep(time.Millisecond)
		}
	}
	b.wg.Add(1)
	go b.work()
	wg.Wait()
	return out, errs
}

// TestBatchFailsAsAWhole: a batch whose later Ingest meets a key of the
// wrong type writes nothing, not even the Ingests before it, so that
// their retries store and queue their events instead of finding their own
// duplicate key over events that were never queued.
func TestBatchFailsAsAWhole(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	s := New(rdb, Options{Prefix: DefaultPrefix})
	defer s.Close()
	lim := ratelimit.NewRedis(rdb, ratelimit.RedisOptions{})
	ctx := context.Background()
	at := time.Now().Truncate(time.Millisecond)
	ingest := func(email string, dests ...string) store.IngestRequest {
		return store.IngestRequest{
			Source: "website", Identity: []string{"email:" + email}, Lead: lead.Lead{Email: email},
			Emits: []string{lead.LeadCreated}, ReceivedAt: at, DedupeKey: email, DedupeTTL: time.Minute,
			Route: func(*lead.Event) []string { return dests },
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, email string) (store.IngestRequest, string)
	}{
		{"a destination's queue", func(t *testing.T, email string) (store.IngestRequest, string) {
			return ingest(email, "broken"), s.keys.base + "q:broken"
		}},
		{"a rate-limit window", func(t *testing.T, email string) (store.IngestRequest, string) {
			req := ingest(email, "crm")
			c, err := lim.Check("in:broken", ratelimit.Limit{Requests: 5, Per: time.Minute})
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			req.Limit = LimitCheckOf(c)
			return req, lim.Key("in:broken")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := ingest("first-"+tc.name+"@b.c", "crm")
			second, key := tc.setup(t, "second-"+tc.name+"@b.c")
			if err := rdb.Set(ctx, key, "not a set", 0).Err(); err != nil {
				t.Fatal(err)
			}
			_, errs := inOneBatchErrs(t, s, []store.IngestRequest{first, second})
			for i, err := range errs {
				if err == nil {
					t.Fatalf("ingest %d of the broken batch succeeded, want the batch's error", i)
				}
			}
			if err := rdb.Del(ctx, key).Err(); err != nil {
				t.Fatal(err)
			}
			res, err := s.Ingest(ctx, first)
			if err != nil || res.Duplicate || len(res.Events) != 1 {
				t.Fatalf("the first Ingest again: %+v, %v; want its lead stored now, not a duplicate", res, err)
			}
			ds, err := s.Lease(ctx, "crm", at, 10, time.Minute)
			if err != nil || len(ds) != 1 || ds[0].EventID != res.Events[0].ID {
				t.Fatalf("leased %+v, %v; want the one delivery of %s", ds, err, res.Events[0].ID)
			}
		})
	}
}

// TestBatchDecidesInOrder: Ingests that share one writeScript run are
// decided as if one ran after the other. A repeat of a payload in the same
// batch is a duplicate of the first; a second payload for the same person
// conflicts, is read again and becomes an update of the same lead; the
// limit admits exactly as many as it allows and refuses the rest, which
// store nothing.
func TestBatchDecidesInOrder(t *testing.T) {
	srv := redistest.Start(t)
	hook := &redistest.ScriptCounter{}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	rdb.AddHook(hook)
	s := New(rdb, Options{Prefix: DefaultPrefix})
	defer s.Close()
	lim := ratelimit.NewRedis(srv.Client(), ratelimit.RedisOptions{})
	at := time.Now().Truncate(time.Millisecond)
	ingest := func(email, dedupe string) store.IngestRequest {
		return store.IngestRequest{
			Source: "website", Identity: []string{"email:" + email}, Lead: lead.Lead{Email: email, FirstName: dedupe},
			Emits: []string{lead.LeadCreated, lead.LeadUpdated}, ReceivedAt: at,
			DedupeKey: dedupe, DedupeTTL: time.Minute,
			Route: func(*lead.Event) []string { return []string{"crm"} },
		}
	}

	t.Run("duplicates and one person", func(t *testing.T) {
		reqs := []store.IngestRequest{
			ingest("a@b.c", "pa"), ingest("a@b.c", "pa"), // the same payload twice
			ingest("p@b.c", "p1"), ingest("p@b.c", "p2"), // one person, two payloads
		}
		before := hook.N()
		res := inOneBatch(t, s, reqs)
		// The batch's order is the order the goroutines reached it.
		first, repeat := res[0], res[1]
		if first.Duplicate {
			first, repeat = repeat, first
		}
		if first.Duplicate || first.LeadID == "" || len(first.Events) != 1 {
			t.Fatalf("first payload: %+v, want a new lead", first)
		}
		if !repeat.Duplicate || repeat.LeadID != first.LeadID || len(repeat.Events) != 0 {
			t.Fatalf("repeat in the same batch: %+v, want a duplicate of %s", repeat, first.LeadID)
		}
		if res[2].LeadID == "" || res[2].LeadID != res[3].LeadID {
			t.Fatalf("one person got leads %q and %q", res[2].LeadID, res[3].LeadID)
		}
		var got []string
		for _, r := range res[2:] {
			for _, ev := range r.Events {
				got = append(got, ev.Event)
			}
		}
		slices.Sort(got)
		if want := []string{lead.LeadCreated, lead.LeadUpdated}; !slices.Equal(got, want) {
			t.Fatalf("the person's two payloads made %v, want %v", got, want)
		}
		// The batch, then the conflicting payload's second write, decided on
		// what the first answered: no read; the repeat was found within the
		// batch.
		if got := hook.N() - before; got != 2 {
			t.Fatalf("%d scripts ran, want 2 (the batch, then the conflicting payload's second write)", got)
		}
		ds, err := s.Lease(context.Background(), "crm", at, 10, time.Minute)
		if err != nil || len(ds) != 3 {
			t.Fatalf("leased %d, %v; want 3 deliveries", len(ds), err)
		}
	})

	t.Run("limit", func(t *testing.T) {
		limit := ratelimit.Limit{Requests: 2, Per: time.Minute}
		var reqs []store.IngestRequest
		for i := range 3 {
			req := ingest(fmt.Sprintf("l%d@b.c", i), fmt.Sprintf("l%d", i))
			c, err := lim.Check("in:batch", limit)
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			req.Limit = LimitCheckOf(c)
			reqs = append(reqs, req)
		}
		res := inOneBatch(t, s, reqs)
		var admitted, refused []store.IngestResult
		for i, r := range res {
			switch {
			case r.Limit == nil:
				t.Fatalf("request %d: no limit decision", i)
			case r.Limit.Allowed && r.LeadID != "":
				admitted = append(admitted, r)
			case !r.Limit.Allowed && r.LeadID == "" && len(r.Events) == 0:
				refused = append(refused, r)
			default:
				t.Fatalf("request %d: %+v, limit %+v; a refused request stores nothing, an admitted one its lead", i, r, r.Limit)
			}
		}
		if len(admitted) != 2 || len(refused) != 1 {
			t.Fatalf("%d admitted and %d refused, want 2 and 1", len(admitted), len(refused))
		}
		remaining := []int{admitted[0].Limit.Remaining, admitted[1].Limit.Remaining}
		slices.Sort(remaining)
		if !slices.Equal(remaining, []int{0, 1}) {
			t.Fatalf("admissions left %v remaining, want 1 then 0", remaining)
		}
		if d := refused[0].Limit; d.RetryAfter < 59*time.Second || d.RetryAfter > time.Minute {
			t.Fatalf("refusal: retry after %v, want about a minute", d.RetryAfter)
		}
		if n, err := srv.Client().ZCard(context.Background(), lim.Key("in:batch")).Result(); err != nil || n != 2 {
			t.Fatalf("window holds %d, %v; want the 2 admissions", n, err)
		}
		if n, err := srv.Client().HLen(context.Background(), s.keys.idx).Result(); err != nil || n != 2+2 {
			t.Fatalf("the index holds %d people, %v; want the 2 of the first case and the 2 admitted", n, err)
		}
	})
}

// TestBatchesUnderContention: many payloads for a few people, each sent
// several times, from many goroutines through the real batcher, so batches
// mix new people, known people, repeats and conflicts. Every person ends up
// with one lead, created once; each payload is stored once and its repeats
// answer its lead; the lead's version counts exactly the stored payloads.
func TestBatchesUnderContention(t *testing.T) {
	srv := redistest.Start(t)
	s := New(srv.Client(), Options{Prefix: DefaultPrefix})
	defer s.Close()
	const people, payloads, repeats = 12, 6, 3
	at := time.Now().Truncate(time.Millisecond)
	type sent struct {
		person, payload int
		res             store.IngestResult
	}
	var (
		mu   sync.Mutex
		all  []sent
		wg   sync.WaitGroup
		jobs = make(chan [2]int)
	)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				email := fmt.Sprintf("p%d@b.c", j[0])
				req := store.IngestRequest{
					Source: "website", Identity: []string{"email:" + email},
					Lead:  lead.Lead{Email: email, Score: int64(j[1] + 1)},
					Emits: []string{lead.LeadCreated, lead.LeadUpdated}, ReceivedAt: at,
					DedupeKey: fmt.Sprintf("p%d-%d", j[0], j[1]), DedupeTTL: time.Minute,
				}
				res, err := s.Ingest(context.Background(), req)
				if err != nil {
					t.Errorf("ingest %v: %v", j, err)
					continue
				}
				mu.Lock()
				all = append(all, sent{j[0], j[1], res})
				mu.Unlock()
			}
		}()
	}
	for r := range repeats {
		for p := range people {
			for k := range payloads {
				jobs <- [2]int{p, (k + r + p) % payloads}
			}
		}
	}
	close(jobs)
	wg.Wait()
	if t.Failed() {
		return
	}
	leadOf := map[int]string{}
	created := map[int]int{}
	stored := map[[2]int]int{}
	for _, x := range all {
		if id, ok := leadOf[x.person]; ok && id != x.res.LeadID {
			t.Fatalf("person %d got leads %s and %s", x.person, id, x.res.LeadID)
		}
		leadOf[x.person] = x.res.LeadID
		if !x.res.Duplicate {
			stored[[2]int{x.person, x.payload}]++
		}
		for _, ev := range x.res.Events {
			if ev.Event == lead.LeadCreated {
				created[x.person]++
			}
		}
	}
	for p := range people {
		if created[p] != 1 {
			t.Errorf("person %d: %d lead.created, want 1", p, created[p])
		}
		for k := range payloads {
			if n := stored[[2]int{p, k}]; n != 1 {
				t.Errorf("person %d payload %d stored %d times, want once (and %d repeats)", p, k, n, repeats-1)
			}
		}
		v, err := srv.Client().HGet(context.Background(), s.keys.lead(leadOf[p]), "v").Result()
		if err != nil || v != fmt.Sprint(payloads) {
			t.Errorf("person %d: lead version %q, %v; want %d, one per stored payload", p, v, err, payloads)
		}
	}
}

// TestReplyKeepsControlCharacters: the write's reply is tab-separated
// lines, and a CONFLICT's carries the stored snapshot; a lead whose fields
// hold tabs and newlines still comes back whole (Go's JSON escapes them).
func TestReplyKeepsControlCharacters(t *testing.T) {
	srv := redistest.Start(t)
	s := New(srv.Client(), Options{Prefix: DefaultPrefix})
	defer s.Close()
	ctx := context.Background()
	at := time.Now().Truncate(time.Millisecond)
	for i, tc := range []struct {
		l    lead.Lead
		want string
	}{
		{lead.Lead{Email: "tab@b.c", FirstName: "a\tb\nc"}, lead.LeadCreated},
		{lead.Lead{Email: "tab@b.c", LastName: "d\te"}, lead.LeadUpdated},
	} {
		res, err := s.Ingest(ctx, store.IngestRequest{Source: "website", Identity: []string{"email:tab@b.c"},
			Lead: tc.l, Emits: []string{lead.LeadCreated, lead.LeadUpdated}, ReceivedAt: at})
		if err != nil || len(res.Events) != 1 || res.Events[0].Event != tc.want {
			t.Fatalf("payload %d: %+v, %v; want %s", i, res, err, tc.want)
		}
		if got := res.Events[0].Lead; got.FirstName != "a\tb\nc" {
			t.Fatalf("payload %d: first name %q, want it as stored", i, got.FirstName)
		}
	}
}
