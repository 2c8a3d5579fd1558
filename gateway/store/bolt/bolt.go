// Package bolt is the embedded store: one bbolt file, dir/leadgate.db, for a
// gateway that runs without Redis. Every write is fsync'd before it returns,
// and concurrent writes share one commit (group commit) so the accept path
// pays one fsync per batch, not per request. Leases live in memory: the
// process is the only one using the file, and after a restart every
// undelivered delivery is due again, which is what at-least-once needs.
//
// The single committer bounds throughput, and its cost is the B+tree pages
// a commit dirties. So everything that can be is done outside it (an Ingest
// plans its write under a read transaction and the commit only checks the
// plan still holds), and writes append: the dedupe rule is kept as a log
// ordered by expiry, and the lead index (keyed by email or phone, which
// took a random page per new lead) as a log ordered by a sequence, each
// with an in-memory index rebuilt at Open; lead ids are minted in ObjectID
// order.
package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"leadgate/gateway/internal/groupcommit"
	"leadgate/gateway/store"
)

var _ store.Store = (*Store)(nil)

// Options tune the store; the zero value is ready to use.
type Options struct {
	// Log receives the store's few log lines; nil discards them.
	Log *slog.Logger
	// MaxBatch caps how many writes share one commit (default 2048). A
	// commit takes whatever is waiting when the previous one ends, so at low
	// load each write commits alone and no write waits for a timer.
	MaxBatch int
	// SweepEvery is how often expired dedupe keys are deleted (default 1m).
	SweepEvery time.Duration
	// OpenTimeout is how long Open waits for another process holding the
	// file (default 1s).
	OpenTimeout time.Duration
}

// Bucket names. The due index and the per-destination dead index hold one
// nested bucket per destination.
var (
	bDedupe     = []byte("dedupe")         // legacy: dedupe key → expiry(8) + lead id
	bDedupeExp  = []byte("dedupe_exp")     // expiry(8) + dedupe key → lead id
	bIndex      = []byte("lead_index")     // legacy: identity key → lead id
	bIndexLog   = []byte("lead_index_log") // sequence(8) → identity key and lead id
	bLeads      = []byte("leads")          // lead id → merged lead JSON
	bEvents     = []byte("events")         // event id → canonical event JSON
	bRoutes     = []byte("routes")         // event id → received_at(8) + its destinations
	bDeliveries = []byte("deliveries")     // delivery id → record JSON, once attempted
	bDue        = []byte("due")            // dest / due(8) + delivery id → nil
	bDead       = []byte("dead")           // dead_at(8) + delivery id → nil
	bDeadDest   = []byte("dead_by_dest")   // dest / dead_at(8) + delivery id → nil
	bSubs       = []byte("subscriptions")  // id → body
	bDisabled   = []byte("disabled")       // destination → config fingerprint, after a 410
	bMeta       = []byte("meta")
	bAnswers    = []byte("dedupe_answers") // expiry(8) + dedupe key → kept answer JSON (answer.go)
	kSubsVer    = []byte("subscriptions_version")
	kProbe      = []byte("write_probe") // ProbeWrite's key in meta
)

