package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timings of the Sentinels StartSentinel launches: a primary silent for
// SentinelDownAfter is down, and a failover that stalls is retried after
// sentinelFailoverTimeout. Production uses seconds to tens of seconds; a
// test wants its failover over quickly.
const (
	SentinelDownAfter       = 1000 * time.Millisecond
	sentinelFailoverTimeout = 5 * time.Second
)

// WithReplicaOf makes the server a replica of primary.
func WithReplicaOf(primary *Server) Option {
	return func(c *config) { c.replicaOf = primary.Addr() }
}

// topologyArgs are the command-line options of a replica or Cluster node.
func (c *config) topologyArgs() []string {
	var args []string
	if c.replicaOf != "" {
		host, port, _ := net.SplitHostPort(c.replicaOf)
		args = append(args, "--replicaof", host, port)
	}
	if c.cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
	}
	return args
}

// StartSentinel launches a Sentinel (redis-server --sentinel) on a free
// loopback port that monitors primary under the name master, agreeing on
// a failover with quorum Sentinels. Several Sentinels on one primary find
// each other through it.
func StartSentinel(t testing.TB, primary *Server, master string, quorum int) *Server {
	t.Helper()
	line := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d %d\n", master, primary.port, quorum) +
		fmt.Sprintf("sentinel down-after-milliseconds %s %d\n", master, SentinelDownAfter.Milliseconds()) +
		fmt.Sprintf("sentinel failover-timeout %s %d\n", master, sentinelFailoverTimeout.Milliseconds()) +
		fmt.Sprintf("sentinel parallel-syncs %s 1\n", master)
	return Start(t, func(c *config) { c.sentinel = line })
}

// sentinelConf writes the Sentinel's config file (it rewrites the file as
// it learns the topology, so it must be its own and writable) once, and
// keeps it across Restart.
func (s *Server) sentinelConf() (string, error) {
	path := filepath.Join(s.cfg.dataDir, "sentinel.conf")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.WriteFile(path, []byte(s.cfg.sentinel), 0o644); err != nil {
		return "", fmt.Errorf("write sentinel config: %w", err)
	}
	return path, nil
}

// SentinelURL is redis.url for a Sentinel set: the Sentinels' addresses
// and the name they monitor, database 0.
func SentinelURL(master string, sentinels ...*Server) string {
	addrs := make([]string, len(sentinels))
	for i, s := range sentinels {
		addrs[i] = s.Addr()
	}
	return "redis-sentinel://" + strings.Join(addrs, ",") + "/0?master=" + master
}

// WaitSentinelsReady waits until every Sentinel knows the others and
// replicas replicas of master, so that a failover can be agreed and has a
// replica to promote.
func WaitSentinelsReady(t testing.TB, master string, replicas int, sentinels ...*Server) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(startTimeout)
	for _, s := range sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr()})
		defer c.Close()
		for {
			peers, err1 := c.Sentinels(ctx, master).Result()
			reps, err2 := c.Replicas(ctx, master).Result()
			if err1 == nil && err2 == nil && len(peers) >= len(sentinels)-1 && len(reps) >= replicas {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: sentinel %s sees %d sentinels (%v) and %d replicas (%v) of %s after %s", s.Addr(), len(peers), err1, len(reps), err2, master, startTimeout)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// WaitReplicaInSync waits until replica has caught up with its primary
// (master_link_status up).
func WaitReplicaInSync(t testing.TB, replica *Server) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		info, err := replica.Client().Info(context.Background(), "replication").Result()
		if err == nil && infoField(info, "master_link_status") == "up" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: replica %s not in sync after %s: %v\n%s", replica.Addr(), startTimeout, err, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StartCluster launches a Cluster of primaries primaries, each with
// replicas replicas, on free loopback ports: redis-cli joins the nodes,
// spreads the 16384 slots over the primaries and assigns the replicas;
// then StartCluster waits until every node sees the Cluster ok and every
// replica is in sync. It needs redis-cli on PATH (Debian: redis-tools,
// which redis-server brings).
func StartCluster(t testing.TB, primaries, replicas int) []*Server {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		msg := "redis-cli not found on PATH; install it (Debian/Ubuntu: apt-get install -y redis-tools) or run scripts/test.sh, which installs it"
		if Required() {
			t.Fatal(msg + " (required because CI or LEADGATE_REQUIRE_REDIS is set)")
		}
		t.Skip(msg)
	}
	nodes := make([]*Server, primaries*(1+replicas))
	args := []string{"--cluster", "create"}
	for i := range nodes {
		nodes[i] = Start(t, func(c *config) { c.cluster = true })
		args = append(args, nodes[i].Addr())
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(startTimeout)
	for _, s := range nodes {
		for {
			info, err := s.Client().ClusterInfo(context.Background()).Result()
			if err == nil && infoField(info, "cluster_state") == "ok" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster node %s not ok after %s: %v\n%s", s.Addr(), startTimeout, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if role, _ := s.Client().Do(context.Background(), "role").Slice(); len(role) > 0 && role[0] == "slave" {
			WaitReplicaInSync(t, s)
		}
	}
	return nodes
}

// ClusterURL is redis.url for a Cluster of nodes.
func ClusterURL(nodes ...*Server) string {
	addrs := make([]string, len(nodes))
	for i, s := range nodes {
		addrs[i] = s.Addr()
	}
	return "redis-cluster://" + strings.Join(addrs, ",")
}
