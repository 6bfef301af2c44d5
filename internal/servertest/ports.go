package servertest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// A port chosen free is released before its server binds it. Another
// process may be given it in between, and where both servers are Caddy
// neither notices: Caddy sets SO_REUSEPORT, so both bind and the kernel
// shares the connections between them (a CLI call to one gateway's admin
// API was answered by another test binary's site). So every port chosen
// here is also claimed, with an flock on a file named after it that the
// harnesses of every test binary on the machine respect; the kernel lets
// the lock go when its holder closes it or exits.
var claimDir = filepath.Join(os.TempDir(), "agentgate-test-ports")

// claimAttempts bounds the free ports tried for one claim.
const claimAttempts = 100

// Claim is a loopback port no one listens on now, claimed until Release.
type Claim struct {
	Port int
	f    *os.File
}

// Release lets another harness be given the port.
func (c *Claim) Release() { _ = c.f.Close() }

// ClaimFree returns a claim on a free loopback TCP port.
func ClaimFree() (*Claim, error) {
	if err := os.MkdirAll(claimDir, 0o777); err != nil {
		return nil, err
	}
	for range claimAttempts {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		f, err := os.OpenFile(filepath.Join(claimDir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return nil, err
		}
		// flock, not fcntl: its lock belongs to the open file, so a second
		// claim of the port in this same process is refused too.
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &Claim{Port: port, f: f}, nil
		}
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no free port unclaimed after %d tries", claimAttempts)
}

// ClaimPort returns a free loopback TCP port claimed until t ends (after
// the cleanups t registers later, such as its server's stop).
func ClaimPort(t testing.TB) int {
	t.Helper()
	c, err := ClaimFree()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Release)
	return c.Port
}

// FreePort returns a free loopback TCP port claimed until the test binary
// exits: for servers shared by a binary's tests, which outlive any one
// test.
func FreePort() (int, error) {
	c, err := ClaimFree()
	if err != nil {
		return 0, err
	}
	binaryClaims.Lock()
	defer binaryClaims.Unlock()
	// Kept reachable: a file the collector finalizes is closed, and its
	// lock let go.
	binaryClaims.held = append(binaryClaims.held, c)
	return c.Port, nil
}

var binaryClaims struct {
	sync.Mutex
	held []*Claim
}

// freePort returns a loopback TCP port no one listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
