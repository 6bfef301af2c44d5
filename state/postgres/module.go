package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/cache"
)

func init() {
	caddy.RegisterModule(Module{})
}

// Module is the agentgate.storage.postgres Caddy module: the state kept
// in a PostgreSQL database that several gateway instances share.
//
//	storage postgres <dsn> {
//	    max_conns <n>               # the pool's connections; default: the greater of 4 and the CPU count
//	    connect_timeout <duration>  # one connection attempt; default 5s
//	    cache_ttl <duration>        # the longest a cached key, agent or tier is served; default 30s
//	    cache_size <n>              # objects of each kind cached; default 10000
//	}
//
// The DSN is a postgres:// URL or a key=value string; use {env.X} for it
// (or its password), so the secret stays out of `caddy adapt`.
type Module struct {
	DSN            string         `json:"dsn"`
	MaxConns       int32          `json:"max_conns,omitempty"`
	ConnectTimeout caddy.Duration `json:"connect_timeout,omitempty"`
	CacheTTL       caddy.Duration `json:"cache_ttl,omitempty"`
	CacheSize      int            `json:"cache_size,omitempty"`

	dsn      string // DSN with placeholders expanded
	location string
	log      *zap.Logger
}

// DefaultCacheTTL is the longest a cached key, agent or tier is served
// when no change notification dropped it first: the staleness bound of
// an instance whose notifications were lost.
const DefaultCacheTTL = 30 * time.Second

// CaddyModule returns the Caddy module information.
func (Module) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "agentgate.storage.postgres", New: func() caddy.Module { return new(Module) }}
}

// Provision expands placeholders and checks the DSN; it connects to
// nothing.
func (m *Module) Provision(ctx caddy.Context) error {
	m.log = ctx.Logger()
	m.dsn = caddy.NewReplacer().ReplaceAll(m.DSN, "")
	if m.dsn == "" {
		return errors.New("storage postgres: a DSN is required (empty after expanding placeholders?)")
	}
	cfg, err := pgx.ParseConfig(m.dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included.
		return errors.New("storage postgres: the DSN is neither a postgres:// URL nor a key=value connection string PostgreSQL understands")
	}
	m.location = Location(cfg)
	if m.CacheTTL == 0 {
		m.CacheTTL = caddy.Duration(DefaultCacheTTL)
	}
	if m.CacheTTL < 0 || m.MaxConns < 0 || m.CacheSize < 0 || m.ConnectTimeout < 0 {
		return errors.New("storage postgres: max_conns, connect_timeout, cache_ttl and cache_size must not be negative")
	}
	return nil
}

// Location implements state.Opener: the database's user, host, port and
// name.
func (m *Module) Location() string { return m.location }

// Open implements state.Opener: the store, behind a read cache whose
// entries changes from every instance drop, and which expire after
// cache_ttl.
func (m *Module) Open() (state.Store, error) {
	timeout := time.Duration(m.ConnectTimeout)
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	// Connecting, migrating and listening; a migration waiting for
	// another instance's may take longer than one connection.
	ctx, cancel := context.WithTimeout(context.Background(), 4*timeout+time.Minute)
	defer cancel()
	s, err := Open(ctx, m.dsn, Options{MaxConns: m.MaxConns, ConnectTimeout: timeout, Log: m.log})
	if err != nil {
		return nil, err
	}
	m.log.Info("state in PostgreSQL", zap.String("database", s.Location()))
	return cache.Wrap(s, cache.Options{TTL: time.Duration(m.CacheTTL), Size: m.CacheSize}), nil
}

// UnmarshalCaddyfile sets the module up from `storage postgres <dsn>
// { … }` (the dispenser at "postgres").
func (m *Module) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if !d.NextArg() {
		return d.Err("storage postgres needs a DSN")
	}
	m.DSN = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		if !d.NextArg() {
			return d.ArgErr()
		}
		val := d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		switch opt {
		case "max_conns", "cache_size":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return d.Errf("%s: not a non-negative integer: %q", opt, val)
			}
			if opt == "max_conns" {
				m.MaxConns = int32(n)
			} else {
				m.CacheSize = n
			}
		case "connect_timeout", "cache_ttl":
			dur, err := caddy.ParseDuration(val)
			if err != nil || dur < 0 {
				return d.Errf("%s: not a duration: %q", opt, val)
			}
			if opt == "connect_timeout" {
				m.ConnectTimeout = caddy.Duration(dur)
			} else {
				m.CacheTTL = caddy.Duration(dur)
			}
		default:
			return d.Errf("unrecognized storage postgres option %q", opt)
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner     = (*Module)(nil)
	_ caddyfile.Unmarshaler = (*Module)(nil)
	_ state.Opener          = (*Module)(nil)
)
