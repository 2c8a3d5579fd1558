package deliver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// noticeSink is a notify URL that holds every notice until released and
// keeps what it got.
type noticeSink struct {
	*httptest.Server
	release chan struct{}
	arrived chan struct{}
	mu      sync.Mutex
	ones    []Notice
	mores   []MoreNotice
	code    int
	once    sync.Once
}

func newNoticeSink(t *testing.T, code int) *noticeSink {
	t.Helper()
	ns := &noticeSink{release: make(chan struct{}), arrived: make(chan struct{}, 100_000), code: code}
	ns.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var probe struct {
			Type string `json:"type"`
		}
		var body json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || json.Unmarshal(body, &probe) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ns.arrived <- struct{}{}
		<-ns.release
		ns.mu.Lock()
		if probe.Type == MoreNoticeType {
			var m MoreNotice
			_ = json.Unmarshal(body, &m)
			ns.mores = append(ns.mores, m)
		} else {
			var n Notice
			_ = json.Unmarshal(body, &n)
			ns.ones = append(ns.ones, n)
		}
		ns.mu.Unlock()
		w.WriteHeader(ns.code)
	}))
	t.Cleanup(func() { ns.open(); ns.Close() })
	return ns
}

// open lets every held and later notice through.
func (ns *noticeSink) open() { ns.once.Do(func() { close(ns.release) }) }

