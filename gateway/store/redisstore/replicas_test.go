package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"leadgate/gateway/redistest"
	"leadgate/gateway/store"
	"leadgate/gateway/store/redisstore"
	"leadgate/gateway/store/storetest"
)

// TestMinReplicasAcked: with MinReplicasAcked 1 an accepted lead is on the
// replica by the time Ingest returns; with the replica gone Ingest answers
// ErrUnavailable after the timeout, though the primary may keep the write,
// so the sender's retry is a duplicate of the same lead once a replica is
// back; asking for more replicas than there are never succeeds.
func TestMinReplicasAcked(t *testing.T) {
	primary := redistest.Start(t)
	replica := redistest.Start(t, redistest.WithReplicaOf(primary))
	redistest.WaitReplicaInSync(t, replica)
	ctx := context.Background()
	prefix := newPrefix()
	openAcked := func(n int) *redisstore.Store {
		s, err := redisstore.Open(ctx, primary.URL(), redisstore.Options{Prefix: prefix, MinReplicasAcked: n, ReplicaAckTimeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	s := openAcked(1)
	now := time.Now()
	for i := range 20 {
		res, err := s.Ingest(ctx, request(now, "acked"+string(rune('a'+i))+"@example.com"))
		if err != nil {
			t.Fatalf("ingest %d: %v", i, err)
		}
		// Read the replica's own copy: no wait for replication here.
		n, err := replica.Client().Exists(ctx, "lg:{"+prefix+"}:lead:"+res.LeadID).Result()
		if err != nil || n != 1 {
			t.Fatalf("lead %s on the replica right after Ingest: exists = %d, %v", res.LeadID, n, err)
		}
	}

	if _, err := openAcked(2).Ingest(ctx, request(now, "two@example.com")); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("ingest with 2 replicas required and 1 there: %v, want ErrUnavailable", err)
	}

	replica.Stop()
	req := request(now, "alone@example.com")
	req.DedupeKey, req.DedupeTTL = "alone", time.Minute
	if _, err := s.Ingest(ctx, req); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("ingest with the replica down: %v, want ErrUnavailable", err)
	}
	replica.Restart()
	redistest.WaitReplicaInSync(t, replica)
	res, err := s.Ingest(ctx, req)
	if err != nil {
		t.Fatalf("retry once the replica is back: %v", err)
	}
	if !res.Duplicate {
		t.Errorf("retry = %+v, want a duplicate of the lead the primary kept", res)
	}
}

// TestConformanceOnCluster runs the store's conformance suite on a real
// three-node Redis Cluster: every script's keys share the store's hash
// tag, so each runs on the one node that owns that slot.
func TestConformanceOnCluster(t *testing.T) {
	nodes := redistest.StartCluster(t, 3, 0)
	url := redistest.ClusterURL(nodes...)
	storetest.Run(t, func(t *testing.T) storetest.Open {
		prefix := newPrefix()
		return func(t *testing.T) store.Store { return open(t, url, prefix) }
	})
}

// TestMinReplicasAckedOnCluster: on a Cluster the WAIT goes to the primary
// that owns the store's slot, on the connection of its write, so the lead
// is on that primary's replica when Ingest returns.
func TestMinReplicasAckedOnCluster(t *testing.T) {
	nodes := redistest.StartCluster(t, 3, 1)
	ctx := context.Background()
	prefix := newPrefix()
	s, err := redisstore.Open(ctx, redistest.ClusterURL(nodes...), redisstore.Options{Prefix: prefix, MinReplicasAcked: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Ingest(ctx, request(time.Now(), "cluster@example.com"))
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	key := "lg:{" + prefix + "}:lead:" + res.LeadID
	replicas := 0
	for _, n := range nodes {
		role, err := n.Client().Do(ctx, "role").Slice()
		if err != nil {
			t.Fatal(err)
		}
		if role[0] != "slave" {
			continue
		}
		// READONLY lets a replica answer for its primary's slots.
		c := n.Client().Conn()
		defer c.Close()
		if err := c.ReadOnly(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if got, err := c.Exists(ctx, key).Result(); err == nil && got == 1 {
			replicas++
		}
	}
	if replicas != 1 {
		t.Fatalf("the lead is on %d replicas right after Ingest, want 1 (its slot's)", replicas)
	}

	// Two acknowledgements from a primary with one replica never come.
	s2, err := redisstore.Open(ctx, redistest.ClusterURL(nodes...), redisstore.Options{Prefix: prefix, MinReplicasAcked: 2, ReplicaAckTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Ingest(ctx, request(time.Now(), "cluster2@example.com")); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("ingest with 2 replicas required: %v, want ErrUnavailable", err)
	}
}
