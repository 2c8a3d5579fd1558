package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"leadgate/gateway/lead"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/redistest"
	"leadgate/gateway/store"
	"leadgate/gateway/store/redisstore"
	"leadgate/gateway/store/storetest"
)

// prefixes gives every store of a test run its own key prefix, so one Redis
// serves many independent stores.
var prefixes atomic.Int64

func newPrefix() string { return fmt.Sprintf("t%d", prefixes.Add(1)) }

func open(t *testing.T, url, prefix string) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(context.Background(), url, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, func(t *testing.T) storetest.Open {
		prefix := newPrefix()
		return func(t *testing.T) store.Store { return open(t, srv.URL(), prefix) }
	})
}

func request(at time.Time, email string) store.IngestRequest {
	return store.IngestRequest{
		Source:     "website",
		Identity:   []string{"email:" + email},
		Lead:       lead.Lead{Email: email},
		Emits:      []string{lead.LeadCreated, lead.LeadUpdated},
		ReceivedAt: at,
		Route:      func(*lead.Event) []string { return []string{"crm"} },
	}
}

// TestLeaseTakenOverByAnotherReplica: a replica that leases a delivery and
// dies without settling leaves it hidden only until its lease ends; then
// another replica, with its own connection, leases the same delivery.
func TestLeaseTakenOverByAnotherReplica(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	a, b := open(t, srv.URL(), prefix), open(t, srv.URL(), prefix)
	defer b.Close()
	ctx := context.Background()
	at := time.Now().Truncate(time.Millisecond)
	if _, err := a.Ingest(ctx, request(at, "crash@b.c")); err != nil {
		t.Fatalf("ingest: %v", err)
	}
	const lease = 30 * time.Second
	taken, err := a.Lease(ctx, "crm", at, 10, lease)
	if err != nil || len(taken) != 1 {
		t.Fatalf("replica a leased %d, %v; want 1", len(taken), err)
	}
	if err := a.Close(); err != nil { // replica a dies mid-delivery
		t.Fatalf("close a: %v", err)
	}
	tests := []struct {
		name string
		now  time.Time
		want int
	}{
		{"while a's lease holds", at.Add(lease - time.Millisecond), 0},
		{"when a's lease ends", at.Add(lease), 1},
		{"under b's own lease", at.Add(lease + time.Second), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.Lease(ctx, "crm", tt.now, 10, lease)
			if err != nil {
				t.Fatalf("replica b lease: %v", err)
			}
			if len(got) != tt.want {
				t.Fatalf("replica b leased %d, want %d", len(got), tt.want)
			}
			if tt.want == 1 && (got[0].ID != taken[0].ID || got[0].Event.ID != taken[0].Event.ID) {
				t.Fatalf("replica b leased %+v, want a's delivery %s", got[0], taken[0].ID)
			}
		})
	}
}

// TestRedisOutage: with Redis killed, Ingest and Ping fail with
// ErrUnavailable; after Redis restarts from its AOF the same Store works
// again and everything accepted before the crash is still there.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAOF())
	s := open(t, srv.URL(), newPrefix())
	defer s.Close()
	ctx := context.Background()
	at := time.Now().Truncate(time.Millisecond)
	before, err := s.Ingest(ctx, request(at, "outage@b.c"))
	if err != nil {
		t.Fatalf("ingest before the outage: %v", err)
	}

	srv.Kill()
	down := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"ingest", func(ctx context.Context) error {
			_, err := s.Ingest(ctx, request(at.Add(time.Second), "lost@b.c"))
			return err
		}},
		{"ping", s.Ping},
		{"lease", func(ctx context.Context) error { _, err := s.Lease(ctx, "crm", at, 1, time.Second); return err }},
		{"depth", func(ctx context.Context) error { _, err := s.Depth(ctx); return err }},
		{"subscriptions version", func(ctx context.Context) error { _, err := s.SubscriptionsVersion(ctx); return err }},
	}
	for _, tt := range down {
		t.Run("down/"+tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := tt.call(ctx); !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("%s with Redis down: %v, want ErrUnavailable", tt.name, err)
			}
		})
	}

	srv.Restart()
	// The client's dial breaker probes once a second; wait for it rather
	// than reopening the Store.
	if err := waitPing(ctx, s); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
	again, err := s.Ingest(ctx, request(at.Add(2*time.Second), "outage@b.c"))
	if err != nil {
		t.Fatalf("ingest after restart: %v", err)
	}
	if again.LeadID != before.LeadID || len(again.Events) != 0 {
		t.Fatalf("after restart got lead %s with %d events, want the stored lead %s unchanged", again.LeadID, len(again.Events), before.LeadID)
	}
	ds, err := s.Lease(ctx, "crm", at, 10, time.Minute)
	if err != nil {
		t.Fatalf("lease after restart: %v", err)
	}
	if len(ds) != 1 || ds[0].EventID != before.Events[0].ID {
		t.Fatalf("leased %+v after restart, want the event accepted before the crash", ds)
	}
}

