// Package postgres is the store several gateway instances share: every
// object in one PostgreSQL database, reached through a pgx connection
// pool. It is the Caddy module agentgate.storage.postgres (module.go).
//
// What it guarantees beside the contract of package state:
//   - The schema is created and migrated at Open, forward only, under an
//     advisory lock, so instances starting at once migrate once
//     (migrate.go).
//   - Writes to keys, agents and their versions, tiers and memories send
//     a notification in their transaction (NOTIFY): every instance
//     LISTENs, and tells its subscribers (the read cache, the memory
//     indexes) when the transaction commits (listen.go).
//   - A database that cannot be reached makes calls fail with
//     state.ErrUnavailable (503s); the pool connects again by itself
//     when it is back.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/agentgate/agentgate/state"
)

// Options tunes Open. The zero value is ready to use.
type Options struct {
	// MaxConns caps the pool's connections (default: pgxpool's, the
	// greater of 4 and the CPU count); the notification listener holds
	// one more.
	MaxConns int32
	// ConnectTimeout bounds one connection attempt (default 5s).
	ConnectTimeout time.Duration
	// Log receives the listener's reconnections; nil means none.
	Log *zap.Logger
	// Tracer sees every query (tests count round trips with it).
	Tracer pgx.QueryTracer
}

// DefaultConnectTimeout is Options.ConnectTimeout's default.
const DefaultConnectTimeout = 5 * time.Second

// Store is the state.Store kept in a PostgreSQL database. It is safe for
// concurrent use, and any number of Stores (in any number of processes)
// may share one database. It keeps no clock: the times it stores are its
// callers' (the database's own now() dates only the schema's versions).
type Store struct {
	pool     *pgxpool.Pool
	location string
	// origin tells this handle's notifications from other instances'.
	origin string
	log    *zap.Logger
	feed   state.Feed

	listener *listener

	closeOnce sync.Once
	closed    chan struct{}
}

var _ state.Store = (*Store)(nil)

// Open connects to the database dsn names (a postgres:// URL or a
// key=value string), creates or migrates its schema, and starts listening
// for other instances' changes. Its errors name the database's host,
// port and name, never the password.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included.
		return nil, errors.New("postgres: the DSN is neither a postgres:// URL nor a key=value connection string PostgreSQL understands")
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	cfg.ConnConfig.Tracer = opts.Tracer
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	s := &Store{location: Location(cfg.ConnConfig), origin: newOrigin(), log: opts.Log, closed: make(chan struct{})}
	s.pool, err = pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres at %s: %w", s.location, err)
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("postgres at %s: cannot connect: %w", s.location, unavailable(err))
	}
	if err := migrate(ctx, s.pool, len(migrations)); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("postgres at %s: %w", s.location, err)
	}
	s.listener = newListener(s, cfg.ConnConfig)
	if err := s.listener.start(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("postgres at %s: listening for other instances' changes: %w", s.location, unavailable(err))
	}
	return s, nil
}

// Location names a database as its connection config does: user, host,
// port and name, without the password.
func Location(c *pgx.ConnConfig) string {
	host := c.Host
	if strings.HasPrefix(host, "/") {
		return fmt.Sprintf("postgres://%s@[%s]:%d/%s", c.User, host, c.Port, c.Database)
	}
	return fmt.Sprintf("postgres://%s@%s/%s", c.User, net.JoinHostPort(host, fmt.Sprint(c.Port)), c.Database)
}

// Location is the database the store is kept in, for logs.
func (s *Store) Location() string { return s.location }

func newOrigin() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Close stops listening and closes the pool; later calls fail with
// state.ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.listener.stop()
		s.feed.Close()
		s.pool.Close()
	})
	return nil
}

// Subscribe implements state.Changes: changes committed through any
// Store on the database, this one's marked Local.
func (s *Store) Subscribe(fn func(state.Change)) (cancel func()) { return s.feed.Subscribe(fn) }

// enter fails when the store is closed.
func (s *Store) enter() error {
	select {
	case <-s.closed:
		return state.ErrClosed
	default:
		return nil
	}
}

// fail turns err into the store's errors: a database that cannot be
// reached is state.ErrUnavailable.
func (s *Store) fail(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return state.ErrNotFound
	}
	select {
	case <-s.closed:
		return state.ErrClosed
	default:
	}
	return unavailable(err)
}

// unavailable wraps err with state.ErrUnavailable when it says the
// database could not be reached or went away, rather than that it
// refused the statement.
func unavailable(err error) error {
	if err == nil || errors.Is(err, state.ErrUnavailable) || errors.Is(err, context.Canceled) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", // shutting down, starting up
			pgErr.Code == "53300": // too many connections
			return fmt.Errorf("%w: %w", state.ErrUnavailable, err)
		}
		return err
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err) ||
		errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", state.ErrUnavailable, err)
	}
	return err
}

// isUniqueViolation reports whether err is a unique constraint's refusal
// (constraint names it when not empty).
func isUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && (constraint == "" || pgErr.ConstraintName == constraint)
}

// inTx runs fn in a transaction, committed when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}
