// Package redistest starts a real redis-server for tests. Leadgate's Redis
// code is Lua scripts, sorted sets and streams whose exact semantics matter,
// so tests talk to the real server rather than an in-memory imitation.
//
// A test calls Start(t) and gets a server on a free loopback port that is
// stopped when the test ends. When redis-server is not installed the test is
// skipped locally, but fails when CI=true or LEADGATE_REQUIRE_REDIS=1 (which
// scripts/test.sh sets), so a missing Redis can never pass CI silently.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"leadgate/gateway/internal/syncbuf"
)

// Binary is the executable Start looks for on PATH.
const Binary = "redis-server"

// startTimeout bounds how long Start waits for the server to answer PING;
// a loaded CI machine running tests with -race can be slow.
const startTimeout = 15 * time.Second

// stopTimeout bounds a graceful Stop before it falls back to SIGKILL, so a
// wedged server cannot hang the test run.
const stopTimeout = 10 * time.Second

// Option configures the server Start launches.
type Option func(*config)

type config struct {
	aof       bool
	dataDir   string
	replicaOf string // host:port of the primary; see WithReplicaOf
	sentinel  string // the Sentinel's monitor line; see StartSentinel
	cluster   bool   // see StartCluster
}

// WithAOF turns on the append-only file with appendfsync everysec, the
// setting Leadgate recommends in production, so restart tests see what a
// real deployment would keep after a crash.
func WithAOF() Option { return func(c *config) { c.aof = true } }

// WithDataDir sets the server's working directory (where the AOF and RDB
// files live). By default Start uses a fresh t.TempDir().
func WithDataDir(dir string) Option { return func(c *config) { c.dataDir = dir } }

// Required reports whether a missing redis-server must fail tests instead of
// skipping them: under CI=true or LEADGATE_REQUIRE_REDIS=1.
func Required() bool {
	if v, _ := strconv.ParseBool(os.Getenv("CI")); v {
		return true
	}
	v, _ := strconv.ParseBool(os.Getenv("LEADGATE_REQUIRE_REDIS"))
	return v
}

// Server is one running redis-server owned by a test.
type Server struct {
	t    testing.TB
	path string
	cfg  config
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been reaped
	output *syncbuf.Buffer
	client *redis.Client
}

// Start launches redis-server on a free 127.0.0.1 port, waits until it
// answers PING and registers its shutdown with t.Cleanup. Without options
// the server persists nothing.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	path, err := exec.LookPath(Binary)
	if err != nil {
		msg := "redis-server not found on PATH; install it (Debian/Ubuntu: apt-get install -y redis-server, macOS: brew install redis) or run scripts/test.sh, which installs it"
		if Required() {
			t.Fatal(msg + " (required because CI or LEADGATE_REQUIRE_REDIS is set)")
		}
		t.Skip(msg)
	}
	s := &Server{t: t, path: path}
	for _, o := range opts {
		o(&s.cfg)
	}
	if s.cfg.dataDir == "" {
		s.cfg.dataDir = t.TempDir()
	}
	t.Cleanup(s.cleanup)

	// A free port found by listening can be taken by someone else before
	// redis binds it; try a few ports before giving up.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: find free port: %v", err)
		}
		s.port = port
		if lastErr = s.launch(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("redistest: start redis-server: %v\n%s", lastErr, s.output.String())
	}
	s.client = redis.NewClient(&redis.Options{Addr: s.Addr()})
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the server's address as a redis:// URL for database 0, the form
// gateway.yaml's redis.url takes.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Client is a client for inspecting the server directly. It lives as long as
// the Server and reconnects across Restart.
func (s *Server) Client() *redis.Client { return s.client }

// Stop shuts the server down gracefully (SIGTERM: Redis flushes its AOF and
// exits). It returns once the process has exited and is a no-op when the
// server is not running.
func (s *Server) Stop() {
	s.t.Helper()
	s.signal(syscall.SIGTERM)
}

// Kill ends the server with SIGKILL, as a crash or an OOM kill would, and
// waits for the process to be gone.
func (s *Server) Kill() {
	s.t.Helper()
	s.signal(syscall.SIGKILL)
}