// waitPing polls Ping until Redis answers or 15 s pass.
func waitPing(ctx context.Context, s *redisstore.Store) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := s.Ping(ctx)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOpenErrors(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL()
	srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := redisstore.Open(ctx, url, redisstore.Options{}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("open with Redis down: %v, want ErrUnavailable", err)
	}
	bad := []struct {
		name, url string
		opts      redisstore.Options
	}{
		{"scheme", "http://nope", redisstore.Options{}},
		{"port", "redis://user:s3cret@host:port/0", redisstore.Options{}},
		{"prefix", url, redisstore.Options{Prefix: "a}b"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := redisstore.Open(ctx, tt.url, tt.opts)
			if err == nil || errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("open: %v, want a config error", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("open error %q shows the password", err)
			}
		})
	}
}

// TestKeysShareOneSlot: every key a store writes carries its prefix's hash
// tag, so the layout works on Redis Cluster, and two prefixes never meet.
func TestKeysShareOneSlot(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	s := open(t, srv.URL(), prefix)
	defer s.Close()
	ctx := context.Background()
	at := time.Now().Truncate(time.Millisecond)
	req := request(at, "slot@b.c")
	req.DedupeKey, req.DedupeTTL = "k{odd}", time.Minute
	req.Route = func(*lead.Event) []string { return []string{"a{x}", "b"} }
	if _, err := s.Ingest(ctx, req); err != nil {
		t.Fatalf("ingest: %v", err)
	}
	ds, err := s.Lease(ctx, "a{x}", at, 1, time.Minute)
	if err != nil || len(ds) != 1 {
		t.Fatalf("lease: %d, %v", len(ds), err)
	}
	if err := s.Settle(ctx, []store.Outcome{{Delivery: ds[0], State: store.Dead, Attempt: store.Attempt{At: at, Code: 400}}}); err != nil {
		t.Fatalf("settle: %v", err)
	}
	if err := s.PutSubscription(ctx, store.Subscription{ID: "s", Body: []byte("{}")}, 0); err != nil {
		t.Fatalf("put subscription: %v", err)
	}
	keys, err := srv.Client().Keys(ctx, "*").Result()
	if err != nil {
		t.Fatalf("keys: %v", err)
	}
	if len(keys) < 8 {
		t.Fatalf("only %d keys: %v", len(keys), keys)
	}
	tag := "lg:{" + prefix + "}:"
	for _, k := range keys {
		if !strings.HasPrefix(k, tag) {
			t.Fatalf("key %q lacks the hash tag %q", k, tag)
		}
	}
}

// retryWrites is a go-redis hook that sends Ingest's write script again
// after Redis applied it, as the client does when a reply is lost, whether
// the script went alone or in a pipeline.
type retryWrites struct{ n atomic.Int64 }

