package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// batcher sends the Ingest scripts of concurrent requests to Redis
// together: each worker takes whatever calls are waiting and sends them in
// one pipeline, one write and one read. The writes of a batch go in as one
// run of writeScript (group commit), which decides them in order and shares
// their common commands, so Redis runs a handful of commands per request
// instead of a script each. A worker never waits for a batch to fill: a
// lone request goes out at once, and batches grow only when Redis is busy.
type batcher struct {
	rdb  redis.UniversalClient
	w    writeKeys
	ch   chan *call
	quit chan struct{}
	wg   sync.WaitGroup
}

// writeKeys is what every writeScript run of one store shares.
type writeKeys struct {
	base      string // key prefix, "lg:{p}:"
	idx       string
	pending   string
	retention int64 // ms
}

// call is one script invocation, or one Ingest's write (block non-nil),
// waiting for its batch.
type call struct {
	script *redis.Script
	keys   []string
	args   []any
	// block is one Ingest's part of writeScript's ARGV (see there), its
	// length first; limited says it checks a rate limit.
	block   []any
	limited bool
	reply   any
	err     error
	done    chan struct{}
}

// maxBatch bounds one pipeline so a burst cannot make one huge write.
const maxBatch = 64

func newBatcher(rdb redis.UniversalClient, w writeKeys, workers int) *batcher {
	b := &batcher{rdb: rdb, w: w, ch: make(chan *call, workers*maxBatch), quit: make(chan struct{})}
	for range workers {
		b.wg.Add(1)
		go b.work()
	}
	return b
}

// run evaluates script through a batch and returns its reply as a
// *redis.Cmd, as script.Run would.
func (b *batcher) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	return b.submit(ctx, &call{script: script, keys: keys, args: args, done: make(chan struct{})})
}

// write runs one Ingest's block in the batch's writeScript. The reply is
// its status, and with limited check()'s five numbers after it.
func (b *batcher) write(ctx context.Context, block []any, limited bool) ([]string, error) {
	cmd := b.submit(ctx, &call{block: block, limited: limited, done: make(chan struct{})})
	if err := cmd.Err(); err != nil {
		return nil, err
	}
	out, _ := cmd.Val().([]string)
	if len(out) == 0 {
		return nil, fmt.Errorf("ingest: write lead: no reply")
	}
	return out, nil
}

func (b *batcher) submit(ctx context.Context, c *call) *redis.Cmd {
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
	var writes []*call
	for i, c := range batch {
		if c.block != nil {
			writes = append(writes, c)
			continue
		}
		cmds[i] = pipe.EvalSha(ctx, c.script.Hash(), c.keys, c.args...)
	}
	var wcmd *redis.Cmd
	var wkeys []string
	var wargs []any
	if len(writes) > 0 {
		wkeys, wargs = b.writeRun(writes)
		wcmd = pipe.EvalSha(ctx, writeScript.Hash(), wkeys, wargs...)
	}
	_, _ = pipe.Exec(ctx)
	for i, c := range batch {
		if cmds[i] == nil {
			continue
		}
		c.reply, c.err = cmds[i].Result()
		if isNoScript(c.err) {
			c.reply, c.err = c.script.Eval(ctx, b.rdb, c.keys, c.args...).Result()
		}
		close(c.done)
	}
	if wcmd != nil {
		reply, err := wcmd.Text()
		if isNoScript(err) {
			reply, err = writeScript.Eval(ctx, b.rdb, wkeys, wargs...).Text()
		}
		splitWrites(writes, reply, err)
	}
}

func isNoScript(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") }

// writeRun builds one writeScript run from the batch's writes, under a
// fresh reply key.
func (b *batcher) writeRun(writes []*call) ([]string, []any) {
	n := 3
	for _, c := range writes {
		n += len(c.block)
	}
	args := make([]any, 0, n)
	args = append(args, b.w.base, b.w.retention, len(writes))
	for _, c := range writes {
		args = append(args, c.block...)
	}
	return []string{b.w.idx, b.w.base + "wb:" + newToken(), b.w.pending}, args
}

// splitWrites hands each write its part of writeScript's reply.
func splitWrites(writes []*call, reply string, err error) {
	fields := strings.Fields(reply)
	for _, c := range writes {
		c.err = err
		if err == nil {
			n := 1
			if c.limited {
				n = 6
			}
			if len(fields) < n {
				c.err = fmt.Errorf("ingest: write lead: short reply %q", reply)
			} else {
				c.reply, fields = fields[:n:n], fields[n:]
			}
		}
		close(c.done)
	}
}

// parseInts reads check()'s numbers from a write's reply.
func parseInts(fields []string) ([]int64, error) {
	nums := make([]int64, len(fields))
	for i, f := range fields {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("ingest: write lead: limit value %q: %w", f, err)
		}
		nums[i] = n
	}
	return nums, nil
}

// close stops the workers once their current batches are answered.
func (b *batcher) close() {
	close(b.quit)
	b.wg.Wait()
}
