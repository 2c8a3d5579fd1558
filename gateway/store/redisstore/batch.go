package redisstore

import (
	"context"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// batcher sends the Ingest scripts of concurrent requests to Redis in
// pipelines: each worker takes whatever calls are waiting, sends them in one
// write and reads all replies in one read. It never waits for a batch to
// fill, so a lone request goes out at once; under load one system call and
// one Redis event-loop wakeup serve many requests, which is where most of
// the CPU of a small script goes on both sides.
type batcher struct {
	rdb  redis.UniversalClient
	ch   chan *call
	quit chan struct{}
	wg   sync.WaitGroup
}

// call is one script invocation waiting for its batch.
type call struct {
	script *redis.Script
	keys   []string
	args   []any
	reply  any
	err    error
	done   chan struct{}
}

// maxBatch bounds one pipeline so a burst cannot make one huge write.
const maxBatch = 64

func newBatcher(rdb redis.UniversalClient, workers int) *batcher {
	b := &batcher{rdb: rdb, ch: make(chan *call, workers*maxBatch), quit: make(chan struct{})}
	for range workers {
		b.wg.Add(1)
		go b.work()
	}
	return b
}

// run evaluates script through a batch and returns its reply as a
// *redis.Cmd, as script.Run would.
func (b *batcher) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	c := &call{script: script, keys: keys, args: args, done: make(chan struct{})}
	cmd := redis.NewCmd(ctx)
	select {
	case b.ch <- c:
	case <-ctx.Done():
		cmd.SetErr(ctx.Err())
		return cmd
	case <-b.quit:
		cmd.SetErr(redis.ErrClosed)
		return cmd
	}
	select {
	case <-c.done:
		cmd.SetVal(c.reply)
		cmd.SetErr(c.err)
	case <-b.quit:
		cmd.SetErr(redis.ErrClosed)
	case <-ctx.Done():
		// The script may still run; every Ingest script is safe to have
		// applied once without its caller seeing the answer.
		cmd.SetErr(ctx.Err())
	}
	return cmd
}

func (b *batcher) work() {
	defer b.wg.Done()
	batch := make([]*call, 0, maxBatch)
	for {
		select {
		case c := <-b.ch:
			batch = append(batch[:0], c)
		case <-b.quit:
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case c := <-b.ch:
				batch = append(batch, c)
			default:
				break fill
			}
		}
		b.send(batch)
	}
}

// send runs one batch. Redis forgets scripts when it restarts, so calls
// answered NOSCRIPT are sent again with the script's text.
func (b *batcher) send(batch []*call) {
	ctx := context.Background()
	pipe := b.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	for i, c := range batch {
		cmds[i] = pipe.EvalSha(ctx, c.script.Hash(), c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx)
	for i, c := range batch {
		c.reply, c.err = cmds[i].Result()
		if c.err != nil && strings.HasPrefix(c.err.Error(), "NOSCRIPT") {
			c.reply, c.err = c.script.Eval(ctx, b.rdb, c.keys, c.args...).Result()
		}
		close(c.done)
	}
}

// close stops the workers once their current batches are answered.
func (b *batcher) close() {
	close(b.quit)
	b.wg.Wait()
}