// Store is the bbolt-backed store.Store.
type Store struct {
	db  *bbolt.DB
	log *slog.Logger
	max int

	// wmu guards closed against writes being queued while Close runs.
	wmu    sync.RWMutex
	closed bool
	writes chan *write
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once

	// mu guards the in-memory state below, which is derived from the file
	// at Open and updated after each commit. It is only ever held briefly:
	// the commit goroutine takes it after every commit.
	mu     sync.Mutex
	leases map[string]map[string]leaseEntry // dest → delivery id → lease
	// settledLog lists, per destination and in commit order, the lease
	// entries Settle turned into tombstones, so Lease can drop them once
	// every snapshot it reads is newer.
	settledLog map[string][]settledRef
	queued     map[string]int64 // dest → deliveries in its due index
	dead       int64
	// leaseMu serializes Lease calls per destination.
	leaseMu map[string]*sync.Mutex
	// marks and lowDue let Lease skip a due index's held head (lease.go).
	marks  map[string]leaseMark
	lowDue map[string]int64

	// dropped is when the commit goroutine last dropped the file's
	// mapped pages from the resident set (dropMapped).
	dropped time.Time

	// txid is the id of the transaction being committed; the commit
	// goroutine sets it and the after funcs it runs read it.
	txid uint64

	// recent holds the events of the last recentMax ingests that queued a
	// delivery, so Lease, which mostly hands out what was just ingested,
	// need not decode them again. rmu guards it.
	rmu        sync.Mutex
	recent     map[string]recentEvent
	recentRing []string
	recentNext int

	// dedupe indexes the dedupe log (bDedupeExp, keyed by expiry so that
	// writing it appends to the B+tree instead of dirtying a random page
	// per request); it is rebuilt from the log at Open. dmu guards it.
	// pending holds the keys of the batch being committed and is touched
	// only by the commit goroutine: it joins dedupe once the batch is on
	// disk and is dropped if the batch rolls back.
	dmu     sync.Mutex
	dedupe  map[keyHash]dedupeEntry
	pending map[keyHash]dedupeEntry

	// index is the lead index: identity key → lead id. It is kept as a
	// log (bIndexLog, keyed by a sequence so that writing it appends: an
	// index keyed by email or phone took a random page per new lead) and
	// this map, rebuilt from the log at Open. Like the dedupe index,
	// indexPending holds the batch being committed, touched only by the
	// commit goroutine. imu guards index.
	imu          sync.RWMutex
	index        map[keyHash]indexEntry
	indexPending map[keyHash]indexEntry
	// odd holds the lead ids the indexes cannot hold in 12 bytes.
	odd oddIDs

	// leads counts the leads bucket's keys: counted at Open, then kept by
	// Ingest and SweepLeads after their commits.
	leads atomic.Int64

	// sweepMu serializes SweepEvents; sweepFrom is the event id the next
	// call starts from (nil: the oldest).
	sweepMu   sync.Mutex
	sweepFrom []byte
}

// dropEvery is how often the commit drops the file's mapped pages: the
// resident set then holds about what a second of commits read.
const dropEvery = time.Second

// write is one transaction body waiting for the group commit. fn may run
// twice (when another body in its batch fails), so it starts from scratch
// each time; after runs once, only when fn's writes are committed.
type write struct {
	fn    func(tx *bbolt.Tx) error
	after func()
	done  chan error
}

// Open opens or creates dir/leadgate.db and starts the committer and the
// dedupe sweep; Close stops them.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 2048
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = time.Minute
	}
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = time.Second
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, unavailable("open store", err)
	}
	db, err := bbolt.Open(filepath.Join(dir, "leadgate.db"), 0o600, &bbolt.Options{
		Timeout: opts.OpenTimeout,
		// The freelist is rebuilt at open instead of written on every
		// commit: fewer pages per fsync on the hot path.
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
		// Address space, not memory: growing the map blocks readers, so
		// start large.
		InitialMmapSize: 1 << 30,
	})
	if err != nil {
		return nil, unavailable("open store", err)
	}
	s := &Store{
		db:           db,
		log:          opts.Log,
		max:          opts.MaxBatch,
		writes:       make(chan *write, opts.MaxBatch),
		stop:         make(chan struct{}),
		leases:       map[string]map[string]leaseEntry{},
		settledLog:   map[string][]settledRef{},
		queued:       map[string]int64{},
		leaseMu:      map[string]*sync.Mutex{},
		dedupe:       map[keyHash]dedupeEntry{},
		pending:      map[keyHash]dedupeEntry{},
		index:        map[keyHash]indexEntry{},
		indexPending: map[keyHash]indexEntry{},
		recent:       make(map[string]recentEvent, recentMax),
		recentRing:   make([]string, recentMax),
	}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, unavailable("open store", err)
	}
	s.wg.Add(2)
	go s.commitLoop()
	go s.sweepLoop(opts.SweepEvery)
	return s, nil
}

// load creates the buckets and counts what is queued and dead.
func (s *Store) load() error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bDedupe, bDedupeExp, bIndex, bIndexLog, bLeads, bLeadSeen, bEvents, bRoutes, bDeliveries, bDue, bDead, bDeadDest, bSubs, bDisabled, bMeta, bLines, bLineOf, bAnswers} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		due := tx.Bucket(bDue)
		err := due.ForEachBucket(func(dest []byte) error {
			n := int64(due.Bucket(dest).Stats().KeyN)
			if n > 0 {
				s.queued[string(dest)] = n
			}
			return nil
		})
		if err != nil {
			return err
		}
		s.dead = int64(tx.Bucket(bDead).Stats().KeyN)
		s.leads.Store(int64(tx.Bucket(bLeads).Stats().KeyN))
		if err := s.loadIndex(tx); err != nil {
			return err
		}
		if err := s.migrateLeads(tx); err != nil {
			return err
		}
		return s.loadDedupe(tx)
	})
}

