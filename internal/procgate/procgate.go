// Package procgate runs gateways as separate processes of the built
// agentgate binary, each on its own loopback ports and working directory,
// for tests of what only separate processes show: several instances
// sharing one backend, a process killed with SIGKILL, the CLI. The binary
// is built once per test binary (go build ./cmd/agentgate into a
// temporary directory); a package using it runs Cleanup from TestMain.
package procgate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/servertest"
	"github.com/agentgate/agentgate/internal/testgate"
)

var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// Binary returns the path of the agentgate binary built from this
// module's ./cmd/agentgate, building it on first use.
func Binary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() { built.bin, built.err = build() })
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

func build() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	if built.dir, err = os.MkdirTemp("", "procgate-"); err != nil {
		return "", err
	}
	bin := filepath.Join(built.dir, "agentgate")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/agentgate")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/agentgate: %v\n%s", err, out)
	}
	return bin, nil
}

// Cleanup removes the built binary: call it from TestMain after the tests.
func Cleanup() {
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
}

// Instance is a gateway running as a process of its own. Its Gateway
// sends it requests.
type Instance struct {
	*testgate.Gateway
	Name string
	Dir  string // its working directory: Caddyfile, log, data/
	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	// port and adminAddr are where it serves, for Reload.
	port      int
	adminAddr string
	// retried: this process could not bind its ports and another
	// instance replaced it; its log is not the test's to show.
	retried bool
}

// Start runs an instance of the binary with the test gateway Caddyfile of
// cfg (testgate.Render) and stops it when the test ends. name tells the
// instance apart in failures.
func Start(t testing.TB, name string, cfg testgate.Config) *Instance {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	caddyfile := filepath.Join(dir, "Caddyfile")
	for attempt := 1; ; attempt++ {
		port, admin := testgate.FreePort(t), testgate.FreePort(t)
		adminAddr := fmt.Sprintf("127.0.0.1:%d", admin)
		if err := os.WriteFile(caddyfile, []byte(testgate.Render(adminAddr, port, dataDir, cfg)), 0o600); err != nil {
			t.Fatal(err)
		}
		i := &Instance{Name: name, Dir: dir, t: t, done: make(chan struct{}), port: port, adminAddr: adminAddr,
			Gateway: testgate.Attach(t, fmt.Sprintf("http://127.0.0.1:%d", port), adminAddr, dataDir)}
		err := i.run(bin, caddyfile, environ())
		if err == nil {
			return i
		}
		// The ports were free when chosen, not reserved: a test binary of
		// another package may have bound one first, and the process
		// exited saying so. Another pair of ports, then.
		log := i.Log()
		if attempt == servertest.BindAttempts || !i.Exited() || !servertest.AddrInUse(errors.New(log)) {
			t.Fatalf("%s: %v\n%s", name, err, log)
		}
		i.retried = true
	}
}

// StartCaddyfile runs an instance of the binary with the Caddyfile at
// path, in a working directory of its own, with the test process's
// environment (agentgate's variables removed) plus env, and stops it when
// the test ends: for a Caddyfile of the repository, whose addresses and
// data directory come from env. It serves its site at url and its admin
// API at admin.
func StartCaddyfile(t testing.TB, name, path string, env map[string]string, url, admin, dataDir string) *Instance {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	port := 0
	if _, err := fmt.Sscanf(url[strings.LastIndexByte(url, ':')+1:], "%d", &port); err != nil {
		t.Fatalf("url %q has no port: %v", url, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	i := &Instance{Name: name, Dir: dir, t: t, done: make(chan struct{}), port: port, adminAddr: admin,
		Gateway: testgate.Attach(t, url, admin, dataDir)}
	if err := i.run(bin, abs, Environ(env)); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, i.Log())
	}
	return i
}

