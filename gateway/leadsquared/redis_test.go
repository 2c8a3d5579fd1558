package leadsquared

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"leadgate/gateway/deliver"
	"leadgate/gateway/metrics"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/redistest"
	"leadgate/gateway/store/redisstore"
)

// redisReplica is one gateway replica on a shared Redis: its own client,
// store and limiter, as main builds them.
func redisReplica(t *testing.T, srv *redistest.Server, limit ratelimit.Limit, onChange func([]deliver.Destination)) *harness {
	t.Helper()
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	st, err := redisstore.Open(context.Background(), srv.URL(), redisstore.Options{})
	if err != nil {
		t.Fatalf("open redis store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	m := metrics.New(prometheus.NewRegistry())
	api := New(Options{
		Store: st, Limiter: ratelimit.NewRedis(client, ratelimit.RedisOptions{}), Metrics: m,
		AccessKey: testAccess, SecretKey: testSecret, Limit: limit, OnChange: onChange,
	})
	app := fiber.New()
	api.Mount(app)
	return &harness{app: app, api: api, store: st, metrics: m}
}

// TestRedisReplicas: two replicas share one rate limit per access key and
// see each other's subscriptions.
func TestRedisReplicas(t *testing.T) {
	srv := redistest.Start(t)
	// An hour-long window keeps the burst independent of the test's speed.
	limit := ratelimit.Limit{Requests: 25, Per: time.Hour}
	remote := make(recorder, 8)
	a, b := redisReplica(t, srv, limit, nil), redisReplica(t, srv, limit, remote.fn)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { b.api.Watch(ctx, 10*time.Millisecond); close(done) }()
	if d := remote.next(t); len(d) != 0 {
		t.Fatalf("initial callback = %v", names(d))
	}

	id := a.create(t, seedBody(t))
	if d := remote.next(t); !reflect.DeepEqual(names(d), []string{"lsq-" + id}) {
		t.Fatalf("replica b after Create on a = %v", names(d))
	}
	if got := b.retrieve(t, ""); len(got) != 1 || got[0].ID != id || len(got[0].CustomHeaders) != 2 {
		t.Fatalf("Retrieve on b = %+v", got)
	}

	// Create and Retrieve above used 2 calls; alternate replicas until the
	// shared limit refuses.
	admitted, firstRefused := 2, -1
	for i := 0; i < 30; i++ {
		h := a
		if i%2 == 1 {
			h = b
		}
		code, _, _ := h.call(t, "GET", "/v2/Webhook.svc/Retrieve?"+keys, "")
		switch {
		case code == 200 && firstRefused < 0:
			admitted++
		case code == 429:
			if firstRefused < 0 {
				firstRefused = i
			}
		default:
			t.Fatalf("call %d: status %d after the first refusal at %d", i, code, firstRefused)
		}
	}
	if admitted != 25 {
		t.Fatalf("%d calls admitted across two replicas, want 25", admitted)
	}
	cancel()
	<-done
}

// TestRedisSubscriptionsSurviveRestart: a gateway restarted on the same
// Redis (new client, store and API) serves the subscriptions made before,
// deletions included, and routes to them from its first callback.
func TestRedisSubscriptionsSurviveRestart(t *testing.T) {
	srv := redistest.Start(t)
	limit := ratelimit.Limit{Requests: 100, Per: time.Hour}
	before := redisReplica(t, srv, limit, nil)
	id := before.create(t, seedBody(t))
	gone := before.create(t, `{"URL":"https://b.example.com/h","WebhookEvent":3}`)
	if code, _, _ := before.call(t, "POST", "/v2/Webhook.svc/Delete?id="+gone+"&"+keys, ""); code != 200 {
		t.Fatalf("Delete: status %d", code)
	}
	want := before.destinations(t)
	if err := before.store.Close(); err != nil {
		t.Fatal(err)
	}

	rec := make(recorder, 4)
	after := redisReplica(t, srv, limit, rec.fn)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { after.api.Watch(ctx, time.Hour); close(done) }()
	if got := rec.next(t); !reflect.DeepEqual(got, want) || len(got) != 1 || got[0].Name != "lsq-"+id {
		t.Fatalf("after a restart the first callback = %+v, want %+v", got, want)
	}
	if got := after.retrieve(t, ""); len(got) != 1 || got[0].ID != id || len(got[0].CustomHeaders) != 2 {
		t.Fatalf("Retrieve after a restart = %+v, want the seed subscription %s", got, id)
	}
	cancel()
	<-done
}
