// Package redistest starts throwaway Redis servers for tests:
// `redis-server` on a free loopback port, nothing saved to disk, stopped
// when the test (or the test binary, for a shared server) ends. The
// server comes from Debian's redis-server package (or any redis-server
// or valkey-server on PATH). Where it is absent a test skips, loudly;
// under CI=true it fails (internal/servertest, which internal/pgtest
// shares).
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/servertest"
)

// Server is a running Redis server.
type Server struct {
	Port int
	bin  string
	dir  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	// prefixes hands out a key prefix per test on a shared server.
	prefixes atomic.Int64
}

// ErrAbsent is returned when no Redis server binary is installed.
var ErrAbsent = errors.New("redis-server (or valkey-server) not found on PATH")

// New starts a server outside tests (the benchmark command); Close
// stops it. ErrAbsent says the server is not installed.
func New() (*Server, error) { return start() }

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	err := s.Stop()
	_ = os.RemoveAll(s.dir)
	return err
}

// redis is the kind of server this package starts (Debian's
// redis-server package installs it).
var redis = &servertest.Kind[*Server]{Name: "Redis", Package: "redis-server", ErrAbsent: ErrAbsent, Launch: start}

// Start starts a server for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return redis.Start(t)
}

var shared servertest.Shared[*Server]

// Shared returns the test binary's shared server, starting it on first
// use; a package using it calls StopShared from TestMain. Each test
// takes its own key prefix with Prefix.
func Shared(t testing.TB) *Server {
	t.Helper()
	return shared.Get(t, redis)
}

// StopShared stops the shared server, if one started.
func StopShared() { shared.Stop(redis) }

// Prefix returns a key prefix no other test of this server uses.
func (s *Server) Prefix() string { return fmt.Sprintf("test%d:", s.prefixes.Add(1)) }

// URL is the server's redis:// URL.
func (s *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.Port) }

// Addr is the server's host:port.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

func binary() (string, error) {
	for _, name := range []string{"redis-server", "valkey-server"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrAbsent
}

func start() (*Server, error) {
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir}
	for attempt := 1; ; attempt++ {
		if s.Port, err = servertest.FreePort(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		// The port may have been taken since FreePort released it.
		err = s.Restart()
		if err == nil {
			return s, nil
		}
		if attempt == servertest.BindAttempts || !servertest.AddrInUse(err) {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
}

// Restart starts the server again on its port after Stop: empty, as a
// Redis that lost its state comes back.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("redis-server is running")
	}
	cmd := exec.Command(s.bin, "--port", fmt.Sprint(s.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--dir", s.dir, "--logfile", "")
	cmd.Dir = s.dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	var log strings.Builder
	var logMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			logMu.Lock()
			if log.Len() < 8<<10 {
				log.WriteString(sc.Text() + "\n")
			}
			logMu.Unlock()
		}
		_ = cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Ready when the server answering on the port is this one: a
		// server another test binary started on it (FreePort released
		// it) answers too, until this one exits failing to bind.
		if pid, err := serverPID(s.Addr()); err == nil && pid == cmd.Process.Pid {
			break
		}
		select {
		case <-done:
			logMu.Lock()
			defer logMu.Unlock()
			return fmt.Errorf("redis-server exited while starting:\n%s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server did not answer INFO on port %d within 30s", s.Port)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.cmd, s.done = cmd, done
	return nil
}

// Stop stops the server (SIGTERM, then SIGKILL after 10s). It may be
// started again with Restart.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // a paused server's SIGTERM waits for it
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	return nil
}

// Pause stops the server's process (SIGSTOP) without closing anything:
// a Redis that swallows packets, as behind a dead host or a firewall.
// Connections are still accepted by the kernel and what is sent is
// buffered, but nothing answers until Resume.
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP) }

// Resume lets a paused server run again (SIGCONT): it then serves what
// was sent meanwhile.
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("redis-server is not running")
	}
	return s.cmd.Process.Signal(sig)
}

// serverPID asks the Redis server at addr for its process id (INFO
// server).
func serverPID(addr string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("INFO server\r\n")); err != nil {
		return 0, err
	}
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	var n int
	if _, err := fmt.Sscanf(head, "$%d", &n); err != nil {
		return 0, fmt.Errorf("INFO answered %q", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("INFO server has no process_id")
}