// Close waits for queued writes to commit, stops the sweep and closes the
// file. Calls after the first return nil.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		s.wmu.Lock()
		s.closed = true
		close(s.writes)
		s.wmu.Unlock()
		close(s.stop)
		s.wg.Wait()
		if cerr := s.db.Close(); cerr != nil {
			err = unavailable("close store", cerr)
		}
	})
	return err
}

// Ping checks the file is open and readable.
func (s *Store) Ping(ctx context.Context) error {
	s.wmu.RLock()
	defer s.wmu.RUnlock()
	if s.closed {
		return unavailable("ping", errors.New("store closed"))
	}
	if err := s.db.View(func(*bbolt.Tx) error { return nil }); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

func unavailable(op string, err error) error {
	return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, err)
}

// submit queues a write for the group commit and waits until it is durable.
// When ctx ends first the write may still commit; the caller answers an
// error, and a retried payload is caught by the dedupe rule.
func (s *Store) submit(ctx context.Context, op string, fn func(*bbolt.Tx) error, after func()) error {
	w := &write{fn: fn, after: after, done: make(chan error, 1)}
	s.wmu.RLock()
	if s.closed {
		s.wmu.RUnlock()
		return unavailable(op, errors.New("store closed"))
	}
	select {
	case s.writes <- w:
	case <-ctx.Done():
		s.wmu.RUnlock()
		return unavailable(op, ctx.Err())
	}
	s.wmu.RUnlock()
	select {
	case err := <-w.done:
		if err != nil {
			return unavailable(op, err)
		}
		return nil
	case <-ctx.Done():
		return unavailable(op, ctx.Err())
	}
}

// commitLoop is the single writer: it takes every write waiting when the
// previous commit ends and commits them in one transaction with one fsync
// (groupcommit.Run), until Close closes writes.
func (s *Store) commitLoop() {
	defer s.wg.Done()
	groupcommit.Run(s.writes, s.max, s.commit)
}

func (s *Store) commit(batch []*write) {
	failed := false
	clear(s.pending)
	clear(s.indexPending)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		s.txid = uint64(tx.ID())
		if now := time.Now(); now.Sub(s.dropped) >= dropEvery {
			dropMapped(s.db, tx)
			s.dropped = now
		}
		for _, w := range batch {
			if err := w.fn(tx); err != nil {
				failed = true
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.publish()
		for _, w := range batch {
			if w.after != nil {
				w.after()
			}
			w.done <- nil
		}
		return
	}
	if !failed || len(batch) == 1 {
		// The commit itself failed (disk full, I/O error): everyone fails.
		clear(s.pending)
		clear(s.indexPending)
		s.log.Error("store commit failed", "err", err, "writes", len(batch))
		for _, w := range batch {
			w.done <- err
		}
		return
	}
	// One body failed and rolled back the others: run each on its own so
	// only the failing one fails.
	for _, w := range batch {
		clear(s.pending)
		clear(s.indexPending)
		err := s.db.Update(func(tx *bbolt.Tx) error {
			s.txid = uint64(tx.ID())
			return w.fn(tx)
		})
		if err == nil {
			s.publish()
			if w.after != nil {
				w.after()
			}
		}
		w.done <- err
	}
	clear(s.pending)
	clear(s.indexPending)
}

// appending marks a bucket whose keys mostly grow (time-ordered ids and
// time keys) so a full page splits where it ends: at bbolt's default fill
// of one half, appending leaves every page half empty, and a commit writes
// twice the pages for the same data.
func appending(b *bbolt.Bucket) *bbolt.Bucket {
	b.FillPercent = 1.0
	return b
}

// Time keys are big-endian Unix nanoseconds so that byte order is time order.
func timeKey(t int64, id string) []byte {
	k := make([]byte, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(t))
	copy(k[8:], id)
	return k
}

func keyTime(k []byte) int64 { return int64(binary.BigEndian.Uint64(k[:8])) }