// Restart stops the server if it is running and starts it again on the same
// port with the same data directory, then waits until it answers PING.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	// The old process's socket may linger briefly; retry binding the same
	// port rather than failing on the first EADDRINUSE.
	var err error
	deadline := time.Now().Add(startTimeout)
	for {
		if err = s.launch(); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("redistest: restart redis-server on %s: %v\n%s", s.Addr(), err, s.output.String())
	}
}

// launch starts the process on s.port and waits until it answers PING.
func (s *Server) launch() error {
	args, err := s.args()
	if err != nil {
		return err
	}
	out := &syncbuf.Buffer{}
	cmd := exec.Command(s.path, args...)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec %s: %w", s.path, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()

	s.mu.Lock()
	s.cmd, s.exited, s.output = cmd, exited, out
	s.mu.Unlock()
	return s.awaitPing(cmd, exited)
}

// args are redis-server's arguments for s.port and s.cfg.
func (s *Server) args() ([]string, error) {
	var args []string
	if s.cfg.sentinel != "" {
		conf, err := s.sentinelConf()
		if err != nil {
			return nil, err
		}
		args = append(args, conf, "--sentinel")
	}
	args = append(args,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.cfg.dataDir,
		"--save", "",
		"--daemonize", "no",
		"--protected-mode", "no",
		"--logfile", "",
		"--databases", "16",
	)
	args = append(args, s.cfg.topologyArgs()...)
	if s.cfg.aof {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	} else {
		args = append(args, "--appendonly", "no")
	}
	return args, nil
}

// awaitPing waits until the process cmd answers PING on s.Addr(), and
// kills it when another server answers there or it never answers in time.
func (s *Server) awaitPing(cmd *exec.Cmd, exited <-chan struct{}) error {
	probe := redis.NewClient(&redis.Options{
		Addr:        s.Addr(),
		DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 500 * time.Millisecond,
		MaxRetries:  -1,
	})
	defer probe.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := probe.Ping(ctx).Err()
		if err == nil {
			// Whoever answers may not be ours: the free port can be taken
			// between freePort and our bind (our server then exits with
			// EADDRINUSE while the other keeps answering), and tests must
			// never run against a stranger's Redis.
			err = owns(ctx, probe, cmd.Process.Pid, exited)
		}
		cancel()
		if err == nil {
			return nil
		}
		if errors.Is(err, errNotOurs) {
			_ = cmd.Process.Kill()
			<-exited
			return err
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited before answering PING on %s", s.Addr())
		default:
		}
		// LOADING replies while an AOF replays are a normal part of a
		// restart; keep waiting for them like for a refused connection.
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("no PING answer on %s within %s: %w", s.Addr(), startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// errNotOurs means the server answering on the port is not the process
// launch started.
var errNotOurs = errors.New("another server answers on the port")

// owns checks that the server probe reaches is the process pid, still
// running: INFO server's process_id is the answering server's pid.
func owns(ctx context.Context, probe *redis.Client, pid int, exited <-chan struct{}) error {
	select {
	case <-exited:
		return fmt.Errorf("%w: redis-server exited, yet %s answers PING", errNotOurs, probe.Options().Addr)
	default:
	}
	info, err := probe.Info(ctx, "server").Result()
	if err != nil {
		return err
	}
	got := infoField(info, "process_id")
	if got != strconv.Itoa(pid) {
		return fmt.Errorf("%w: %s answers with process_id %q, not the started redis-server's %d", errNotOurs, probe.Options().Addr, got, pid)
	}
	return nil
}

// infoField is the value of name in an INFO reply ("name:value" lines).
func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), name+":"); ok {
			return v
		}
	}
	return ""
}

// signal sends sig to the running server and waits for it to exit.
func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-exited
		s.t.Logf("redistest: redis-server on %s ignored %v for %s; killed it", s.Addr(), sig, stopTimeout)
	}
}

func (s *Server) cleanup() {
	if s.client != nil {
		_ = s.client.Close()
	}
	s.signal(syscall.SIGKILL)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("listen: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
