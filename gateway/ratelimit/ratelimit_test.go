package ratelimit

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"leadgate/gateway/redistest"
)

// fakeClock is a clock tests move by hand, so Local's windows are exact.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is one fresh limiter state as a test sees it.
type env struct {
	// replicas returns n limiters sharing the state, as n gateway replicas
	// sharing one Redis would. Local's replicas are one instance.
	replicas func(n int) []Limiter
	// advance lets d pass: a fake clock for Local, a sleep for Redis.
	advance func(d time.Duration)
	// exact is true when the clock is fake, so durations are predictable to
	// the nanosecond; otherwise they are checked within bounds.
	exact bool
}

func (e env) limiter() Limiter { return e.replicas(1)[0] }

// backend is one implementation under the shared tests: start prepares it
// for a run and returns how to make a fresh env for each test.
type backend struct {
	name  string
	start func(t *testing.T) func(t *testing.T) env
}

// backends are the two implementations every shared test runs against.
var backends = []backend{
	{"local", func(*testing.T) func(t *testing.T) env {
		return func(t *testing.T) env {
			clock := newFakeClock()
			l := NewLocal(LocalOptions{Now: clock.Now})
			return env{
				replicas: func(n int) []Limiter {
					out := make([]Limiter, n)
					for i := range out {
						out[i] = l
					}
					return out
				},
				advance: clock.Advance,
				exact:   true,
			}
		}
	}},
	{"redis", func(t *testing.T) func(t *testing.T) env {
		// One server for the run; each env gets its own key prefix so
		// tests never see each other's windows.
		srv := redistest.Start(t)
		var prefix atomic.Int64
		return func(t *testing.T) env {
			p := "lg" + strconv.FormatInt(prefix.Add(1), 10) + ":"
			return env{
				replicas: func(n int) []Limiter {
					out := make([]Limiter, n)
					for i := range out {
						c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
						t.Cleanup(func() { c.Close() })
						out[i] = NewRedis(c, RedisOptions{Prefix: p})
					}
					return out
				},
				advance: time.Sleep,
			}
		}
	}},
}

func mustAllow(t *testing.T, l Limiter, key string, lim Limit) Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key, lim)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return d
}

// checkWithin checks a duration: exactly want on a fake clock, else in
// (0, upper], since on a real clock an unknown time has passed between the
// admissions and this decision.
func checkWithin(t *testing.T, e env, what string, got, want, upper time.Duration) {
	t.Helper()
	if e.exact {
		if got != want {
			t.Fatalf("%s = %v, want %v", what, got, want)
		}
		return
	}
	if got <= 0 || got > upper {
		t.Fatalf("%s = %v, want in (0, %v]", what, got, upper)
	}
}

func TestLimiters(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, e env)
	}{
		{"burst admits exactly the limit", testBurst},
		{"keys are independent", testKeysIndependent},
		{"window slides", testSliding},
		{"replicas share the limit under concurrency", testConcurrentReplicas},
		{"lowered limit refuses at once", testLoweredLimit},
		{"invalid limit is an error", testInvalidLimit},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			newEnv := b.start(t)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { tt.run(t, newEnv(t)) })
			}
		})
	}
}

func testBurst(t *testing.T, e env) {
	lim := Limit{Requests: 25, Per: 5 * time.Second}
	l := e.limiter()
	for i := 0; i < lim.Requests+5; i++ {
		d := mustAllow(t, l, "k", lim)
		if d.Limit != lim {
			t.Fatalf("request %d: Limit = %+v, want %+v", i, d.Limit, lim)
		}
		if i < lim.Requests {
			if !d.Allowed {
				t.Fatalf("request %d refused; want the first %d admitted", i, lim.Requests)
			}
			if want := lim.Requests - i - 1; d.Remaining != want {
				t.Fatalf("request %d: Remaining = %d, want %d", i, d.Remaining, want)
			}
			if d.RetryAfter != 0 {
				t.Fatalf("request %d: RetryAfter = %v, want 0 when admitted", i, d.RetryAfter)
			}
			checkWithin(t, e, "Reset", d.Reset, lim.Per, lim.Per)
			continue
		}
		if d.Allowed {
			t.Fatalf("request %d admitted; want only %d of a burst", i, lim.Requests)
		}
		if d.Remaining != 0 {
			t.Fatalf("request %d: Remaining = %d, want 0", i, d.Remaining)
		}
		checkWithin(t, e, "RetryAfter", d.RetryAfter, lim.Per, lim.Per)
		if d.Reset != d.RetryAfter {
			t.Fatalf("request %d: Reset %v != RetryAfter %v when refused", i, d.Reset, d.RetryAfter)
		}
	}
}

