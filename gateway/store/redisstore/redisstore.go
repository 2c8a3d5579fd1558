// Package redisstore is the Redis backend of store.Store: the state that
// several gateway replicas share through one Redis.
//
// # Why sorted sets and not Streams or asynq
//
// The queue is one sorted set per destination scored by the time a delivery
// is due, plus one "in flight" sorted set per destination scored by the time
// its lease ends. Redis Streams with consumer groups and XAUTOCLAIM were
// considered and rejected: a stream entry cannot be delayed, so the retry
// schedule (5 s … 10 h) would need a sorted set anyway and a mover between
// the two; a stream's pending list cannot be counted by due/scheduled state
// for gateway_queue_depth; and dead-letter paging and replay would be a third
// structure. hibiken/asynq was rejected because its enqueue cannot share a
// transaction with the lead snapshot, the identity index and the duplicate
// key, so Ingest could not be atomic (a crash between the two writes would
// lose the events or deliver events of a lead that was never stored), and it
// brings its own worker model while package deliver owns the workers.
// Sorted sets give all of it in a handful of Lua scripts, each one atomic.
//
// # Ingest in one round trip, usually
//
// lead.Decide is Go code, so Ingest cannot decide inside Redis. It guesses
// instead that the payload is someone new (most are): it decides with no
// previous lead and sends one write script, which stores the snapshot,
// points every identity key at the lead, stores each event, queues one
// delivery per routed destination and records the duplicate key, all
// atomically, but only after resolving the identity keys itself by the
// identity rule (store.Resolve, in Lua) and checking that they name the
// lead Ingest assumed (none, for the guess) at the version it assumed.
// When the guess was wrong (someone known) or a concurrent write won, it
// answers CONFLICT with what a read would find (the lead the keys resolve
// to, its snapshot and version), and Ingest decides again on that and
// writes again: someone known costs two round trips. Optimistic concurrency
// without WATCH keeps each step a single round trip on pooled connections.
//
// The inbound rate limit is checked in the same write script when the
// caller sets IngestRequest.Limit (the server does when main hands it the
// Redis limiter as its WriteLimiter, which it does when LimitsIngest says so):
// ratelimit.SlidingWindowLua decides first, so a refused request writes
// nothing and an admitted one is counted once even if its write conflicts.
// A new lead thus costs one script: limit check and enqueue together.
//
// # Group commit
//
// Every write goes through a small batcher (batch.go): a few workers each
// send whatever writes are waiting, without waiting for more, so a lone
// request goes out at once. The writes a worker takes together are one run
// of the write script, which decides them in order, each as if
// it ran alone after the ones before it (a repeat of a payload, or a second
// payload for the same person, within one batch is seen as such), and
// shares what they have in common: one read and one write of the identity
// index, one read of the duplicate keys, one trim, count and ZADD per
// rate-limit window, one ZADD per destination's queue. Most of a script's
// cost in Redis is its commands, so under load a request costs Redis about
// five key writes of its own (lead, shared snapshot, events, duplicate
// key) instead of sixteen commands. The snapshot is stored once per
// Ingest (lg:{p}:sn:SID) and the lead and events refer to it, so that
// every other hash of a lead stays a compact listpack: a new lead with two
// events costs Redis about 2.6 KB of memory, 1.9 KB of AOF and 1 KB of
// script arguments (BenchmarkWriteCost). The batch's reply is also kept for 30 s under
// lg:{p}:wb:TOKEN, so a batch that go-redis sends again after a lost reply
// answers what its first run did instead of writing twice.
//
// # Leases
//
// Lease moves due deliveries from the due set to the in-flight set scored by
// now+lease; a lease that ends unsettled (a replica killed mid-delivery) is
// moved back by the next Lease call of any replica, so its work is picked up
// once the lease ends: within 30 s when workers lease for at most 30 s. All
// queue times are the callers' now (not Redis TIME), so the interface's
// clock is the only clock and tests can drive it; replicas need clocks
// synchronised (NTP), and skew only shifts when a lease is seen as ended.
//
// # Keys and Redis Cluster
//
// Every key starts with "lg:{PREFIX}:" (Options.Prefix, default "gw"), so
// all keys of one gateway hash to one Cluster slot and every multi-key
// script is legal on Cluster. That pins one gateway's data to one node,
// which is acceptable: a new lead costs Redis 55 to 80 µs of CPU (less in
// bigger batches; BenchmarkWriteCost and bench.sh with AOF, on a 2-core
// VM), most of it the commands of the write script, so one Redis core
// serves 12,000 or more per second, and atomic Ingest is worth
// more than spreading load. The gateway itself connects with a single-node client
// and sets no prefix (gateways that must stay apart use separate Redis
// databases or instances); Prefix exists for tests, which share one Redis.
// The inbound limiter's windows (lg:{gw}:rl:KEY) carry the default tag, so
// Ingest's write script may check them. Scripts build key names from the
// prefix; all of them share the declared key's slot. The layout:
//
//	lg:{p}:idx          hash  identity key -> lead id
//	lg:{p}:lead:ID      hash  l (its snapshot's SID), v (version: the lead_version),
//	                          f (first seen ms), k:KEY for each identity key pointed at it,
//	                          o:SOURCE for each source whose payloads touched it; a lead
//	                          not written since snapshots were shared holds s (snapshot JSON)
//	lg:{p}:sn:SID       hash  s (the snapshot JSON one Ingest stored, once for its lead and
//	                          its events), n (how many of them still refer to it: it goes
//	                          with the last, when SweepEvents, SweepLeads or the lead's
//	                          next write lets go of it); SID is its first event's id
//	lg:{p}:leads        zset  lead id -> last seen ms (received_at of its latest payload)
//	lg:{p}:leads:scan   string the migration's SCAN cursor, "done" once every lead is in lg:{p}:leads
//	lg:{p}:dup:KEY      string "<window end ms> <lead id>", expiring with the window
//	lg:{p}:ev:ID        hash  h (the event JSON up to its lead) and l (the SID of the
//	                          snapshot that closes it), or _ (the whole event JSON, as
//	                          events were stored before), q (enqueued ms),
//	                          r (the inbound request's id, when it had one),
//	                          and per delivery I: I.d (destination), I.s (status),
//	                          I.n (attempts since queued), I.t (all attempts),
//	                          I.a (attempts JSON), I.e (last error), I.x (dead ms),
//	                          I.o (the lead id, when queued as ordered)
//	lg:{p}:q:DEST       zset  delivery id ("dlv_<event id's hex>_I") -> due ms
//	lg:{p}:fl:DEST      zset  delivery id -> lease end ms
//	lg:{p}:dead:DEST    zset  delivery id -> dead ms; lg:{p}:dead holds every destination's
//	lg:{p}:pending      set   destinations with queued or in-flight deliveries
//	lg:{p}:ol:DEST:LEAD list  an ordered destination's line of one lead's deliveries (ordered.go)
//	lg:{p}:ols:DEST     set   the leads with a line for DEST
//	lg:{p}:olwait       string deliveries waiting in lines behind their head, for Depth
//	lg:{p}:subs         hash  subscription id -> body; lg:{p}:subs:v its version counter
//	lg:{p}:disabled     hash  destination -> config fingerprint, after a 410
//	lg:{p}:wb:TOKEN     string one Ingest batch's reply, for 30 s
//	lg:{p}:done         zset  event id -> last change ms, once no delivery is queued
//	lg:{p}:epoch        string this Redis's epoch; lg:{p}:epoch:ack the one an acknowledge wrote
//	lg:{p}:probe        string ProbeWrite's key, for 10 s
//
// # Retention
//
// Lead snapshots and the identity index (the lead index) are kept until a
// lead is not seen for storage.lead_retention: SweepLeads removes the
// oldest of lg:{p}:leads, a bounded number per call. Leads stored before
// the last-seen set existed enter it through a bounded SCAN step per
// SweepLeads call until the scan is done, seen at that time.
// An event keeps its deliveries in its own hash (one key per event keeps
// Ingest to one write per event and needs no delivery index). Once no
// delivery of it is queued or retrying (each is delivered or dead, or no
// destination wanted it), the script that settled the last one adds it to
// lg:{p}:done scored by that change; a replay takes it out again.
// SweepEvents removes the members older than the retention with their
// hashes and dead letters, a bounded batch per script, on the caller's
// clock (not Redis TTLs, whose clock tests cannot move). Events written
// before this index existed keep the TTL they were given then.
//
// # Unavailability
//
// Every error reaching Redis wraps store.ErrUnavailable, including error
// replies such as LOADING, READONLY or OOM: the gateway answers 503 and the
// sender retries. The go-redis pool reconnects by itself (its dial breaker
// probes once a second), and scripts are re-sent with EVAL when a restarted
// Redis no longer knows them, so the same *Store works again about a second
// after Redis is back. Nothing accepted is lost provided Redis persists it: run Redis with
// appendonly yes (appendfsync everysec loses at most a second on power loss).
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"leadgate/gateway/redisurl"
	"leadgate/gateway/store"
)

