package postgres

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"

	"github.com/agentgate/agentgate/state"
)

// changeChannel is the channel writes NOTIFY and every Store LISTENs on.
const changeChannel = "agentgate_changes"

// note is a change as it travels in a notification's payload (JSON).
type note struct {
	Origin string           `json:"o"`
	Kind   state.ChangeKind `json:"k"`
	Tenant string           `json:"t,omitempty"`
	ID     string           `json:"i,omitempty"`
	Keys   []string         `json:"h,omitempty"` // hex SHA-256
	Items  []string         `json:"m,omitempty"`
}

// maxPayload keeps a payload under PostgreSQL's 8000-byte limit on
// NOTIFY; a change of more memories than fit names none (the agent's
// whole index is reloaded).
const maxPayload = 7000

// payload encodes c, from this store, for pg_notify.
func (s *Store) payload(c state.Change) string {
	n := note{Origin: s.origin, Kind: c.Kind, Tenant: c.Tenant, ID: c.ID, Items: c.Items}
	for _, h := range c.Keys {
		n.Keys = append(n.Keys, hex.EncodeToString(h[:]))
	}
	b, _ := json.Marshal(&n) // strings and numbers only
	if len(b) > maxPayload {
		n.Items = nil
		b, _ = json.Marshal(&n)
	}
	return string(b)
}

// notifySQL sends a change; in a transaction it is delivered when the
// transaction commits, and not at all when it rolls back.
const notifySQL = "SELECT pg_notify('" + changeChannel + "', $1)"

// listener holds the connection the store LISTENs on, and tells the
// store's subscribers what arrives. When the connection fails it tells
// them of a gap (changes may be missed from now on), connects again with
// growing pauses, and tells of the end of the gap once listening again.
// A connection idle for listenIdle is pinged, so one cut without a word
// (a dead peer, a dropped route) is noticed within listenIdle plus the
// ping's timeout.
type listener struct {
	s      *Store
	cfg    *pgx.ConnConfig
	cancel context.CancelFunc
	done   chan struct{}
}

const (
	listenIdle      = 10 * time.Second
	listenPingLimit = 5 * time.Second
	// listenRetryMin and listenRetryMax bound the pauses between attempts
	// to connect again.
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 5 * time.Second
)

func newListener(s *Store, cfg *pgx.ConnConfig) *listener {
	return &listener{s: s, cfg: cfg.Copy(), done: make(chan struct{})}
}

// start connects and listens, then follows the channel in the
// background until stop.
func (l *listener) start(ctx context.Context) error {
	conn, err := l.connect(ctx)
	if err != nil {
		return err
	}
	run, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(run, conn)
	return nil
}

func (l *listener) stop() {
	if l.cancel != nil {
		l.cancel()
		<-l.done
	}
}

func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+changeChannel); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	pause := listenRetryMin
	for {
		if conn == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
			var err error
			if conn, err = l.connect(ctx); err != nil {
				pause = min(2*pause, listenRetryMax)
				continue
			}
			pause = listenRetryMin
			l.s.log.Info("listening for other instances' changes again; dropping what was cached meanwhile", zap.String("database", l.s.location))
			l.s.feed.Publish(state.Change{Kind: state.ChangeGap, Live: true})
		}
		wait, cancel := context.WithTimeout(ctx, listenIdle)
		n, err := conn.WaitForNotification(wait)
		cancel()
		switch {
		case err == nil:
			l.deliver(n)
			continue
		case ctx.Err() != nil:
			conn.Close(context.Background())
			return
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			ping, cancel := context.WithTimeout(ctx, listenPingLimit)
			err = conn.Ping(ping)
			cancel()
			if err == nil {
				continue
			}
		}
		if ctx.Err() != nil {
			conn.Close(context.Background())
			return
		}
		l.s.log.Warn("lost the connection listening for other instances' changes; caching nothing until it is back",
			zap.String("database", l.s.location), zap.Error(err))
		conn.Close(context.Background())
		conn = nil
		l.s.feed.Publish(state.Change{Kind: state.ChangeGap, Live: false})
	}
}

// deliver tells subscribers of a notification.
func (l *listener) deliver(n *pgconn.Notification) {
	var in note
	if err := json.Unmarshal([]byte(n.Payload), &in); err != nil {
		l.s.log.Warn("a change notification of unknown form; dropping what is cached", zap.Error(err))
		l.s.feed.Publish(state.Change{Kind: state.ChangeGap, Live: true})
		return
	}
	c := state.Change{Kind: in.Kind, Local: in.Origin == l.s.origin, Tenant: in.Tenant, ID: in.ID, Items: in.Items}
	for _, h := range in.Keys {
		var hash [32]byte
		if b, err := hex.DecodeString(h); err == nil && len(b) == len(hash) {
			copy(hash[:], b)
			c.Keys = append(c.Keys, hash)
		}
	}
	l.s.feed.Publish(c)
}
