package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fullDiskStore is the embedded store reachable but unable to write, as
// on a full disk: reads and Ping work, every write fails.
type fullDiskStore struct {
	Store
	mu     sync.Mutex
	full   bool
	probes int
}

func (s *fullDiskStore) setFull(full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.full = full
}

func (s *fullDiskStore) ProbeWrite(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.probes++
	if s.full {
		return errors.New("probe write: store unavailable: write /var/lib/leadgate/leadgate.db: no space left on device")
	}
	return s.Store.ProbeWrite(ctx)
}

func (s *fullDiskStore) probeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.probes
}

// TestReadyFailsWhenTheStoreCannotWrite: a store that answers Ping but
// cannot write fails /readyz, whose unauthenticated answer says only "not
// ready" while the admin route names the reason; the probe runs at most
// once a second, and readiness comes back with the disk.
func TestReadyFailsWhenTheStoreCannotWrite(t *testing.T) {
	var st *fullDiskStore
	h := newHarness(t, func(o *Options, rt *Runtime) {
		st = &fullDiskStore{Store: o.Store}
		o.Store = st
	})
	ready := func() answer { return h.do(t, httptest.NewRequest(http.MethodGet, "/readyz", nil)) }
	adminReady := func() answer {
		req := httptest.NewRequest(http.MethodGet, "/admin/readyz", nil)
		req.Header.Set("X-Access-Key", accessKey)
		req.Header.Set("X-Secret-Key", secretKey)
		return h.do(t, req)
	}
	if a := ready(); a.code != 200 || a.raw != `{"status":"ready"}` {
		t.Fatalf("readyz = %d %s, want 200 ready", a.code, a.raw)
	}
	st.setFull(true)
	if a := ready(); a.code != 200 {
		t.Fatalf("readyz within a second of the last probe = %d, want the cached 200", a.code)
	}
	h.now = h.now.Add(time.Second)
	a := ready()
	if a.code != 503 || a.raw != `{"status":"not ready"}` {
		t.Fatalf("readyz with a full disk = %d %s, want 503 saying only not ready", a.code, a.raw)
	}
	if got := testutil.ToFloat64(h.metrics.Ready); got != 0 {
		t.Errorf("gateway_ready with a full disk = %v, want 0", got)
	}
	if a := adminReady(); a.code != 503 || !strings.Contains(a.raw, "store cannot write") || !strings.Contains(a.raw, "no space left") {
		t.Errorf("admin readyz = %d %s, want 503 naming the failed write", a.code, a.raw)
	}
	probes := st.probeCount()
	for range 5 {
		ready()
	}
	if got := st.probeCount(); got != probes {
		t.Errorf("5 polls within a second wrote %d probes, want 0", got-probes)
	}
	st.setFull(false)
	h.now = h.now.Add(time.Second)
	if a := ready(); a.code != 200 {
		t.Errorf("readyz once the disk has room = %d %s, want 200", a.code, a.raw)
	}
	if a := adminReady(); a.code != 200 || a.raw != `{"problems":[],"status":"ready"}` {
		t.Errorf("admin readyz = %d %s, want 200 with no problems", a.code, a.raw)
	}
}

// resetGuard fakes the Redis loss detector.
type resetGuard struct {
	mu      sync.Mutex
	problem string
}

func (g *resetGuard) ResetProblem() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.problem
}

func (g *resetGuard) Acknowledge(context.Context) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	was := g.problem != ""
	g.problem = ""
	return was, nil
}

// TestAcknowledgeReset: a Redis loss fails /readyz until an admin
// acknowledges it; the route needs the admin keys.
func TestAcknowledgeReset(t *testing.T) {
	g := &resetGuard{problem: "redis: data lost (epoch key gone) at 127.0.0.1:6379"}
	h := newHarness(t, func(o *Options, rt *Runtime) { o.Reset = g })
	if a := h.do(t, httptest.NewRequest(http.MethodGet, "/readyz", nil)); a.code != 503 || strings.Contains(a.raw, "6379") {
		t.Fatalf("readyz after a loss = %d %s, want 503 without the address", a.code, a.raw)
	}
	ack := func(keys bool) answer {
		req := httptest.NewRequest(http.MethodPost, "/admin/store/acknowledge-reset", nil)
		if keys {
			req.Header.Set("X-Access-Key", accessKey)
			req.Header.Set("X-Secret-Key", secretKey)
		}
		return h.do(t, req)
	}
	if a := ack(false); a.code != 401 {
		t.Fatalf("acknowledge without keys = %d, want 401", a.code)
	}
	if a := h.do(t, httptest.NewRequest(http.MethodGet, "/readyz", nil)); a.code != 503 {
		t.Fatalf("readyz after a refused acknowledge = %d, want 503", a.code)
	}
	if a := ack(true); a.code != 200 || a.raw != `{"acknowledged":true}` {
		t.Fatalf("acknowledge = %d %s, want acknowledged", a.code, a.raw)
	}
	if a := h.do(t, httptest.NewRequest(http.MethodGet, "/readyz", nil)); a.code != 200 {
		t.Fatalf("readyz after acknowledge = %d %s, want 200", a.code, a.raw)
	}
	if a := ack(true); a.code != 200 || a.raw != `{"acknowledged":false}` {
		t.Fatalf("second acknowledge = %d %s, want nothing to acknowledge", a.code, a.raw)
	}
}
