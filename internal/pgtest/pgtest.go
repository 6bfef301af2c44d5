// Package pgtest starts throwaway PostgreSQL servers for tests: initdb
// into a temporary directory, pg_ctl on a free loopback port with
// password (SCRAM) authentication and fsync off, stopped and removed when
// the test (or the test binary, for a shared server) ends. The server
// comes from Debian's postgresql package (/usr/lib/postgresql/*/bin).
// Where it is absent a test skips, loudly; under CI=true it fails
// (internal/servertest, which internal/redistest shares).
//
// Tests and CI run as root, which initdb refuses: the server then runs as
// the postgres user the package creates (runuser), over a directory it
// owns.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentgate/agentgate/internal/servertest"
)

// User is the superuser every server is created with.
const User = "agentgate"

// Server is a running PostgreSQL server.
type Server struct {
	Port     int
	Password string
	dir      string // holds data/, the socket, the log
	bin      string
	asUser   string // run server commands as this user ("" for ourselves)
	durable  bool   // fsync on: New's servers, not the tests'
	dbs      atomic.Int64
}

// New starts a server outside tests (the benchmark command); Close
// stops and removes it. ErrAbsent says the server is not installed.
// Unlike the tests' servers it syncs its writes to disk, as a real
// deployment does, so what it costs is what a gateway would see.
func New() (*Server, error) {
	s, err := prepare()
	if err != nil {
		return nil, err
	}
	s.durable = true
	if err := s.startOrRemove(); err != nil {
		return nil, err
	}
	return s, nil
}

// Close stops the server and removes its files.
func (s *Server) Close() error {
	err := s.Stop()
	s.remove()
	return err
}

// postgres is the kind of server this package starts (Debian's
// postgresql package installs it).
var postgres = &servertest.Kind[*Server]{Name: "PostgreSQL", Package: "postgresql", ErrAbsent: ErrAbsent, Launch: start}

// Start starts a server for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return postgres.Start(t)
}

var shared servertest.Shared[*Server]

// Shared returns the test binary's shared server, starting it on first
// use; a package using it runs Main from TestMain, which stops it. Each
// test takes its own database with CreateDB.
func Shared(t testing.TB) *Server {
	t.Helper()
	return shared.Get(t, postgres)
}

// Main runs m's tests, then stops and removes the shared server if one
// started: call it from TestMain as os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	StopShared()
	return code
}

// StopShared stops and removes the shared server, if one started: for a
// TestMain that does more than Main.
func StopShared() { shared.Stop(postgres) }

// ErrAbsent is returned when the PostgreSQL server binaries are not
// installed.
var ErrAbsent = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or on PATH")

// binDir finds the newest installed server's binaries.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrAbsent
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func start() (*Server, error) {
	s, err := prepare()
	if err != nil {
		return nil, err
	}
	if err := s.startOrRemove(); err != nil {
		return nil, err
	}
	return s, nil
}

// startOrRemove starts the server, on another free port if the one
// prepare found was taken meanwhile, or removes it.
func (s *Server) startOrRemove() error {
	for attempt := 1; ; attempt++ {
		err := s.Restart()
		if err == nil {
			return nil
		}
		if attempt == servertest.BindAttempts || !servertest.AddrInUse(err) {
			s.remove()
			return err
		}
		if s.Port, err = servertest.FreePort(); err != nil {
			s.remove()
			return err
		}
		// The next attempt's log shows its own failure only.
		_ = os.Remove(filepath.Join(s.dir, "log"))
	}
}

// prepare creates a server's data directory (initdb) on a free port.
func prepare() (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, Password: randomHex(12)}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("running as root, initdb needs the postgres user (Debian's postgresql package creates it): %w", err)
		}
		s.asUser = "postgres"
	}
	if s.dir, err = os.MkdirTemp("", "pgtest-"); err != nil {
		return nil, err
	}
	if err := s.chown(s.dir); err != nil {
		s.remove()
		return nil, err
	}
	pwfile := filepath.Join(s.dir, "pw")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		s.remove()
		return nil, err
	}
	if err := s.chown(pwfile); err != nil {
		s.remove()
		return nil, err
	}
	if out, err := s.run("initdb", "-D", s.data(), "-U", User, "--pwfile="+pwfile, "-A", "scram-sha-256",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"); err != nil {
		s.remove()
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if s.Port, err = servertest.FreePort(); err != nil {
		s.remove()
		return nil, err
	}
	return s, nil
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// Restart starts the server again on its port after Stop: what a
// database coming back after an outage looks like.
func (s *Server) Restart() error {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=400", s.Port, s.dir)
	if !s.durable {
		opts += " -c fsync=off -c full_page_writes=off"
	}
	if out, err := s.run("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return nil
}

// Stop stops the server (fast shutdown: open connections are cut).
func (s *Server) Stop() error {
	if out, err := s.run("pg_ctl", "-D", s.data(), "-m", "fast", "-w", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

func (s *Server) remove() { _ = os.RemoveAll(s.dir) }

// DSN returns the URL of database db on s, with the password.
func (s *Server) DSN(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(User, s.Password), Host: fmt.Sprintf("127.0.0.1:%d", s.Port),
		Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// CreateDB creates a new, empty database and returns its DSN.
func (s *Server) CreateDB(t testing.TB) string {
	t.Helper()
	dsn, err := s.CreateDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// CreateDatabase creates a new, empty database and returns its DSN.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("test_%d_%s", s.dbs.Add(1), randomHex(4))
	if err := s.Exec(ctx, "postgres", "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	return s.DSN(name), nil
}

// Exec runs sql in database db.
func (s *Server) Exec(ctx context.Context, db, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN(db))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// run runs one of the server's programs as the server's user.
func (s *Server) run(prog string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, prog)
	var cmd *exec.Cmd
	if s.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.dir
	return cmd.CombinedOutput()
}

func (s *Server) chown(path string) error {
	if s.asUser == "" {
		return nil
	}
	u, err := user.Lookup(s.asUser)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(path, uid, gid)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(hex.EncodeToString(b))
}
