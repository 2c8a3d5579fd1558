package deliver

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"leadgate/gateway/lead"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/store"
)

// memStore fakes the store methods the dispatcher uses (Lease, Settle,
// Pending); the embedded nil Store panics on anything else, which would
// show the dispatcher reaching further than it should.
type memStore struct {
	store.Store
	mu      sync.Mutex
	seq     int
	items   map[string]*memItem
	order   []string // ids in queue order; order[:head] are all settled for good
	head    int
	settled chan store.Outcome
	marks   map[string]string // 410 marks: destination -> config fingerprint
}

type memItem struct {
	del         store.Delivery
	due         time.Time
	leasedUntil time.Time
	state       string // "pending", store.Retrying, store.Delivered, store.Dead
	attempts    []store.Attempt
}

// SetDisabled and Disabled keep the 410 marks as a store does.
func (m *memStore) SetDisabled(_ context.Context, dest, fp string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.marks == nil {
		m.marks = map[string]string{}
	}
	if fp == "" {
		delete(m.marks, dest)
	} else {
		m.marks[dest] = fp
	}
	return nil
}

func (m *memStore) Disabled(context.Context) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.marks), nil
}

func newMemStore() *memStore {
	return &memStore{items: map[string]*memItem{}, settled: make(chan store.Outcome, 10000)}
}

// add queues ev for dest, due at now.
func (m *memStore) add(dest string, ev lead.Event, now time.Time) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	id := fmt.Sprintf("dlv_%06d", m.seq)
	m.items[id] = &memItem{
		del:   store.Delivery{ID: id, EventID: ev.ID, Destination: dest, Event: ev, EnqueuedAt: now},
		due:   now,
		state: "pending",
	}
	m.order = append(m.order, id)
	return id
}

// addWithRequestID queues an event made by inbound request rid.
func (m *memStore) addWithRequestID(dest, eventID, rid string, now time.Time) string {
	ev := *sampleEvent()
	ev.ID = eventID
	id := m.add(dest, ev, now)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.items[id].del.RequestID = rid
	return id
}

func (m *memStore) item(id string) memItem {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.items[id]
}

func (m *memStore) Lease(_ context.Context, dest string, now time.Time, max int, lease time.Duration) ([]store.Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.head < len(m.order) && done(m.items[m.order[m.head]].state) {
		m.head++
	}
	var ids []string
	for _, id := range m.order[m.head:] {
		if len(ids) == max {
			break
		}
		it := m.items[id]
		if it.del.Destination == dest && !done(it.state) && !it.due.After(now) && !it.leasedUntil.After(now) {
			ids = append(ids, id)
		}
	}
	out := make([]store.Delivery, 0, len(ids))
	for _, id := range ids {
		it := m.items[id]
		it.leasedUntil = now.Add(lease)
		d := it.del
		d.Attempts = len(it.attempts)
		out = append(out, d)
	}
	return out, nil
}

func done(state string) bool { return state == store.Delivered || state == store.Dead }

func (m *memStore) Settle(_ context.Context, outcomes []store.Outcome) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range outcomes {
		it := m.items[o.Delivery.ID]
		it.attempts = append(it.attempts, o.Attempt)
		it.state = o.State
		it.leasedUntil = time.Time{}
		if o.State == store.Retrying {
			it.due = o.RetryAt
		}
		m.settled <- o
	}
	return nil
}

// Replay queues a dead letter again, due at now, as the real stores do.
func (m *memStore) Replay(_ context.Context, id string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[id]
	if !ok || it.state != store.Dead {
		return store.ErrNotFound
	}
	it.state, it.due = store.Retrying, now
	if !slices.Contains(m.order[m.head:], id) {
		m.order = append(m.order, id)
	}
	return nil
}

func (m *memStore) Pending(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	var names []string
	for _, it := range m.items {
		if (it.state == "pending" || it.state == store.Retrying) && !seen[it.del.Destination] {
			seen[it.del.Destination] = true
			names = append(names, it.del.Destination)
		}
	}
	return names, nil
}

// next waits for the next settled outcome.
func (m *memStore) next(t *testing.T) store.Outcome {
	t.Helper()
	select {
	case o := <-m.settled:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery settled within 10s")
		return store.Outcome{}
	}
}

// testClock is a settable clock so retries scheduled minutes ahead are due
// at once.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// mapResolver resolves names from a map, as a hostile DNS server might.
type mapResolver map[string][]string

func (r mapResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	addrs, ok := r[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, a := range addrs {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	return out, nil
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func rateLimit(n int, per time.Duration) ratelimit.Limit {
	return ratelimit.Limit{Requests: n, Per: per}
}
