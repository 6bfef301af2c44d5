package postgres_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/pgtest"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/cache"
	"github.com/agentgate/agentgate/state/postgres"
)

// TestUnreachableAtStart: a database that cannot be reached, or a DSN
// that cannot be read, is a clear error naming the host, never the
// password.
func TestUnreachableAtStart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	const password = "s3cret-Passw0rd"
	for _, tc := range []struct {
		name, dsn, want string
	}{
		{"refused", fmt.Sprintf("postgres://agentgate:%s@127.0.0.1:%d/agentgate?sslmode=disable", password, port),
			fmt.Sprintf("postgres://agentgate@127.0.0.1:%d/agentgate: cannot connect", port)},
		{"key=value", fmt.Sprintf("host=127.0.0.1 port=%d user=agentgate password=%s dbname=x sslmode=disable", port, password),
			fmt.Sprintf("postgres://agentgate@127.0.0.1:%d/x", port)},
		{"unparsable", "postgres://agentgate:" + password + "@127.0.0.1:notaport/x", "DSN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := postgres.Open(context.Background(), tc.dsn, postgres.Options{ConnectTimeout: 2 * time.Second})
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error shows the password: %q", err)
			}
			if tc.name == "refused" && !errors.Is(err, state.ErrUnavailable) {
				t.Errorf("error %q is not ErrUnavailable", err)
			}
		})
	}
}

// TestOutageAndRecovery: while the database is down every call fails with
// ErrUnavailable and subscribers are told changes may be missed; when it
// is back the same store works again, with no restart, and says so.
func TestOutageAndRecovery(t *testing.T) {
	srv := pgtest.Start(t) // its own server: this test stops it
	s := cache.Wrap(open(t, srv.CreateDB(t)), cache.Options{TTL: time.Minute})
	changes := make(chan state.Change, 64)
	defer s.Subscribe(func(c state.Change) { changes <- c })()
	hash := sha256.Sum256([]byte("k"))
	must(t, s.PutKey(ctx, &state.APIKey{ID: "k", Hash: hash, Tenant: "t"}))
	must(t, s.CreateAgent(ctx, &adapters.Agent{ID: "a", Tenant: "t"}))

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	gap := awaitGap(t, changes)
	if gap.Live {
		t.Fatal("the first gap says the feed is live")
	}
	for name, call := range map[string]func() error{
		"KeyByHash": func() error { _, err := s.KeyByHash(ctx, hash); return err },
		"GetAgent":  func() error { _, err := s.GetAgent(ctx, "t", "a"); return err },
		"AppendTurn": func() error {
			return s.AppendTurn(ctx, &state.Session{Tenant: "t", AgentID: "a", ID: "s"}, nil)
		},
		"AppendUsage": func() error { return s.AppendUsage(ctx, []state.UsageRecord{{ID: "u", Tenant: "t"}}) },
	} {
		if err := call(); !errors.Is(err, state.ErrUnavailable) {
			t.Errorf("%s while the database is down: %v, want ErrUnavailable", name, err)
		}
		if adapters.AsError(call()).Status() != 503 {
			t.Errorf("%s while the database is down is not a 503", name)
		}
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if gap := awaitGap(t, changes); !gap.Live {
		t.Fatal("no live gap after the database came back")
	}
	// The pool connects again on the next call (connections the outage
	// broke fail once each and are dropped).
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.KeyByHash(ctx, hash)
		if err == nil {
			break
		}
		if !errors.Is(err, state.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("KeyByHash after the database came back: %v", err)
		}
	}
	must(t, s.AppendTurn(ctx, &state.Session{Tenant: "t", AgentID: "a", ID: "s"}, nil))
}

func awaitGap(t *testing.T, changes <-chan state.Change) state.Change {
	t.Helper()
	deadline := time.After(60 * time.Second) // failure bound: the listener pings every 10s
	for {
		select {
		case c := <-changes:
			if c.Kind == state.ChangeGap {
				return c
			}
		case <-deadline:
			t.Fatal("no gap in the changes told")
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