// DefaultPrefix is the hash tag of a gateway's keys when Options.Prefix is
// empty.
const DefaultPrefix = "gw"

// maxIngestAttempts bounds optimistic retries when concurrent payloads for
// the same person keep changing the lead between read and write; each
// conflict means another payload was stored, so this is only reached under
// a pathological burst for one lead.
const maxIngestAttempts = 100

// batchWorkers is how many runs of the write script may be in flight at
// once; see batcher.
const batchWorkers = 4

// Options tunes a Store; the zero value is ready to use.
type Options struct {
	// Prefix is the hash tag in every key ("lg:{Prefix}:…"). Default
	// DefaultPrefix, which the limiter's keys share; tests use others to
	// share one Redis.
	Prefix string
	// Logger receives debug records of contention; nil discards them.
	Logger *slog.Logger
	// MinReplicasAcked is how many replicas must have an Ingest's write
	// before Ingest returns (Redis WAIT); fewer within ReplicaAckTimeout
	// is an error wrapping store.ErrUnavailable. 0, the default, returns
	// once the primary has the write.
	MinReplicasAcked int
	// ReplicaAckTimeout bounds that wait. Default DefaultReplicaAckTimeout.
	ReplicaAckTimeout time.Duration
}

// Store is store.Store on Redis. It is safe for concurrent use by many
// goroutines and by many replicas sharing one Redis.
type Store struct {
	rdb   redis.UniversalClient
	batch *batcher
	keys  keys
	log   *slog.Logger

	closeOnce sync.Once
	closeErr  error

	// leadsMigrated is set once every lead is in the last-seen set (see
	// SweepLeads).
	leadsMigrated atomic.Bool
}

