package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// ErrInvalidLimit is returned for a Limit that admits nothing or has no
// window; config validation should make it unreachable.
var ErrInvalidLimit = errors.New("invalid rate limit")

func checkLimit(l Limit) error {
	if l.Requests < 1 || l.Per <= 0 {
		return fmt.Errorf("%w: %d per %s", ErrInvalidLimit, l.Requests, l.Per)
	}
	return nil
}

// localShards splits the key map so parallel requests for different keys
// rarely wait on the same mutex.
const localShards = 64

// minSweep is the map size below which a shard never sweeps: sweeping a
// handful of keys costs more than keeping them.
const minSweep = 256

// LocalOptions configures NewLocal.
type LocalOptions struct {
	// Now is the clock; tests inject a fake one. Default time.Now, whose
	// monotonic reading keeps wall-clock jumps out of the windows.
	Now func() time.Time
}

// Local is the in-process exact sliding-window limiter of the embedded
// mode: per key, a ring of the latest admission times. Memory is bounded by
// the keys active within their window: a shard drops idle keys whenever its
// map has doubled since the last sweep.
type Local struct {
	now    func() time.Time
	epoch  time.Time
	seed   maphash.Seed
	shards [localShards]shard
}

var _ Limiter = (*Local)(nil)

type shard struct {
	mu        sync.Mutex
	windows   map[string]*window
	sweepSize int // map size that triggers the next sweep
	_         [40]byte
}

// NewLocal returns an empty in-process limiter.
func NewLocal(opts LocalOptions) *Local {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	l := &Local{now: now, epoch: now(), seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].windows = make(map[string]*window)
		l.shards[i].sweepSize = minSweep
	}
	return l
}

// Allow admits the request when fewer than lim.Requests were admitted under
// key in the last lim.Per, and records it. It never returns an error other
// than ErrInvalidLimit.
func (l *Local) Allow(_ context.Context, key string, lim Limit) (Decision, error) {
	if err := checkLimit(lim); err != nil {
		return Decision{}, err
	}
	// Offsets from a fixed epoch keep the monotonic clock and need 8 bytes
	// per admission instead of a time.Time's 24.
	now := int64(l.now().Sub(l.epoch))
	per := int64(lim.Per)

	s := &l.shards[maphash.String(l.seed, key)%localShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.windows[key]
	if w == nil {
		if len(s.windows) >= s.sweepSize {
			s.sweep(now)
		}
		w = &window{}
		s.windows[key] = w
	}
	return w.decide(now, per, lim, true), nil
}

// Peek answers what Allow would answer now, without recording anything:
// for a caller that counts only some outcomes (failed sign-ins) and must
// know before acting whether the key is already over its limit.
func (l *Local) Peek(_ context.Context, key string, lim Limit) (Decision, error) {
	if err := checkLimit(lim); err != nil {
		return Decision{}, err
	}
	now := int64(l.now().Sub(l.epoch))
	s := &l.shards[maphash.String(l.seed, key)%localShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.windows[key]
	if w == nil {
		return Decision{Allowed: true, Limit: lim, Remaining: lim.Requests, Reset: lim.Per}, nil
	}
	return w.decide(now, int64(lim.Per), lim, false), nil
}

// sweep drops every key whose newest admission has left its window: such a
// key's next request would be admitted whether or not it is remembered.
// (Only a reload that lengthens Per could have counted what was dropped.)
func (s *shard) sweep(now int64) {
	for k, w := range s.windows {
		if now-w.newest() >= w.per {
			delete(s.windows, k)
		}
	}
	s.sweepSize = max(2*len(s.windows), minSweep)
}

// len is the number of keys held, for tests of the memory bound.
func (l *Local) len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.windows)
		s.mu.Unlock()
	}
	return n
}

// window is one key's admission log: a ring of the admission times inside
// the window, oldest first. It never holds more than the largest limit the
// key was used with, since a full window refuses instead of recording.
type window struct {
	ring []int64
	head int
	n    int
	per  int64 // last window length used, for idle sweeps
}

func (w *window) at(i int) int64 { return w.ring[(w.head+i)%len(w.ring)] }

func (w *window) newest() int64 {
	if w.n == 0 {
		return -1 << 62
	}
	return w.at(w.n - 1)
}

func (w *window) dropOldest() {
	w.head = (w.head + 1) % len(w.ring)
	w.n--
}

func (w *window) push(t int64, limit int) {
	if w.n == len(w.ring) {
		// Grow towards the limit only as the key is used, so a generous
		// limit does not cost its full ring for every one-off key.
		ring := make([]int64, min(max(2*len(w.ring), 4), limit))
		for i := 0; i < w.n; i++ {
			ring[i] = w.at(i)
		}
		w.ring, w.head = ring, 0
	}
	w.ring[(w.head+w.n)%len(w.ring)] = t
	w.n++
}

// decide admits or refuses a request at now, recording an admission only
// when record is set (Allow; Peek only asks).
func (w *window) decide(now, per int64, lim Limit, record bool) Decision {
	w.per = per
	// An admission at t counts while now-t < per.
	for w.n > 0 && now-w.at(0) >= per {
		w.dropOldest()
	}
	d := Decision{Limit: lim}
	// The admission whose departure makes room: the oldest when admitted,
	// and the Requests-th newest when refused. The ring can hold more than
	// Requests after a config reload lowered the limit; those admissions
	// still count, and count again if the limit is raised back.
	deciding := 0
	if w.n < lim.Requests {
		if record {
			w.push(now, lim.Requests)
		}
		d.Allowed = true
		d.Remaining = lim.Requests - w.n
	} else {
		deciding = w.n - lim.Requests
	}
	if w.n == 0 { // a Peek of an empty window: the whole window is ahead
		d.Reset = lim.Per
		return d
	}
	d.Reset = time.Duration(w.at(deciding) + per - now)
	if !d.Allowed {
		d.RetryAfter = d.Reset
	}
	return d
}