func testKeysIndependent(t *testing.T, e env) {
	lim := Limit{Requests: 3, Per: 5 * time.Second}
	l := e.limiter()
	for i := 0; i < lim.Requests; i++ {
		if d := mustAllow(t, l, "a", lim); !d.Allowed {
			t.Fatalf("a request %d refused", i)
		}
	}
	if d := mustAllow(t, l, "a", lim); d.Allowed {
		t.Fatalf("a admitted over its limit")
	}
	for i := 0; i < lim.Requests; i++ {
		if d := mustAllow(t, l, "b", lim); !d.Allowed {
			t.Fatalf("b request %d refused after a was exhausted", i)
		}
	}
}

// testSliding checks the window slides request by request rather than
// resetting all at once as a fixed window would. On a real clock the
// window is long enough that a loaded machine's scheduling delays (tens of
// milliseconds under -race) stay well inside its halves.
func testSliding(t *testing.T, e env) {
	lim := Limit{Requests: 3, Per: 600 * time.Millisecond}
	half := lim.Per / 2
	l := e.limiter()
	if d := mustAllow(t, l, "k", lim); !d.Allowed {
		t.Fatalf("first request refused")
	}
	e.advance(half)
	for i := 0; i < 2; i++ {
		if d := mustAllow(t, l, "k", lim); !d.Allowed {
			t.Fatalf("request %d at half window refused", i+2)
		}
	}
	d := mustAllow(t, l, "k", lim)
	if d.Allowed {
		t.Fatalf("fourth request admitted within the window")
	}
	checkWithin(t, e, "RetryAfter", d.RetryAfter, half, lim.Per)

	// Once the first admission leaves, exactly one slot opens.
	wait := d.RetryAfter
	if !e.exact {
		wait += 20 * time.Millisecond
	}
	e.advance(wait)
	d = mustAllow(t, l, "k", lim)
	if !d.Allowed {
		t.Fatalf("request refused after the oldest admission left (waited %v)", wait)
	}
	// Reset is when the next slot frees (the two half-window admissions
	// leave), not when the one just made leaves and a full Limit is back.
	checkWithin(t, e, "Reset after the window slid", d.Reset, half, lim.Per*5/6)
	d = mustAllow(t, l, "k", lim)
	if d.Allowed {
		t.Fatalf("second request admitted though only one admission left the window")
	}
	checkWithin(t, e, "RetryAfter", d.RetryAfter, half, lim.Per)

	e.advance(lim.Per)
	for i := 0; i < lim.Requests; i++ {
		if d := mustAllow(t, l, "k", lim); !d.Allowed {
			t.Fatalf("request %d refused after a whole window passed", i)
		}
	}
}

