package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestStartAnswersAndURLParses(t *testing.T) {
	srv := Start(t)
	ctx := context.Background()
	if err := srv.Client().Ping(ctx).Err(); err != nil {
		t.Fatalf("ping: %v", err)
	}
	want := "redis://" + srv.Addr() + "/0"
	if got := srv.URL(); got != want {
		t.Fatalf("URL() = %q, want %q", got, want)
	}
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatalf("parse URL: %v", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set through URL client: %v", err)
	}
	if got, err := srv.Client().Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("get = %q, %v; want v", got, err)
	}
}

func TestServersAreIndependent(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers share %s", a.Addr())
	}
	ctx := context.Background()
	if err := a.Client().Set(ctx, "k", "a", 0).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}
	if n, err := b.Client().Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("exists on b = %d, %v; want 0", n, err)
	}
}

func TestRestart(t *testing.T) {
	tests := []struct {
		name     string
		opts     []Option
		stop     func(*Server)
		wantKept bool
	}{
		{"no persistence, graceful", nil, (*Server).Stop, false},
		{"aof, graceful", []Option{WithAOF()}, (*Server).Stop, true},
		// A SIGKILL loses only what the kernel never got; the AOF write
		// happens before Redis replies, so an acknowledged SET survives a
		// process kill.
		{"aof, kill -9", []Option{WithAOF()}, (*Server).Kill, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := Start(t, tt.opts...)
			ctx := context.Background()
			addr := srv.Addr()
			if err := srv.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
				t.Fatalf("set: %v", err)
			}
			tt.stop(srv)
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				t.Fatalf("%s still accepts connections after stop", addr)
			}
			srv.Restart()
			if srv.Addr() != addr {
				t.Fatalf("restarted on %s, want %s", srv.Addr(), addr)
			}
			n, err := srv.Client().Exists(ctx, "k").Result()
			if err != nil {
				t.Fatalf("exists after restart: %v", err)
			}
			if got := n == 1; got != tt.wantKept {
				t.Fatalf("key kept = %v, want %v", got, tt.wantKept)
			}
		})
	}
}

func TestRestartWhileRunning(t *testing.T) {
	srv := Start(t, WithAOF())
	ctx := context.Background()
	if err := srv.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}
	srv.Restart()
	if got, err := srv.Client().Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("get after restart = %q, %v; want v", got, err)
	}
}

func TestSharedDataDir(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	first := Start(t, WithAOF(), WithDataDir(dir))
	if err := first.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}
	first.Stop()
	second := Start(t, WithAOF(), WithDataDir(dir))
	if got, err := second.Client().Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("get from second server = %q, %v; want v", got, err)
	}
}

func TestStopAndKillAreIdempotent(t *testing.T) {
	srv := Start(t)
	srv.Stop()
	srv.Stop()
	srv.Kill()
}

// recordingTB captures Skip and Fatal instead of ending the real test, so
// the missing-binary behaviour can be checked without a missing binary.
type recordingTB struct {
	testing.TB
	mu      sync.Mutex
	skipped string
	fatal   string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Skip(args ...any) {
	r.mu.Lock()
	r.skipped = fmt.Sprint(args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recordingTB) Fatal(args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprint(args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recordingTB) Fatalf(format string, args ...any) { r.Fatal(fmt.Sprintf(format, args...)) }

func TestMissingBinary(t *testing.T) {
	tests := []struct {
		name      string
		ci        string
		require   string
		wantFatal bool
	}{
		{"local run skips", "", "", false},
		{"CI fails", "true", "", true},
		{"script run fails", "", "1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PATH", t.TempDir())
			t.Setenv("CI", tt.ci)
			t.Setenv("LEADGATE_REQUIRE_REDIS", tt.require)
			rec := &recordingTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Start(rec)
			}()
			<-done
			rec.mu.Lock()
			defer rec.mu.Unlock()
			msg := rec.skipped
			if tt.wantFatal {
				msg = rec.fatal
			}
			if msg == "" {
				t.Fatalf("skipped %q, fatal %q; want fatal=%v", rec.skipped, rec.fatal, tt.wantFatal)
			}
			if !strings.Contains(msg, "apt-get install -y redis-server") {
				t.Fatalf("message %q does not say how to install redis-server", msg)
			}
		})
	}
}

// TestLaunchRefusesAStrangersServer: when the free port was taken before
// redis-server bound it, another server answers PING there; launch must
// notice that the answer is not from its own process rather than let the
// test run against someone else's Redis. The stand-in binary never binds,
// so only the process check can tell.
func TestLaunchRefusesAStrangersServer(t *testing.T) {
	stranger := Start(t)
	tests := []struct {
		name   string
		script string
	}{
		{"own process still running", "#!/bin/sh\nexec sleep 60\n"},
		{"own process exited", "#!/bin/sh\nexit 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "fake-redis-server")
			if err := os.WriteFile(bin, []byte(tt.script), 0o755); err != nil {
				t.Fatal(err)
			}
			s := &Server{t: t, path: bin, port: stranger.port, cfg: config{dataDir: t.TempDir()}}
			t.Cleanup(s.cleanup)
			err := s.launch()
			if err == nil {
				t.Fatalf("launch returned nil: it took the stranger's server on %s for its own", stranger.Addr())
			}
			if !strings.Contains(err.Error(), "another server answers") {
				t.Fatalf("launch error = %v, want it to say another server answers", err)
			}
			select {
			case <-s.exited:
			default:
				t.Fatalf("the started process is still running after launch gave up")
			}
		})
	}
	if err := stranger.Client().Ping(context.Background()).Err(); err != nil {
		t.Fatalf("the stranger's server was disturbed: %v", err)
	}
}
