package redisstore_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"leadgate/gateway/lead"
	"leadgate/gateway/redistest"
	"leadgate/gateway/store"
	"leadgate/gateway/store/redisstore"
)

// argBytes is a go-redis hook summing the argument bytes of the scripts
// sent (EVALSHA and EVAL), what Redis parses and the AOF repeats.
type argBytes struct{ n atomic.Int64 }

func (h *argBytes) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *argBytes) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count(cmd)
		return next(ctx, cmd)
	}
}
func (h *argBytes) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.count(c)
		}
		return next(ctx, cmds)
	}
}
func (h *argBytes) count(cmd redis.Cmder) {
	if n := cmd.Name(); n != "evalsha" && n != "eval" {
		return
	}
	for _, a := range cmd.Args()[3:] { // past the command, the script and numkeys
		switch v := a.(type) {
		case []byte:
			h.n.Add(int64(len(v)))
		case string:
			h.n.Add(int64(len(v)))
		default:
			h.n.Add(int64(len(fmt.Sprint(v))))
		}
	}
}

// infoInt reads one integer field of INFO.
func infoInt(tb testing.TB, c *redis.Client, section, field string) int64 {
	tb.Helper()
	info, err := c.Info(context.Background(), section).Result()
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// writeCalls is INFO commandstats' calls of the data commands (all but
// the scripts themselves and INFO, CONFIG and the like).
func writeCalls(tb testing.TB, c *redis.Client) map[string]int64 {
	tb.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok || !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		switch name {
		case "info", "config", "evalsha", "eval", "ping", "script", "hello", "client":
			continue
		}
		n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
		out[name] = n
	}
	return out
}

// BenchmarkWriteCost measures what accepting one new lead costs Redis in
// deterministic units: AOF bytes, script argument bytes, data commands,
// keys and used_memory per lead (form.submitted and lead.created, routed
// to one destination, not yet delivered):
//
//	go test -run '^$' -bench WriteCost -benchtime 1x ./gateway/store/redisstore
func BenchmarkWriteCost(b *testing.B) {
	for range b.N {
		srv := redistest.Start(b, redistest.WithAOF())
		c := srv.Client()
		s, err := redisstore.Open(context.Background(), srv.URL(), redisstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		args := &argBytes{}
		ingest := func(r, n int) {
			var wg sync.WaitGroup
			next := atomic.Int64{}
			for range 16 {
				wg.Go(func() {
					for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
						ingestCostLead(b, s, r*n+i)
					}
				})
			}
			wg.Wait()
		}
		const n = 5000
		ingest(0, n)
		redisstore.AddHookForTest(s, args)
		cpu0, script0 := serverCPU(b, c)
		aof, mem, keys, calls := infoInt(b, c, "persistence", "aof_current_size"), infoInt(b, c, "memory", "used_memory"), c.DBSize(context.Background()).Val(), writeCalls(b, c)
		ingest(1, n)
		cpu1, script1 := serverCPU(b, c)
		after := writeCalls(b, c)
		var total int64
		var detail []string
		for name, v := range after {
			if d := v - calls[name]; d > 0 {
				total += d
				detail = append(detail, fmt.Sprintf("%s=%.2f", name, float64(d)/n))
			}
		}
		b.Logf("commands per lead: %s", strings.Join(detail, " "))
		b.ReportMetric((cpu1-cpu0)*1e6/n, "redis-cpu-µs/lead")
		b.ReportMetric(float64(script1-script0)/n, "script-µs/lead")
		b.ReportMetric(float64(infoInt(b, c, "persistence", "aof_current_size")-aof)/n, "aof-B/lead")
		b.ReportMetric(float64(args.n.Load())/n, "arg-B/lead")
		b.ReportMetric(float64(total)/n, "cmds/lead")
		b.ReportMetric(float64(c.DBSize(context.Background()).Val()-keys)/n, "keys/lead")
		b.ReportMetric(float64(infoInt(b, c, "memory", "used_memory")-mem)/n, "mem-B/lead")
		for _, pat := range []string{"lg:{gw}:lead:*", "lg:{gw}:ev:*", "lg:{gw}:sn:*", "lg:{gw}:dup:*"} {
			ks, _, _ := c.Scan(context.Background(), 0, pat, 50).Result()
			if len(ks) > 0 {
				m := c.MemoryUsage(context.Background(), ks[0]).Val()
				h := c.HGetAll(context.Background(), ks[0]).Val()
				b.Logf("%s %d B %v", ks[0], m, h)
			}
		}
		s.Close()
	}
}

// serverCPU is redis-server's CPU seconds (user and system, INFO cpu) and
// the µs its scripts took (INFO commandstats, EVALSHA and EVAL).
func serverCPU(tb testing.TB, c *redis.Client) (float64, int64) {
	tb.Helper()
	info := c.Info(context.Background(), "cpu", "commandstats").Val()
	var cpu float64
	var script int64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "used_cpu_user", "used_cpu_sys":
			f, _ := strconv.ParseFloat(v, 64)
			cpu += f
		case "cmdstat_evalsha", "cmdstat_eval":
			_, rest, _ := strings.Cut(v, "usec=")
			us, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
			script += us
		}
	}
	return cpu, script
}

func ingestCostLead(tb testing.TB, s store.Store, i int) {
	email := fmt.Sprintf("visitor.%06d@example.com", i)
	l := lead.Lead{
		Email: email, Phone: fmt.Sprintf("+1415%07d", i), FirstName: "Jordan", LastName: "Example", FullName: "Jordan Example",
		Company: "Example Roofing LLC", Client: "example_client", Branch: "Main Branch",
		LandingPage: "https://example.com/landing/spring-offer", Score: 42,
		Fields: map[string]any{"budget": "5000", "utm_source": "google", "utm_campaign": "spring", "message": "Please call me back about a quote."},
	}
	_, err := s.Ingest(context.Background(), store.IngestRequest{Source: "website", Identity: []string{"email:" + email, "phone:" + l.Phone},
		Lead: l, Emits: []string{lead.FormSubmitted, lead.LeadCreated}, ReceivedAt: time.Now(),
		Route:     func(*lead.Event) []string { return []string{"crm"} },
		RequestID: "req-0123456789abcdef", DedupeKey: "website:" + email, DedupeTTL: 10 * time.Minute})
	if err != nil {
		tb.Error(err)
	}
}
