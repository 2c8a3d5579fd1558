package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"leadgate/gateway/internal/groupcommit"
)

// batcher sends the writes of concurrent Ingests to Redis together: each
// worker takes whatever writes are waiting and sends them as one run of
// writeScript (group commit), which decides them in order and shares their
// common commands, so Redis runs a handful of commands per request instead
// of a script each, and one system call and one Redis wakeup serve many
// requests. A worker never waits for a batch to fill: a lone request goes
// out at once, and batches grow only while Redis is busy.
type batcher struct {
	rdb  redis.UniversalClient
	w    writeKeys
	acks replicaAcks
	ch   chan *call
	quit chan struct{}
	wg   sync.WaitGroup
}

// writeKeys is what every writeScript run of one store shares.
type writeKeys struct {
	base    string // key prefix, "lg:{p}:"
	idx     string
	pending string
	leads   string
	done    string // the finished events, for SweepEvents
}

// call is one Ingest's write waiting for its batch: its block of
// writeScript's ARGV (see there), its length first.
type call struct {
	block []any
	reply []string
	err   error
	done  chan struct{}
}

// maxBatch bounds one run so a burst cannot make one long script: Redis
// answers nothing else while one runs, so every request waits behind it.
// A new lead costs the script about 60 µs, so 16 stay near 1 ms. Under
// steady load batches hold fewer (about 9 with 64 connections on the 4
// workers); the cap binds after a stall, when 64 waiting writes become 4
// scripts the workers send back to back instead of one four times as long.
const maxBatch = 16

func newBatcher(rdb redis.UniversalClient, w writeKeys, acks replicaAcks, workers int) *batcher {
	b := &batcher{rdb: rdb, w: w, acks: acks, ch: make(chan *call, workers*maxBatch), quit: make(chan struct{})}
	for range workers {
		b.wg.Add(1)
		go b.work()
	}
	return b
}

// write runs one Ingest's block in the batch's writeScript and answers its
// part of the reply (see there): at least the status and five limit fields.
func (b *batcher) write(ctx context.Context, block []any) ([]string, error) {
	c := &call{block: block, done: make(chan struct{})}
	select {
	case b.ch <- c:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.quit:
		return nil, redis.ErrClosed
	}
	select {
	case <-c.done:
	case <-b.quit:
		return nil, redis.ErrClosed
	case <-ctx.Done():
		// The script may still run; a write is safe to have applied once
		// without its caller seeing the answer.
		return nil, ctx.Err()
	}
	if c.err != nil {
		return nil, c.err
	}
	if len(c.reply) < 6 {
		return nil, fmt.Errorf("ingest: write lead: reply %q", c.reply)
	}
	return c.reply, nil
}

// work sends batches of the writes waiting (groupcommit.Until) until close:
// callers may still hold the channel, so it is stopped, never closed.
func (b *batcher) work() {
	defer b.wg.Done()
	groupcommit.Until(b.ch, b.quit, maxBatch, b.send)
}

// send runs one batch. Script.Run sends the script's text when Redis
// answers NOSCRIPT (it forgets scripts when it restarts). With replica
// acknowledgements required, one WAIT follows the batch (see writeAcked).
func (b *batcher) send(batch []*call) {
	keys, args := b.writeRun(batch)
	ctx := context.Background()
	var (
		reply string
		err   error
	)
	if b.acks.n > 0 {
		reply, err = b.writeAcked(ctx, keys, args)
	} else {
		reply, err = writeScript.Run(ctx, b.rdb, keys, args...).Text()
	}
	splitWrites(batch, reply, err)
}

// writeRun builds one writeScript run from the batch's writes, under a
// fresh reply key.
func (b *batcher) writeRun(writes []*call) ([]string, []any) {
	n := 3
	for _, c := range writes {
		n += len(c.block)
	}
	args := make([]any, 0, n)
	args = append(args, b.w.base, b.w.done, len(writes))
	for _, c := range writes {
		args = append(args, c.block...)
	}
	return []string{b.w.idx, b.w.base + "wb:" + newToken(), b.w.pending, b.w.leads}, args
}

// splitWrites hands each write its part of writeScript's reply: its line,
// split into fields.
func splitWrites(writes []*call, reply string, err error) {
	var lines []string
	if err == nil {
		if lines = strings.Split(reply, "\n"); len(lines) != len(writes) {
			err = fmt.Errorf("ingest: write lead: %d answers for %d writes", len(lines), len(writes))
		}
	}
	for i, c := range writes {
		c.err = err
		if err == nil {
			c.reply = strings.Split(lines[i], "\t")
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
