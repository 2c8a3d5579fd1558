package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestSentinelsFailOver: a replica follows its primary, three Sentinels
// find each other and the replica, and when the primary dies they promote
// the replica, which a failover client then reaches.
func TestSentinelsFailOver(t *testing.T) {
	primary := Start(t)
	replica := Start(t, WithReplicaOf(primary))
	WaitReplicaInSync(t, replica)
	ctx := context.Background()
	if err := primary.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := primary.Client().Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v; want 1", n, err)
	}
	sentinels := []*Server{StartSentinel(t, primary, "m", 2), StartSentinel(t, primary, "m", 2), StartSentinel(t, primary, "m", 2)}
	WaitSentinelsReady(t, "m", 1, sentinels...)

	primary.Kill()
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "m", SentinelAddrs: []string{sentinels[0].Addr(), sentinels[1].Addr(), sentinels[2].Addr()}})
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Set(ctx, "k2", "v2", 0).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no primary 30 s after the kill: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got, err := replica.Client().Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("promoted replica: k = %q, %v; want v", got, err)
	}
	if role, err := replica.Client().Do(ctx, "role").Slice(); err != nil || role[0] != "master" {
		t.Fatalf("replica's role = %v, %v; want master", role, err)
	}
}

// TestClusterSpreadsSlots: three nodes share the slots, and a cluster
// client reaches keys on each of them.
func TestClusterSpreadsSlots(t *testing.T) {
	nodes := StartCluster(t, 3, 0)
	o, err := redis.ParseClusterURL("redis://" + nodes[0].Addr())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClusterClient(o)
	defer c.Close()
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		if err := c.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
	}
	for _, n := range nodes {
		size, err := n.Client().DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if size == 0 {
			t.Errorf("node %s holds no key of six", n.Addr())
		}
	}
}
