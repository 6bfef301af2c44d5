package servertest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// fakeServer counts its closes.
type fakeServer struct{ closed int }

func (f *fakeServer) Close() error { f.closed++; return nil }

var errGone = errors.New("fake server not installed")

// outcome is how a call on a test ended: skipped, failed or returned.
type outcome struct {
	testing.TB
	skipped, failed string
}

func (o *outcome) Helper() {}

func (o *outcome) Skipf(format string, args ...any) {
	o.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (o *outcome) Fatalf(format string, args ...any) {
	o.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (o *outcome) Fatal(args ...any) {
	o.failed = fmt.Sprint(args...)
	runtime.Goexit()
}

// run calls fn with an outcome in a goroutine of its own, as the testing
// package runs a test, so that a skip or failure ends only fn.
func run(t *testing.T, fn func(testing.TB)) *outcome {
	o := &outcome{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(o)
	}()
	<-done
	return o
}

// An absent server skips the test with a reason, except under CI=true,
// where it fails it; any other launch error fails it either way.
func TestAbsent(t *testing.T) {
	k := &Kind[*fakeServer]{Name: "Fake", Package: "fake-server", ErrAbsent: errGone,
		Launch: func() (*fakeServer, error) { return nil, fmt.Errorf("looking: %w", errGone) }}
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		o := run(t, func(tb testing.TB) { k.Start(tb) })
		if ci == "true" {
			if o.failed == "" || o.skipped != "" {
				t.Errorf("CI=true: skipped %q, failed %q; want a failure", o.skipped, o.failed)
			}
			continue
		}
		if o.failed != "" || !strings.Contains(o.skipped, "SKIPPING") || !strings.Contains(o.skipped, "fake-server package") {
			t.Errorf("CI unset: skipped %q, failed %q; want a loud skip naming the package", o.skipped, o.failed)
		}
	}
	t.Setenv("CI", "")
	broken := &Kind[*fakeServer]{Name: "Fake", ErrAbsent: errGone,
		Launch: func() (*fakeServer, error) { return nil, errors.New("initdb failed") }}
	if o := run(t, func(tb testing.TB) { broken.Start(tb) }); o.failed != "initdb failed" {
		t.Errorf("a broken launch: skipped %q, failed %q", o.skipped, o.failed)
	}
}

// A test's server is closed when the test ends.
func TestStartCloses(t *testing.T) {
	f := &fakeServer{}
	k := &Kind[*fakeServer]{Name: "Fake", ErrAbsent: errGone, Launch: func() (*fakeServer, error) { return f, nil }}
	t.Run("uses", func(t *testing.T) {
		if k.Start(t) != f || f.closed != 0 {
			t.Fatalf("closed %d times while the test runs", f.closed)
		}
	})
	if f.closed != 1 {
		t.Fatalf("closed %d times after the test, want 1", f.closed)
	}
}

// The shared server is launched once, whoever asks, and closed once by
// Stop.
func TestShared(t *testing.T) {
	launches := 0
	f := &fakeServer{}
	k := &Kind[*fakeServer]{Name: "Fake", ErrAbsent: errGone, Launch: func() (*fakeServer, error) { launches++; return f, nil }}
	var sh Shared[*fakeServer]
	sh.Stop(k) // none started: nothing to do
	for range 3 {
		if sh.Get(t, k) != f {
			t.Fatal("another server")
		}
	}
	sh.Stop(k)
	sh.Stop(k)
	if launches != 1 || f.closed != 1 {
		t.Fatalf("%d launches, %d closes; want 1 and 1", launches, f.closed)
	}
}

// TestClaims: a claimed port is free, and no other claim, in this
// process or another, gets it until it is released.
func TestClaims(t *testing.T) {
	c, err := ClaimFree()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", c.Port))
	if err != nil {
		t.Fatalf("port %d is not free: %v", c.Port, err)
	}
	l.Close()
	lock := func() error {
		f, err := os.Open(filepath.Join(claimDir, strconv.Itoa(c.Port)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err := lock(); !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatalf("the claimed port's lock taken again: %v", err)
	}
	c.Release()
	if err := lock(); err != nil {
		t.Fatalf("after Release: %v", err)
	}
}
