package leadsquared

import (
	"context"
	"sort"
	"sync"
	"time"

	"leadgate/gateway/store"
)

// disk holds a fakeStore's subscriptions.
type disk struct {
	mu      sync.Mutex
	subs    map[string][]byte
	version int64
}

// fakeStore keeps subscriptions in a disk; the embedded nil store.Store
// makes every other method panic, proving the API never calls them.
type fakeStore struct {
	store.Store
	d *disk
	// fail, when set, is returned by every subscription method.
	fail error
}

func newFakeStore() *fakeStore { return &fakeStore{d: &disk{subs: map[string][]byte{}}} }

func (f *fakeStore) PutSubscription(_ context.Context, s store.Subscription, max int) error {
	if f.fail != nil {
		return f.fail
	}
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if _, ok := f.d.subs[s.ID]; !ok && max > 0 && len(f.d.subs) >= max {
		return store.ErrFull
	}
	f.d.subs[s.ID] = append([]byte(nil), s.Body...)
	f.d.version++
	return nil
}

func (f *fakeStore) UpdateSubscription(_ context.Context, s store.Subscription) error {
	if f.fail != nil {
		return f.fail
	}
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if _, ok := f.d.subs[s.ID]; !ok {
		return store.ErrNotFound
	}
	f.d.subs[s.ID] = append([]byte(nil), s.Body...)
	f.d.version++
	return nil
}

// Pending and AbandonQueued: the fake has no queue.
func (f *fakeStore) Pending(context.Context) ([]string, error) { return nil, f.fail }

func (f *fakeStore) AbandonQueued(context.Context, string, time.Time, string) (int, error) {
	return 0, f.fail
}

func (f *fakeStore) DeleteSubscription(_ context.Context, id string) error {
	if f.fail != nil {
		return f.fail
	}
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if _, ok := f.d.subs[id]; !ok {
		return store.ErrNotFound
	}
	delete(f.d.subs, id)
	f.d.version++
	return nil
}

func (f *fakeStore) Subscriptions(_ context.Context) ([]store.Subscription, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	out := make([]store.Subscription, 0, len(f.d.subs))
	for id, b := range f.d.subs {
		out = append(out, store.Subscription{ID: id, Body: append([]byte(nil), b...)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeStore) SubscriptionsVersion(_ context.Context) (int64, error) {
	if f.fail != nil {
		return 0, f.fail
	}
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	return f.d.version, nil
}