var _ store.Store = (*Store)(nil)

// Open connects to the Redis at rawURL (any form package redisurl reads: one
// server, a Sentinel set or a Cluster, with go-redis query options such as
// pool_size or dial_timeout) and checks it answers. A Redis that is down at
// start is an error wrapping store.ErrUnavailable, so the gateway fails
// fast on a wrong URL.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	ro, err := redisurl.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("redis key prefix %q: must not contain { or }, it is the keys' hash tag", opts.Prefix)
	}
	s := New(ro.NewClient(), opts)
	if err := s.Ping(ctx); err != nil {
		_ = s.rdb.Close()
		return nil, err
	}
	return s, nil
}

// New wraps an existing client (a *redis.Client, a failover client or a
// *redis.ClusterClient);
// the Store closes it on Close. opts.Prefix must not contain braces.
func New(rdb redis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.ReplicaAckTimeout <= 0 {
		opts.ReplicaAckTimeout = DefaultReplicaAckTimeout
	}
	k := newKeys(opts.Prefix)
	w := writeKeys{base: k.base, idx: k.idx, pending: k.pending, leads: k.leads, done: k.done}
	acks := replicaAcks{n: opts.MinReplicasAcked, timeout: opts.ReplicaAckTimeout}
	return &Store{
		rdb:   rdb,
		batch: newBatcher(rdb, w, acks, batchWorkers),
		keys:  k,
		log:   opts.Logger,
	}
}

// Ping checks Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return unavailable("ping redis", err)
	}
	return nil
}

// Close stops the batcher and closes the client's connections; calling it
// again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.batch.close()
		if err := s.rdb.Close(); err != nil {
			s.closeErr = fmt.Errorf("close redis client: %w", err)
		}
	})
	return s.closeErr
}

// keys builds the key names of one prefix.
type keys struct {
	base     string // "lg:{prefix}:", passed to scripts that build keys
	idx      string
	leads    string
	pending  string
	dead     string
	subs     string
	subsVer  string
	disabled string
	done     string
	epoch    string
	probe    string
}

func newKeys(prefix string) keys {
	b := "lg:{" + prefix + "}:"
	return keys{
		base:     b,
		idx:      b + "idx",
		leads:    b + "leads",
		pending:  b + "pending",
		dead:     b + "dead",
		subs:     b + "subs",
		subsVer:  b + "subs:v",
		disabled: b + "disabled",
		done:     b + "done",
		epoch:    b + "epoch",
		probe:    b + "probe",
	}
}

func (k keys) lead(id string) string    { return k.base + "lead:" + id }
func (k keys) dup(key string) string    { return k.base + "dup:" + key }
func (k keys) event(id string) string   { return k.base + "ev:" + id }
func (k keys) queue(dest string) string { return k.base + "q:" + dest }
func (k keys) flight(dest string) string {
	return k.base + "fl:" + dest
}
func (k keys) deadOf(dest string) string {
	if dest == "" {
		return k.dead
	}
	return k.base + "dead:" + dest
}

// unavailable wraps an error from the client so callers can test it with
// errors.Is(err, store.ErrUnavailable) and still see the cause.
func unavailable(op string, err error) error {
	return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, err)
}

// Pending names the destinations with queued or in-flight deliveries.
func (s *Store) Pending(ctx context.Context) ([]string, error) {
	names, err := s.rdb.SMembers(ctx, s.keys.pending).Result()
	if err != nil {
		return nil, unavailable("list pending destinations", err)
	}
	sort.Strings(names)
	return names, nil
}

// Depth counts deliveries by state at the wall clock: "due" (including
// leases that ended unsettled), "scheduled", "in_flight" and "dead".
func (s *Store) Depth(ctx context.Context) (map[string]int64, error) {
	now := time.Now().UnixMilli()
	res, err := depthScript.Run(ctx, s.rdb, []string{s.keys.pending, s.keys.dead}, s.keys.base, now).Int64Slice()
	if err != nil {
		return nil, unavailable("count queue depth", err)
	}
	if len(res) != 4 {
		return nil, fmt.Errorf("count queue depth: unexpected reply of %d values", len(res))
	}
	return map[string]int64{"due": res[0], "scheduled": res[1], "in_flight": res[2], "dead": res[3]}, nil
}

// isNil reports a missing key, which is an answer and not an outage.
func isNil(err error) bool { return errors.Is(err, redis.Nil) }