// Environ is the test process's environment without agentgate's own
// variables, plus env.
func Environ(env map[string]string) []string {
	out := environ()
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// run starts the binary on caddyfile with environment env and waits until
// it listens on the instance's port and its admin API serves the agentgate
// app; an error says it did not (it may have exited).
func (i *Instance) run(bin, caddyfile string, env []string) error {
	i.t.Helper()
	t, name, dir := i.t, i.Name, i.Dir
	log, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	i.cmd = exec.Command(bin, "run", "--config", caddyfile, "--adapter", "caddyfile")
	i.cmd.Dir, i.cmd.Stdout, i.cmd.Stderr = dir, log, log
	i.cmd.Env = env
	if err := i.cmd.Start(); err != nil {
		log.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		i.err = i.cmd.Wait()
		log.Close()
		close(i.done)
	}()
	t.Cleanup(func() {
		i.Stop()
		if t.Failed() && !i.retried {
			t.Logf("log of %s:\n%s", name, i.Log())
		}
	})
	if err := i.waitListening(i.port, 60*time.Second); err != nil {
		return err
	}
	return i.waitActive(60 * time.Second)
}

// Reload replaces the instance's Caddyfile with cfg's and runs `caddy
// reload` on it, as an operator rolling out a change does: the running
// process takes the new config without a restart.
func (i *Instance) Reload(cfg testgate.Config) error {
	i.t.Helper()
	caddyfile := filepath.Join(i.Dir, "Caddyfile")
	if err := os.WriteFile(caddyfile, []byte(testgate.Render(i.adminAddr, i.port, i.DataDir, cfg)), 0o600); err != nil {
		return err
	}
	out, err := Run(i.t, i.Dir, "reload", "--config", caddyfile, "--adapter", "caddyfile", "--address", i.adminAddr)
	if err != nil {
		return fmt.Errorf("caddy reload of %s: %v\n%s", i.Name, err, out)
	}
	return nil
}

// environ is this process's environment without agentgate's own
// variables, which would change the instances' configuration.
func environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AGENTGATE_") {
			out = append(out, kv)
		}
	}
	return out
}

// waitListening waits until the instance accepts connections on port, or
// has exited.
func (i *Instance) waitListening(port int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if i.Exited() {
			return fmt.Errorf("exited while starting: %v", i.err)
		}
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not listening on port %d after %v", port, limit)
}

// waitActive waits until the instance's admin API answers for the agentgate
// app, or the instance has exited. Listening is not enough: Caddy starts its
// apps in no fixed order and makes the config current only after all have
// started, and until then the admin API answers 503 "not running".
func (i *Instance) waitActive(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: 5 * time.Second}
	last := "no answer"
	for time.Now().Before(deadline) {
		if i.Exited() {
			return fmt.Errorf("exited while starting: %v", i.err)
		}
		resp, err := client.Get("http://" + i.adminAddr + "/agentgate/status")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("admin API at %s not serving agentgate after %v: %s", i.adminAddr, limit, last)
}

// Exited reports whether the process has ended.
func (i *Instance) Exited() bool {
	select {
	case <-i.done:
		return true
	default:
		return false
	}
}

// Stop asks the instance to shut down (SIGINT: Caddy stops gracefully,
// committing what it queued) and kills it if it has not within 30s.
func (i *Instance) Stop() {
	if i.Exited() {
		return
	}
	_ = i.cmd.Process.Signal(os.Interrupt)
	select {
	case <-i.done:
	case <-time.After(30 * time.Second):
		i.Kill()
	}
}

// Kill ends the instance with SIGKILL: no shutdown, nothing flushed, as a
// crash or `kill -9` does.
func (i *Instance) Kill() {
	if i.Exited() {
		return
	}
	_ = i.cmd.Process.Signal(syscall.SIGKILL)
	<-i.done
}

// Log returns what the instance wrote to stdout and stderr.
func (i *Instance) Log() string {
	b, err := os.ReadFile(filepath.Join(i.Dir, "log"))
	if err != nil {
		return err.Error()
	}
	if len(b) > 64<<10 {
		b = append([]byte("…"), b[len(b)-64<<10:]...)
	}
	return string(b)
}

// Run runs the binary with args (a CLI command) in dir and returns its
// combined output.
func Run(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	return RunEnv(t, dir, nil, args...)
}

// RunEnv is Run with env added to the environment (Environ).
func RunEnv(t testing.TB, dir string, env map[string]string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Dir, cmd.Env = dir, Environ(env)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running %v: %v", args, err)
	}
	return out.String(), err
}