// isWrite spots the write script: its second key is its batch's reply key,
// lg:{p}:wb:TOKEN.
func isWrite(cmd redis.Cmder) bool {
	args := cmd.Args()
	return cmd.Err() == nil && (cmd.Name() == "evalsha" || cmd.Name() == "eval") && len(args) > 4 &&
		strings.Contains(fmt.Sprint(args[4]), ":wb:")
}

func (h *retryWrites) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *retryWrites) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := next(ctx, cmd); err != nil || !isWrite(cmd) {
			return err
		}
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *retryWrites) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			if isWrite(cmd) {
				h.n.Add(1)
				return next(ctx, cmds)
			}
		}
		return err
	}
}

// TestIngestWriteRepeated: a write script that reaches Redis twice stores
// one lead, one set of events and one delivery each, and Ingest reports
// them as new rather than as a duplicate of itself. The first Ingest sends
// its script by text (Redis does not know it yet), later ones by hash; both
// paths are checked.
func TestIngestWriteRepeated(t *testing.T) {
	srv := redistest.Start(t)
	hook := &retryWrites{}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	rdb.AddHook(hook)
	s := redisstore.New(rdb, redisstore.Options{Prefix: newPrefix()})
	defer s.Close()
	ctx := context.Background()
	at := time.Now().Truncate(time.Millisecond)
	for i, name := range []string{"first (by text)", "later (by hash)"} {
		t.Run(name, func(t *testing.T) {
			req := request(at, fmt.Sprintf("twice%d@b.c", i))
			req.DedupeKey, req.DedupeTTL = fmt.Sprintf("twice%d", i), time.Minute
			res, err := s.Ingest(ctx, req)
			if err != nil {
				t.Fatalf("ingest: %v", err)
			}
			if got := hook.n.Load(); got != int64(i+1) {
				t.Fatalf("writes sent twice %d times, want %d", got, i+1)
			}
			if res.Duplicate || len(res.Events) != 1 {
				t.Fatalf("ingest = %+v, want one new event", res)
			}
			ds, err := s.Lease(ctx, "crm", at, 10, time.Minute)
			if err != nil || len(ds) != 1 || ds[0].EventID != res.Events[0].ID {
				t.Fatalf("leased %+v, %v; want the one delivery of %s", ds, err, res.Events[0].ID)
			}
		})
	}
}

// TestSettleRepeated: settling the same delivery twice (a retried call, or
// two replicas after a lease ran out) records the attempt once.
func TestSettleRepeated(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv.URL(), newPrefix())
	defer s.Close()
	ctx := context.Background()
	at := time.Now().Truncate(time.Millisecond)
	tests := []struct {
		state string
		want  string
	}{
		{store.Delivered, "delivered"},
		{store.Dead, "dead"},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			res, err := s.Ingest(ctx, request(at, tt.state+"@b.c"))
			if err != nil {
				t.Fatalf("ingest: %v", err)
			}
			ds, err := s.Lease(ctx, "crm", at, 10, time.Minute)
			if err != nil || len(ds) != 1 {
				t.Fatalf("leased %d, %v; want 1", len(ds), err)
			}
			out := store.Outcome{Delivery: ds[0], State: tt.state, Attempt: store.Attempt{At: at, Code: 410}}
			for range 2 {
				if err := s.Settle(ctx, []store.Outcome{out}); err != nil {
					t.Fatalf("settle: %v", err)
				}
			}
			rec, err := s.Event(ctx, res.Events[0].ID)
			if err != nil {
				t.Fatalf("event: %v", err)
			}
			if len(rec.Deliveries) != 1 || rec.Deliveries[0].Status != tt.want || len(rec.Deliveries[0].Attempts) != 1 {
				t.Fatalf("deliveries = %+v, want one %s with one attempt", rec.Deliveries, tt.want)
			}
			if tt.state == store.Dead {
				if n, err := s.ReplayAll(ctx, "crm", at); err != nil || n != 1 {
					t.Fatalf("replay all = %d, %v; want 1", n, err)
				}
			}
		})
	}
}

