package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultReplicaAckTimeout is how long an Ingest with MinReplicasAcked
// waits for the replicas before it gives up (503): long enough for a
// replica across a data centre to catch up, short enough that a sender is
// not left hanging while the primary has no replica.
const DefaultReplicaAckTimeout = time.Second

// errTooFewReplicas means WAIT ran out of time before enough replicas had
// the write. The write may still be on the primary (and reach replicas
// later): a sender that retries gets the same lead back as a duplicate.
var errTooFewReplicas = errors.New("too few replicas acknowledged the write")

// replicaAcks is what every write of a store waits for.
type replicaAcks struct {
	n       int
	timeout time.Duration
}

// writeAcked runs one batch's writeScript and then WAIT on the same
// connection: WAIT counts the replicas that have every write that
// connection made, so the two must not be split across the pool. One
// pipeline is one connection, and one WAIT covers the whole batch.
func (b *batcher) writeAcked(ctx context.Context, keys []string, args []any) (string, error) {
	node, err := b.primary(ctx)
	if err != nil {
		return "", err
	}
	var run *redis.Cmd
	var wait *redis.Cmd
	send := func(eval func(p redis.Pipeliner) *redis.Cmd) {
		// The pipeline's own error is its first command's; each is read
		// below.
		_, _ = node.Pipelined(ctx, func(p redis.Pipeliner) error {
			run = eval(p)
			wait = p.Do(ctx, "wait", b.acks.n, b.acks.timeout.Milliseconds())
			return nil
		})
	}
	send(func(p redis.Pipeliner) *redis.Cmd { return writeScript.EvalSha(ctx, p, keys, args...) })
	if redis.HasErrorPrefix(run.Err(), "NOSCRIPT") {
		// Redis forgot the script (a restart, a failover to a replica
		// that never loaded it): send its text.
		send(func(p redis.Pipeliner) *redis.Cmd { return writeScript.Eval(ctx, p, keys, args...) })
	}
	reply, err := run.Text()
	if err != nil {
		return "", err
	}
	got, err := wait.Int64()
	if err != nil {
		return "", fmt.Errorf("wait for replicas: %w", err)
	}
	if got < int64(b.acks.n) {
		return "", fmt.Errorf("%w: %d of %d within %s", errTooFewReplicas, got, b.acks.n, b.acks.timeout)
	}
	return reply, nil
}

// primary is the client whose connections reach the primary holding the
// store's keys: the store's own, or on a Cluster the master of their one
// slot (a keyless WAIT would otherwise go to any node).
func (b *batcher) primary(ctx context.Context) (redis.Cmdable, error) {
	cc, ok := b.rdb.(*redis.ClusterClient)
	if !ok {
		return b.rdb, nil
	}
	m, err := cc.MasterForKey(ctx, b.w.idx)
	if err != nil {
		return nil, fmt.Errorf("find the keys' master: %w", err)
	}
	return m, nil
}