// received waits until n notices (a MoreNotice counting its Count) have
// been answered.
func (ns *noticeSink) received(t *testing.T, n int) (ones []Notice, mores []MoreNotice) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ns.mu.Lock()
		got := len(ns.ones)
		for _, m := range ns.mores {
			got += m.Count
		}
		ones, mores = append([]Notice(nil), ns.ones...), append([]MoreNotice(nil), ns.mores...)
		ns.mu.Unlock()
		if got >= n {
			return ones, mores
		}
		if time.Now().After(deadline) {
			t.Fatalf("notices for %d dead letters received, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func deadNotice(dest string, i int) Notice {
	return Notice{Type: NoticeType, Destination: dest, DeliveryID: fmt.Sprint("dl_", i), EventID: fmt.Sprint("evt_", i)}
}

// TestNotifierCoalescesWhenFull: with the worker busy and the queue full,
// further notices of a destination become one "N more dead letters"
// notice, sent as soon as there is room, with N the number held back.
func TestNotifierCoalescesWhenFull(t *testing.T) {
	ns := newNoticeSink(t, 200)
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
	nf := NewNotifier(NotifierOptions{QueueSize: 2, Workers: 1, AllowPrivate: true, Dropped: dropped})
	nf.Start()
	t.Cleanup(func() { nf.Stop(time.Now().Add(5 * time.Second)) })
	nf.Notify(ns.URL, true, deadNotice("crm", 0))
	<-ns.arrived // the worker is busy with it
	const more = 10
	for i := 1; i <= 2+more; i++ {
		nf.Notify(ns.URL, true, deadNotice("crm", i))
	}
	ns.open()
	ones, mores := ns.received(t, 3+more)
	if len(ones) != 3 {
		t.Fatalf("%d single notices, want 3 (one sending, two queued)", len(ones))
	}
	want := MoreNotice{Type: MoreNoticeType, Destination: "crm", Count: more, Message: "10 more dead letters for crm"}
	if len(mores) != 1 || mores[0] != want {
		t.Fatalf("coalesced notices = %+v, want [%+v]", mores, want)
	}
	if got := testutil.ToFloat64(dropped); got != 0 {
		t.Fatalf("dropped = %v, want 0", got)
	}
}

// TestNotifierCountsDropped: gateway_notices_dropped_total counts every
// dead letter nobody was told of: a notice that failed (a MoreNotice as its
// count) and one that found both the queue and the coalescing map full.
func TestNotifierCountsDropped(t *testing.T) {
	ns := newNoticeSink(t, 500)
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
	nf := NewNotifier(NotifierOptions{QueueSize: 1, Workers: 1, MaxCoalesced: 1, AllowPrivate: true, Dropped: dropped})
	nf.Start()
	nf.Notify(ns.URL, true, deadNotice("crm", 0))
	<-ns.arrived
	nf.Notify(ns.URL, true, deadNotice("crm", 1)) // queued
	nf.Notify(ns.URL, true, deadNotice("crm", 2)) // coalesced
	nf.Notify(ns.URL, true, deadNotice("crm", 3)) // coalesced
	nf.Notify(ns.URL, true, deadNotice("erp", 4)) // no room to coalesce: dropped at once
	if got := testutil.ToFloat64(dropped); got != 1 {
		t.Fatalf("dropped = %v after the coalescing map filled, want 1", got)
	}
	ns.open()
	nf.Stop(time.Now().Add(10 * time.Second))
	// Every other one reached the sink and got a 500: 1 + 1 + a MoreNotice of 2.
	if got := testutil.ToFloat64(dropped); got != 5 {
		t.Fatalf("dropped = %v, want 5 (every dead letter)", got)
	}
}

// TestNotifierStopGivesUpAtTheDeadline: notices still queued when the grace
// runs out are counted as dropped, and Stop returns.
func TestNotifierStopGivesUpAtTheDeadline(t *testing.T) {
	ns := newNoticeSink(t, 200) // never released before Stop
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
	nf := NewNotifier(NotifierOptions{QueueSize: 10, Workers: 2, AllowPrivate: true, Dropped: dropped})
	nf.Start()
	for i := range 7 {
		nf.Notify(ns.URL, true, deadNotice("crm", i))
	}
	<-ns.arrived
	<-ns.arrived
	nf.Stop(time.Now().Add(100 * time.Millisecond))
	if got := testutil.ToFloat64(dropped); got != 7 {
		t.Fatalf("dropped = %v, want 7", got)
	}
	nf.Notify(ns.URL, true, deadNotice("crm", 8)) // after Stop: counted, not sent
	if got := testutil.ToFloat64(dropped); got != 8 {
		t.Fatalf("dropped = %v after Stop, want 8", got)
	}
}

// TestDeadLetterFloodKeepsGoroutinesBounded: a 410 dead-letters a backlog
// of thousands while the notify URL hangs. The goroutines stay those of the
// notice pool (before: one per dead letter), every dead letter is told of,
// one by one or in the coalesced notice, and none is counted as dropped.
func TestDeadLetterFloodKeepsGoroutinesBounded(t *testing.T) {
	s := newSink(t, 410)
	ns := newNoticeSink(t, 200)
	d := Destination{Name: "crm", URL: s.URL, Enabled: true, AllowPrivate: true, NotifyOnFailure: ns.URL}
	h := start(t, []Destination{d}, nil)
	h.enqueue("crm", "evt_first")
	h.st.next(t) // the 410
	<-ns.arrived // a worker now hangs on the notify URL
	before := runtime.NumGoroutine()
	const n = NoticeQueue + 1500
	for i := range n {
		h.enqueue("crm", fmt.Sprint("evt_", i))
	}
	for range n {
		h.st.next(t)
	}
	// The store has them all, but the settler tells the Notifier of a
	// dead letter only after its Settle returns: opening the sink before
	// the last ones are told of sends those as single notices (the queue
	// has room again), which the bound below is not about.
	waitTold(t, h.dp.notify, ns, n+1)
	if grew := runtime.NumGoroutine() - before; grew > 50 {
		t.Fatalf("%d more goroutines after %d dead letters with a hanging notify URL, want a fixed pool", grew, n)
	}
	ns.open()
	ones, mores := ns.received(t, n+1)
	if len(ones) > NoticeQueue+NoticeWorkers {
		t.Fatalf("%d single notices, want at most the queue and the pool", len(ones))
	}
	total := len(ones)
	for _, m := range mores {
		if m.Destination != "crm" || m.Message != fmt.Sprintf("%d more dead letters for crm", m.Count) {
			t.Fatalf("coalesced notice %+v", m)
		}
		total += m.Count
	}
	if len(mores) == 0 || total != n+1 {
		t.Fatalf("%d single notices and %+v, want %d dead letters told of with at least one coalesced", len(ones), mores, n+1)
	}
	if got := testutil.ToFloat64(h.m.NoticesDropped); got != 0 {
		t.Fatalf("gateway_notices_dropped_total = %v, want 0", got)
	}
}

// waitTold waits until nf holds all n dead letters it was told of while
// every one of its workers hangs on ns: queued, coalesced, or one in each
// worker's hands (seen arriving at ns; the test took the first arrival).
func waitTold(t *testing.T, nf *Notifier, ns *noticeSink, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for range nf.opts.Workers - 1 {
		select {
		case <-ns.arrived:
		case <-deadline:
			t.Fatal("the notice workers never all hung on the notify URL")
		}
	}
	for {
		nf.mu.Lock()
		got := len(nf.queue) + nf.opts.Workers
		for _, e := range nf.more {
			got += e.count
		}
		nf.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("the Notifier holds %d dead letters, want %d", got, n)
		case <-time.After(time.Millisecond):
		}
	}
}

// TestNotifierSendsSingleAfterCoalesced: once the coalesced count went out,
// the next notice of its destination is sent on its own again when the
// queue has room, so the bound on single notices (the queue and the pool)
// holds only for the notices told of while the notify URL hangs.
func TestNotifierSendsSingleAfterCoalesced(t *testing.T) {
	ns := newNoticeSink(t, 200)
	nf := NewNotifier(NotifierOptions{QueueSize: 1, Workers: 1, AllowPrivate: true})
	nf.Start()
	t.Cleanup(func() { nf.Stop(time.Now().Add(5 * time.Second)) })
	for i := range 4 { // one sending, one queued, two coalesced
		nf.Notify(ns.URL, true, deadNotice("crm", i))
		if i == 0 {
			<-ns.arrived
		}
	}
	ns.open()
	ns.received(t, 4)
	nf.Notify(ns.URL, true, deadNotice("crm", 4))
	ones, mores := ns.received(t, 5)
	if len(ones) != 3 || len(mores) != 1 || mores[0].Count != 2 {
		t.Fatalf("%d single notices and %+v, want 3 and one coalesced of 2", len(ones), mores)
	}
}