// BenchmarkIngestParallel measures the Ingest hot path, a new lead with a
// duplicate key, form.submitted and lead.created, from many goroutines
// against a local redis-server, in two shapes:
//   - routed: each event goes to one destination;
//   - accept: what scripts/bench.sh's Redis mode sends: no destination,
//     and the inbound limit (raised, one client key) checked in the script;
//   - update: payloads for 1,000 people already known, each changing the
//     score: lead.updated and lead.score_changed, routed.
//
// It reports throughput, the 99th percentile latency of one Ingest, and the
// CPU per request of this process and of redis-server, which varies far
// less than throughput on a shared machine.
func BenchmarkIngestParallel(b *testing.B) {
	srv := redistest.Start(b)
	limiter := ratelimit.NewRedis(srv.Client(), ratelimit.RedisOptions{})
	for _, shape := range []string{"routed", "accept", "update"} {
		b.Run(shape, func(b *testing.B) {
			prefix := newPrefix()
			s, err := redisstore.Open(context.Background(), srv.URL(), redisstore.Options{Prefix: prefix})
			if err != nil {
				b.Fatalf("open: %v", err)
			}
			defer s.Close()
			const known = 1000
			if shape == "update" {
				at := time.Now()
				for i := range known {
					if _, err := s.Ingest(context.Background(), request(at, fmt.Sprintf("known%d@example.com", i))); err != nil {
						b.Fatalf("ingest: %v", err)
					}
				}
			}
			benchIngest(b, srv, func(i int64, req *store.IngestRequest) {
				switch shape {
				case "routed":
					return
				case "update":
					email := fmt.Sprintf("known%d@example.com", i%known)
					req.Identity, req.Lead.Email = []string{"email:" + email}, email
					req.Emits = []string{lead.LeadUpdated, lead.LeadScoreChanged}
					return
				}
				req.Route = nil
				c, err := limiter.Check("website:bench-"+prefix, ratelimit.Limit{Requests: 100_000_000, Per: time.Second})
				if err != nil {
					b.Fatalf("check: %v", err)
				}
				req.Limit = redisstore.LimitCheckOf(c)
			}, s)
		})
	}
}

