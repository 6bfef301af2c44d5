package pgtest_test

import (
	"context"
	"net"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agentgate/agentgate/internal/pgtest"
	"github.com/agentgate/agentgate/internal/servertest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestServer: a database of the shared server takes connections with the
// password, keeps data across a restart on the same port, and refuses a
// wrong password.
func TestServer(t *testing.T) {
	s := pgtest.Shared(t)
	dsn := s.CreateDB(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := pgx.Connect(ctx, dsn); err == nil {
		t.Fatal("connected to a stopped server")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != "kept" {
		t.Fatalf("after restart: %q %v", v, err)
	}
	bad := s.DSN("postgres")
	bad = bad[:len("postgres://agentgate:")] + "wrong" + bad[len("postgres://agentgate:")+len(s.Password):]
	if c, err := pgx.Connect(ctx, bad); err == nil {
		c.Close(ctx)
		t.Fatal("a wrong password was accepted")
	}
}

// TestPortTaken: a server whose port another process bound since
// FreePort released it fails to start with an error AddrInUse
// recognises, on which its start tries another port.
func TestPortTaken(t *testing.T) {
	s := pgtest.Shared(t)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := s.Port
	s.Port = l.Addr().(*net.TCPAddr).Port
	err = s.Restart()
	s.Port = port
	if !servertest.AddrInUse(err) {
		t.Errorf("start on a taken port: %v, want an error AddrInUse recognises", err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
}
