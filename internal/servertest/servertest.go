// Package servertest is what the throwaway-server harnesses
// (internal/pgtest, internal/redistest) share, so that every server a
// test starts behaves alike: it listens on a free loopback port, it is
// stopped (and its files removed) when the test or the test binary ends,
// and where it is not installed the test skips loudly, or fails under
// CI=true, where its absence is a broken build machine.
package servertest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Server is a running throwaway server: Close stops it and removes its
// files.
type Server interface {
	Close() error
}

// Kind describes one kind of throwaway server to the helpers here.
type Kind[S Server] struct {
	// Name names the server in messages ("PostgreSQL").
	Name string
	// Package is the Debian package that installs it, which a skipped
	// test's message asks for.
	Package string
	// ErrAbsent is the error Launch returns when the server is not
	// installed.
	ErrAbsent error
	// Launch starts a server on a free port.
	Launch func() (S, error)
}

// Absent skips t because err says the server is not installed, or fails
// it under CI=true.
func (k *Kind[S]) Absent(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %v", err)
	}
	t.Skipf("SKIPPING: %v (install Debian's %s package to run this test)", err, k.Package)
}

// launched is the end of every start for a test: absence skips (Absent),
// any other error fails t.
func (k *Kind[S]) launched(t testing.TB, s S, err error) S {
	t.Helper()
	if errors.Is(err, k.ErrAbsent) {
		k.Absent(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Start starts a server for t and closes it when t ends.
func (k *Kind[S]) Start(t testing.TB) S {
	t.Helper()
	s, err := k.Launch()
	s = k.launched(t, s, err)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stopping %s: %v", k.Name, err)
		}
	})
	return s
}

// Shared is the one server of a kind that a test binary's tests share:
// started on first use, closed by Stop (from TestMain).
type Shared[S Server] struct {
	once    sync.Once
	s       S
	running bool
	err     error
}

// Get returns the shared server, starting it on first use; when it could
// not start, every caller skips or fails as Start's do.
func (sh *Shared[S]) Get(t testing.TB, k *Kind[S]) S {
	t.Helper()
	sh.once.Do(func() {
		sh.s, sh.err = k.Launch()
		sh.running = sh.err == nil
	})
	return k.launched(t, sh.s, sh.err)
}

// Stop closes the shared server, if one started. A failure is only
// reported: TestMain has no test left to fail.
func (sh *Shared[S]) Stop(k *Kind[S]) {
	if !sh.running {
		return
	}
	if err := sh.s.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the shared %s server: %v\n", k.Name, err)
	}
	var none S
	sh.s, sh.running = none, false
}

// BindAttempts is how many free ports a harness tries for one server.
const BindAttempts = 5

// AddrInUse reports whether err, or the server output it quotes, says the
// port was taken ("address already in use", as Go, Caddy, PostgreSQL and
// Redis word it).
func AddrInUse(err error) bool {
	return err != nil && (errors.Is(err, syscall.EADDRINUSE) || strings.Contains(strings.ToLower(err.Error()), "address already in use"))
}