func benchIngest(b *testing.B, srv *redistest.Server, shape func(int64, *store.IngestRequest), s *redisstore.Store) {
	var (
		n   atomic.Int64
		mu  sync.Mutex
		all []time.Duration
	)
	at := time.Now()
	b.SetParallelism(32)
	redisCPU0, goCPU0 := redisCPU(b, srv), processCPU()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		var took []time.Duration
		for pb.Next() {
			i := n.Add(1)
			email := fmt.Sprintf("bench%d@example.com", i)
			req := request(at, email)
			req.Lead = lead.Lead{Email: email, FirstName: "Bench", LastName: "Mark", Score: i,
				Client: "example_client", Branch: "Main Branch", Fields: map[string]any{"budget": "5000"}}
			req.Emits = []string{lead.FormSubmitted, lead.LeadCreated}
			req.DedupeKey, req.DedupeTTL = fmt.Sprintf("bench-%d", i), 10*time.Minute
			shape(i, &req)
			t0 := time.Now()
			res, err := s.Ingest(ctx, req)
			if err != nil {
				b.Errorf("ingest: %v", err)
				return
			}
			if res.Limit != nil && !res.Limit.Allowed {
				b.Errorf("ingest refused by the limit: %+v", res.Limit)
				return
			}
			took = append(took, time.Since(t0))
		}
		mu.Lock()
		all = append(all, took...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	// CPU per request, independent of what else the machine runs: the
	// client side (this process) and redis-server's own.
	b.ReportMetric(float64((processCPU()-goCPU0).Microseconds())/float64(b.N), "client-cpu-us/op")
	b.ReportMetric(float64((redisCPU(b, srv)-redisCPU0).Microseconds())/float64(b.N), "redis-cpu-us/op")
	if len(all) > 0 {
		slices.Sort(all)
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// processCPU is this process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is redis-server's user and system CPU time so far.
func redisCPU(b *testing.B, srv *redistest.Server) time.Duration {
	info, err := srv.Client().Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatalf("info cpu: %v", err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// TestIngestChecksTheLimit: with IngestRequest.Limit set, the write script
// admits and records the request under the limiter's own window, refuses
// the one over the limit and stores nothing for it, and counts a request
// for someone already known (a write that first conflicts) only once.
func TestIngestChecksTheLimit(t *testing.T) {
	srv := redistest.Start(t)
	other := open(t, srv.URL(), newPrefix())
	defer other.Close()
	if other.LimitsIngest() {
		t.Fatal("LimitsIngest = true for a prefix other than the limiter's hash tag")
	}
	s := open(t, srv.URL(), redisstore.DefaultPrefix)
	defer s.Close()
	if !s.LimitsIngest() {
		t.Fatal("LimitsIngest = false with the default prefix")
	}
	lim := ratelimit.NewRedis(srv.Client(), ratelimit.RedisOptions{})
	ctx := context.Background()
	at := time.Now().Truncate(time.Millisecond)
	limit := ratelimit.Limit{Requests: 3, Per: time.Minute}
	key := "in:website:" + newPrefix()
	ingest := func(email string) store.IngestResult {
		t.Helper()
		req := request(at, email)
		check, err := lim.Check(key, limit)
		if err != nil {
			t.Fatalf("check: %v", err)
		}
		req.Limit = redisstore.LimitCheckOf(check)
		res, err := s.Ingest(ctx, req)
		if err != nil {
			t.Fatalf("ingest %s: %v", email, err)
		}
		if res.Limit == nil {
			t.Fatalf("ingest %s: no limit decision", email)
		}
		return res
	}

	// Someone known: the guess "new" conflicts, the second write must not
	// count the request again.
	if _, err := s.Ingest(ctx, request(at, "known@b.c")); err != nil {
		t.Fatalf("ingest known: %v", err)
	}
	res := ingest("known@b.c")
	if !res.Limit.Allowed || res.Limit.Remaining != 2 || res.LeadID == "" {
		t.Fatalf("known lead: %+v, limit %+v; want admitted with 2 remaining", res, res.Limit)
	}
	if len(res.Events) != 0 {
		t.Fatalf("known lead with nothing new produced %d events", len(res.Events))
	}
	for i, want := range []int{1, 0} {
		res := ingest(fmt.Sprintf("new%d@b.c", i))
		if !res.Limit.Allowed || res.Limit.Remaining != want || len(res.Events) != 1 || res.Events[0].Event != lead.LeadCreated {
			t.Fatalf("new lead %d: %+v, limit %+v; want lead.created with %d remaining", i, res, res.Limit, want)
		}
	}
	refused := ingest("refused@b.c")
	if refused.Limit.Allowed || refused.LeadID != "" || len(refused.Events) != 0 || refused.Limit.RetryAfter <= 0 {
		t.Fatalf("fourth request: %+v, limit %+v; want refused, nothing stored, a retry-after", refused, refused.Limit)
	}
	// Nothing of the refused request was stored: the lead is new later.
	later, err := s.Ingest(ctx, request(at, "refused@b.c"))
	if err != nil || len(later.Events) != 1 || later.Events[0].Event != lead.LeadCreated {
		t.Fatalf("refused lead posted again: %+v, %v; want lead.created", later, err)
	}
	// The limiter itself sees the same window: full.
	if d, err := lim.Allow(ctx, key, limit); err != nil || d.Allowed {
		t.Fatalf("limiter after three admitted ingests: %+v, %v; want refused", d, err)
	}
	if n, err := srv.Client().ZCard(ctx, lim.Key(key)).Result(); err != nil || n != 3 {
		t.Fatalf("window holds %d admissions, %v; want 3", n, err)
	}
}