func testConcurrentReplicas(t *testing.T, e env) {
	const (
		goroutinesPerReplica = 8
		total                = 60
	)
	lim := Limit{Requests: 25, Per: 5 * time.Second}
	var issued, admitted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, total)
	for _, l := range e.replicas(2) {
		for g := 0; g < goroutinesPerReplica; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for issued.Add(1) <= total {
					d, err := l.Allow(context.Background(), "shared", lim)
					if err != nil {
						errs <- err
						return
					}
					if d.Allowed {
						admitted.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Allow: %v", err)
	}
	if got := admitted.Load(); got != int64(lim.Requests) {
		t.Fatalf("admitted %d of %d concurrent requests, want exactly %d", got, total, lim.Requests)
	}
}

// testLoweredLimit is a config reload that lowers a limit: the admissions
// already made count against the new one.
func testLoweredLimit(t *testing.T, e env) {
	l := e.limiter()
	high := Limit{Requests: 5, Per: 5 * time.Second}
	for i := 0; i < high.Requests; i++ {
		if d := mustAllow(t, l, "k", high); !d.Allowed {
			t.Fatalf("request %d refused under the high limit", i)
		}
	}
	low := Limit{Requests: 3, Per: 5 * time.Second}
	d := mustAllow(t, l, "k", low)
	if d.Allowed || d.Remaining != 0 {
		t.Fatalf("after lowering: Allowed=%v Remaining=%d, want refused with 0", d.Allowed, d.Remaining)
	}
	checkWithin(t, e, "RetryAfter", d.RetryAfter, low.Per, low.Per)
}

func testInvalidLimit(t *testing.T, e env) {
	l := e.limiter()
	for _, lim := range []Limit{{0, time.Second}, {-1, time.Second}, {5, 0}, {5, -time.Second}} {
		if _, err := l.Allow(context.Background(), "k", lim); !errors.Is(err, ErrInvalidLimit) {
			t.Fatalf("Allow(%+v) error = %v, want ErrInvalidLimit", lim, err)
		}
	}
}

// model is the sliding-window log written the obvious way, to check Local
// against decision by decision.
type model struct {
	admitted map[string][]time.Time
}

func (m *model) allow(now time.Time, key string, lim Limit) Decision {
	var kept []time.Time
	for _, at := range m.admitted[key] {
		if now.Sub(at) < lim.Per {
			kept = append(kept, at)
		}
	}
	d := Decision{Limit: lim}
	if len(kept) < lim.Requests {
		kept = append(kept, now)
		d.Allowed = true
		d.Remaining = lim.Requests - len(kept)
		d.Reset = kept[0].Add(lim.Per).Sub(now)
	} else {
		d.Reset = kept[len(kept)-lim.Requests].Add(lim.Per).Sub(now)
		d.RetryAfter = d.Reset
	}
	m.admitted[key] = kept
	return d
}

// TestLocalMatchesModel drives Local and the model with the same random
// arrivals over many keys, with sweeps forced often, and requires identical
// decisions: exact means neither more nor fewer admissions.
func TestLocalMatchesModel(t *testing.T) {
	clock := newFakeClock()
	l := NewLocal(LocalOptions{Now: clock.Now})
	for i := range l.shards {
		l.shards[i].sweepSize = 1
	}
	m := &model{admitted: map[string][]time.Time{}}
	rng := rand.New(rand.NewPCG(1, 2))
	// Keys k0-k9, k10-k99 and k100-k399 have a window each; a rare reload
	// changes the number of requests (the model, like Local, keeps
	// counting admissions across such a change).
	limits := [][2]Limit{
		{{3, time.Second}, {1, time.Second}},
		{{25, 5 * time.Second}, {10, 5 * time.Second}},
		{{1, 300 * time.Millisecond}, {2, 300 * time.Millisecond}},
	}
	for i := 0; i < 20000; i++ {
		clock.Advance(time.Duration(rng.IntN(int(60 * time.Millisecond))))
		key := "k" + strconv.Itoa(rng.IntN(400))
		lim := limits[len(key)-2][rng.IntN(50)/49]
		got := mustAllow(t, l, key, lim)
		want := m.allow(clock.Now(), key, lim)
		if got != want {
			t.Fatalf("request %d (%s, %+v): got %+v, want %+v", i, key, lim, got, want)
		}
	}
}

// TestLocalDropsIdleKeys is the memory bound: keys whose window has passed
// are dropped as new keys arrive, while active keys keep their log.
func TestLocalDropsIdleKeys(t *testing.T) {
	clock := newFakeClock()
	l := NewLocal(LocalOptions{Now: clock.Now})
	lim := Limit{Requests: 1, Per: time.Second}
	const n = 50000
	for i := 0; i < n; i++ {
		mustAllow(t, l, "old"+strconv.Itoa(i), lim)
	}
	clock.Advance(2 * lim.Per)
	for i := 0; i < n; i++ {
		mustAllow(t, l, "new"+strconv.Itoa(i), lim)
	}
	if got := l.len(); got >= 2*n*3/4 {
		t.Fatalf("holding %d keys after %d went idle, want well under %d", got, n, 2*n)
	}
	for i := 0; i < n; i += 997 {
		if d := mustAllow(t, l, "new"+strconv.Itoa(i), lim); d.Allowed {
			t.Fatalf("active key new%d forgotten: second request admitted", i)
		}
	}
}

// TestRedisRollingWindowProperty fires random arrivals from several
// goroutines on two replicas and checks the admissions on Redis's own
// clock: no rolling window holds more than the limit, and every refusal
// happened with the window full.
func TestRedisRollingWindowProperty(t *testing.T) {
	srv := redistest.Start(t)
	lim := Limit{Requests: 5, Per: 200 * time.Millisecond}
	type result struct {
		at      time.Time
		allowed bool
	}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
	)
	for r := 0; r < 2; r++ {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		defer c.Close()
		l := NewRedis(c, RedisOptions{})
		for g := 0; g < 3; g++ {
			rng := rand.New(rand.NewPCG(uint64(r), uint64(g)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					time.Sleep(time.Duration(rng.IntN(int(20 * time.Millisecond))))
					d, at, err := l.allow(context.Background(), "p", lim)
					if err != nil {
						t.Errorf("allow: %v", err)
						return
					}
					mu.Lock()
					results = append(results, result{at, d.Allowed})
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var admitted []time.Time
	for _, r := range results {
		if r.allowed {
			admitted = append(admitted, r.at)
		}
	}
	sort.Slice(admitted, func(i, j int) bool { return admitted[i].Before(admitted[j]) })
	if len(admitted) <= lim.Requests || len(admitted) == len(results) {
		t.Fatalf("admitted %d of %d: the run did not exercise the limit", len(admitted), len(results))
	}
	for i := 0; i+lim.Requests < len(admitted); i++ {
		if span := admitted[i+lim.Requests].Sub(admitted[i]); span < lim.Per {
			t.Fatalf("%d admissions within %v (from %v), limit %d per %v", lim.Requests+1, span, admitted[i], lim.Requests, lim.Per)
		}
	}
	for _, r := range results {
		if r.allowed {
			continue
		}
		inWindow := 0
		for _, at := range admitted {
			if !at.After(r.at) && r.at.Sub(at) < lim.Per {
				inWindow++
			}
		}
		if inWindow < lim.Requests {
			t.Fatalf("refused at %v with only %d admissions in the window", r.at, inWindow)
		}
	}
}

func TestRedisKeyAndExpiry(t *testing.T) {
	srv := redistest.Start(t)
	l := NewRedis(srv.Client(), RedisOptions{})
	lim := Limit{Requests: 2, Per: 3 * time.Second}
	_, at, err := l.allow(context.Background(), "website|203.0.113.9", lim)
	if err != nil {
		t.Fatalf("allow: %v", err)
	}
	const key = "lg:{gw}:rl:website|203.0.113.9"
	if got := l.Key("website|203.0.113.9"); got != key {
		t.Fatalf("Key = %q, want %q", got, key)
	}
	ctx := context.Background()
	ttl, err := srv.Client().PTTL(ctx, key).Result()
	if err != nil {
		t.Fatalf("pttl: %v", err)
	}
	if ttl <= 0 || ttl > lim.Per+time.Millisecond {
		t.Fatalf("PTTL = %v, want in (0, %v]", ttl, lim.Per+time.Millisecond)
	}
	// The score must keep the microsecond exactly: a number rounded on its
	// way from Lua into ZADD would shift the window's edge.
	log, err := srv.Client().ZRangeWithScores(ctx, key, 0, -1).Result()
	if err != nil || len(log) != 1 {
		t.Fatalf("window log = %v, %v; want one admission", log, err)
	}
	if got := int64(log[0].Score); got != at.UnixMicro() {
		t.Fatalf("admission scored %d, want Redis TIME %d", got, at.UnixMicro())
	}
}

// TestRedisDatabaseInURL: gateways kept apart by the database number of
// redis.url (redis://host/1, /2) must not share windows. main builds its
// client with redis.ParseURL, which selects that database on every
// connection.
func TestRedisDatabaseInURL(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	lim := Limit{Requests: 1, Per: 5 * time.Second}
	key := NewRedis(srv.Client(), RedisOptions{}).Key("k")
	for _, db := range []int{1, 2} {
		opt, err := redis.ParseURL("redis://" + srv.Addr() + "/" + strconv.Itoa(db))
		if err != nil {
			t.Fatalf("parse URL: %v", err)
		}
		c := redis.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		if d := mustAllow(t, NewRedis(c, RedisOptions{}), "k", lim); !d.Allowed {
			t.Fatalf("database %d: the first request was refused: the databases share a window", db)
		}
		if n, err := c.Exists(ctx, key).Result(); err != nil || n != 1 {
			t.Fatalf("database %d holds %q: %d, %v; want 1", db, key, n, err)
		}
	}
	if n, err := srv.Client().Exists(ctx, key).Result(); err != nil || n != 0 {
		t.Fatalf("database 0 holds %q: %d, %v; want 0", key, n, err)
	}
}

// TestRedisScriptReload: after SCRIPT FLUSH (a Redis restart or failover)
// EVALSHA fails with NOSCRIPT and the limiter must load the script again.
func TestRedisScriptReload(t *testing.T) {
	srv := redistest.Start(t)
	l := NewRedis(srv.Client(), RedisOptions{})
	lim := Limit{Requests: 2, Per: 5 * time.Second}
	mustAllow(t, l, "k", lim)
	if err := srv.Client().ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatalf("script flush: %v", err)
	}
	if d := mustAllow(t, l, "k", lim); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after flush: %+v, want admitted with 0 remaining", d)
	}
}

func TestRedisUnreachable(t *testing.T) {
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	l := NewRedis(c, RedisOptions{})
	srv.Kill()
	if _, err := l.Allow(context.Background(), "k", Limit{Requests: 1, Per: time.Second}); err == nil {
		t.Fatalf("Allow with Redis down: nil error, want one")
	}
}

func TestHeaders(t *testing.T) {
	lim := Limit{Requests: 25, Per: 5 * time.Second}
	tests := []struct {
		name       string
		d          Decision
		policy     string
		wantPolicy string
		wantLimit  string
	}{
		{"admitted", Decision{Allowed: true, Limit: lim, Remaining: 24, Reset: 5 * time.Second}, "inbound",
			`"inbound";q=25;w=5`, `"inbound";r=24;t=5`},
		{"reset rounds up", Decision{Allowed: true, Limit: lim, Remaining: 3, Reset: 1200 * time.Millisecond}, "website",
			`"website";q=25;w=5`, `"website";r=3;t=2`},
		{"refused", Decision{Limit: lim, Reset: 4001 * time.Millisecond, RetryAfter: 4001 * time.Millisecond}, "api",
			`"api";q=25;w=5`, `"api";r=0;t=5`},
		{"sub-second window is one second", Decision{Allowed: true, Limit: Limit{10, 200 * time.Millisecond}, Remaining: 9, Reset: 200 * time.Millisecond}, "p",
			`"p";q=10;w=1`, `"p";r=9;t=1`},
		{"minute window", Decision{Allowed: true, Limit: Limit{100, time.Minute}, Remaining: 0, Reset: 59*time.Second + time.Nanosecond}, "p",
			`"p";q=100;w=60`, `"p";r=0;t=60`},
		{"policy escaped", Decision{Allowed: true, Limit: lim, Remaining: 1, Reset: time.Second}, `a"b\c é`,
			`"a\"b\\c __";q=25;w=5`, `"a\"b\\c __";r=1;t=1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotPolicy, gotLimit := Headers(tt.d, tt.policy)
			if gotPolicy != tt.wantPolicy {
				t.Fatalf("RateLimit-Policy = %s, want %s", gotPolicy, tt.wantPolicy)
			}
			if gotLimit != tt.wantLimit {
				t.Fatalf("RateLimit = %s, want %s", gotLimit, tt.wantLimit)
			}
		})
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		retryAfter time.Duration
		want       int
	}{
		{0, 1},
		{time.Millisecond, 1},
		{time.Second, 1},
		{time.Second + time.Millisecond, 2},
		{4200 * time.Millisecond, 5},
		{time.Hour, 3600},
	}
	for _, tt := range tests {
		t.Run(tt.retryAfter.String(), func(t *testing.T) {
			if got := RetryAfterSeconds(Decision{RetryAfter: tt.retryAfter}); got != tt.want {
				t.Fatalf("RetryAfterSeconds(%v) = %d, want %d", tt.retryAfter, got, tt.want)
			}
		})
	}
}

// limiterFunc fakes a Limiter in tests.
type limiterFunc func(ctx context.Context, key string, l Limit) (Decision, error)

func (f limiterFunc) Allow(ctx context.Context, key string, l Limit) (Decision, error) {
	return f(ctx, key, l)
}

func TestWait(t *testing.T) {
	lim := Limit{Requests: 1, Per: time.Second}
	errDown := errors.New("redis down")
	tests := []struct {
		name      string
		cancelled bool // context cancelled before Wait
		// answer is the limiter's reply to call n (from 1); cancel ends
		// the context during that call.
		answer    func(n int, cancel context.CancelFunc) (Decision, error)
		wantErr   error
		wantCalls int
	}{
		{"admitted at once", false, func(int, context.CancelFunc) (Decision, error) {
			return Decision{Allowed: true}, nil
		}, nil, 1},
		{"waits through refusals", false, func(n int, _ context.CancelFunc) (Decision, error) {
			if n < 3 {
				return Decision{RetryAfter: time.Millisecond}, nil
			}
			return Decision{Allowed: true}, nil
		}, nil, 3},
		{"zero retry-after does not spin forever", false, func(n int, _ context.CancelFunc) (Decision, error) {
			return Decision{Allowed: n > 1}, nil
		}, nil, 2},
		{"cancelled while waiting", false, func(_ int, cancel context.CancelFunc) (Decision, error) {
			cancel()
			return Decision{RetryAfter: time.Hour}, nil
		}, context.Canceled, 1},
		{"cancelled before asking", true, func(int, context.CancelFunc) (Decision, error) {
			return Decision{Allowed: true}, nil
		}, context.Canceled, 0},
		{"limiter error", false, func(int, context.CancelFunc) (Decision, error) {
			return Decision{}, errDown
		}, errDown, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelled {
				cancel()
			}
			calls := 0
			l := limiterFunc(func(_ context.Context, key string, got Limit) (Decision, error) {
				calls++
				if key != "dest" || got != lim {
					t.Errorf("Allow(%q, %+v), want (dest, %+v)", key, got, lim)
				}
				return tt.answer(calls, cancel)
			})
			err := Wait(ctx, l, "dest", lim)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Wait error = %v, want %v", err, tt.wantErr)
			}
			if calls != tt.wantCalls {
				t.Fatalf("Allow called %d times, want %d", calls, tt.wantCalls)
			}
		})
	}
}

// TestWaitPacesRedis runs Wait for more work than one window admits, from
// two replicas, and checks nothing is dropped and the limit holds on Redis's
// clock.
func TestWaitPacesRedis(t *testing.T) {
	srv := redistest.Start(t)
	lim := Limit{Requests: 4, Per: 150 * time.Millisecond}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var done int
	for r := 0; r < 2; r++ {
		l := NewRedis(srv.Client(), RedisOptions{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				if err := Wait(context.Background(), l, "dest", lim); err != nil {
					t.Errorf("Wait: %v", err)
					return
				}
				mu.Lock()
				done++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if done != 10 {
		t.Fatalf("%d of 10 waits completed", done)
	}
	// Every admission is in the window's log until it expires: the last
	// window can hold no more than the limit.
	n, err := srv.Client().ZCard(context.Background(), NewRedis(srv.Client(), RedisOptions{}).Key("dest")).Result()
	if err != nil || n > int64(lim.Requests) {
		t.Fatalf("window holds %d admissions, %v; want at most %d", n, err, lim.Requests)
	}
}

func BenchmarkLocalAllowParallel(b *testing.B) {
	l := NewLocal(LocalOptions{})
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "website|198.51.100." + strconv.Itoa(i)
	}
	lim := Limit{Requests: 25, Per: 5 * time.Second}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(keys))
		for pb.Next() {
			if _, err := l.Allow(ctx, keys[i%len(keys)], lim); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkRedisAllow(b *testing.B) {
	srv := redistest.Start(b)
	l := NewRedis(srv.Client(), RedisOptions{})
	lim := Limit{Requests: 25, Per: 5 * time.Second}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := l.Allow(ctx, "website|198.51.100."+strconv.Itoa(i%1024), lim); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRedisRerunStaysAdmitted: the same check run twice (go-redis re-sends
// a pipeline whose reply was lost) admits once and answers the same both
// times, instead of refusing the request because of its own admission.
func TestRedisRerunStaysAdmitted(t *testing.T) {
	srv := redistest.Start(t)
	l := NewRedis(srv.Client(), RedisOptions{})
	ctx := context.Background()
	lim := Limit{Requests: 2, Per: time.Minute}
	if d, err := l.Allow(ctx, "rerun", lim); err != nil || !d.Allowed {
		t.Fatalf("first request: %+v, %v", d, err)
	}
	c, err := l.Check("rerun", lim)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the last slot, then the same request again
		res, err := slidingWindow.Run(ctx, srv.Client(), []string{c.Key}, c.Args()...).Int64Slice()
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		d, _, err := c.Decision(res)
		if err != nil || !d.Allowed || d.Remaining != 0 {
			t.Fatalf("run %d of one request: %+v, %v; want admitted with 0 remaining", i, d, err)
		}
	}
	if n, err := srv.Client().ZCard(ctx, c.Key).Result(); err != nil || n != 2 {
		t.Fatalf("window holds %d, %v; want 2", n, err)
	}
	if d, err := l.Allow(ctx, "rerun", lim); err != nil || d.Allowed || d.RetryAfter <= 0 {
		t.Fatalf("a new request over the limit: %+v, %v; want refused with a retry-after", d, err)
	}
	if n, err := srv.Client().ZCard(ctx, c.Key).Result(); err != nil || n != 2 {
		t.Fatalf("after a refusal the window holds %d, %v; want still 2", n, err)
	}
}

// peeker is what both backends add to Limiter for callers that count only
// some outcomes.
type peeker interface {
	Limiter
	Peek(ctx context.Context, key string, l Limit) (Decision, error)
}

var (
	_ peeker = (*Local)(nil)
	_ peeker = (*Redis)(nil)
)

// TestPeek: Peek answers as Allow would and records nothing, on both
// backends and across replicas.
func TestPeek(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := b.start(t)(t)
			rs := e.replicas(2)
			a, p := rs[0].(peeker), rs[1].(peeker)
			lim := Limit{Requests: 3, Per: time.Minute}
			peek := func(want bool, remaining int) {
				t.Helper()
				for range 5 { // asking again changes nothing
					d, err := p.Peek(context.Background(), "k", lim)
					if err != nil {
						t.Fatal(err)
					}
					if d.Allowed != want || d.Remaining != remaining || d.Limit != lim {
						t.Fatalf("Peek = %+v, want allowed %v, remaining %d", d, want, remaining)
					}
					if !want && (d.RetryAfter <= 0 || d.RetryAfter > lim.Per) {
						t.Fatalf("Peek RetryAfter = %v, want in (0, %v]", d.RetryAfter, lim.Per)
					}
				}
			}
			peek(true, 3)
			for i := range lim.Requests {
				mustAllow(t, a, "k", lim)
				if i < lim.Requests-1 {
					peek(true, lim.Requests-i-1)
				}
			}
			peek(false, 0)
			if d := mustAllow(t, a, "k", lim); d.Allowed {
				t.Fatal("Allow admitted over the limit after Peeks")
			}
			if _, err := p.Peek(context.Background(), "k", Limit{}); !errors.Is(err, ErrInvalidLimit) {
				t.Fatalf("Peek with an invalid limit: %v", err)
			}
		})
	}
}

func TestAddress(t *testing.T) {
	tests := []struct{ in, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not-an-ip", "not-an-ip"},
	}
	for _, tt := range tests {
		if got := Address(tt.in); got != tt.want {
			t.Errorf("Address(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
