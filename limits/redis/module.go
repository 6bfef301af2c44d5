package redis

import (
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/limits"
)

func init() {
	caddy.RegisterModule(Module{})
}

// Module is the agentgate.limits.redis Caddy module: limits shared by
// every gateway instance that names the same Redis server.
//
//	limits redis <url> {
//	    on_error allow|deny      # Redis unreachable: admit unchecked (default) or refuse with 503
//	    lease_time <duration>    # how long a slot or reservation is held without a renewal; default 30s
//	    timeout <duration>       # one call (connecting, sending, reading); default 1s;
//	                             # after one failed, calls pause for limits.BreakerOpen (5s),
//	                             # lease renewals excepted
//	    key_prefix <prefix>      # default "agentgate:"
//	}
//
// The URL is redis://[user:password@]host:port[/db] (rediss:// for TLS);
// use {env.X} for it (or its password), so the secret stays out of
// `caddy adapt`.
type Module struct {
	URL string `json:"url"`
	// OnError is "allow" (the default) or "deny".
	OnError   string         `json:"on_error,omitempty"`
	LeaseTime caddy.Duration `json:"lease_time,omitempty"`
	Timeout   caddy.Duration `json:"timeout,omitempty"`
	KeyPrefix string         `json:"key_prefix,omitempty"`

	opts     *goredis.Options
	location string
	log      *zap.Logger
}

// DefaultTimeout bounds one call to Redis: what a request waits at most
// before on_error decides, when Redis cannot be reached.
const DefaultTimeout = time.Second

// DefaultKeyPrefix is the default key_prefix.
const DefaultKeyPrefix = "agentgate:"

// CaddyModule returns the Caddy module information.
func (Module) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "agentgate.limits.redis", New: func() caddy.Module { return new(Module) }}
}

// Provision expands placeholders and checks the settings; it connects to
// nothing.
func (m *Module) Provision(ctx caddy.Context) error {
	m.log = ctx.Logger()
	url := caddy.NewReplacer().ReplaceAll(m.URL, "")
	if url == "" {
		return errors.New("limits redis: a URL is required (empty after expanding placeholders?)")
	}
	opts, err := goredis.ParseURL(url)
	if err != nil {
		// The parser's message may quote the URL, password included.
		return errors.New("limits redis: the URL is not a redis://, rediss:// or unix:// URL go-redis understands")
	}
	switch m.OnError {
	case "", "allow", "deny":
	default:
		return fmt.Errorf("limits redis: on_error must be allow or deny, got %q", m.OnError)
	}
	if m.LeaseTime < 0 || m.Timeout < 0 {
		return errors.New("limits redis: lease_time and timeout must not be negative")
	}
	if m.KeyPrefix == "" {
		m.KeyPrefix = DefaultKeyPrefix
	}
	timeout := time.Duration(m.Timeout)
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = timeout, timeout, timeout
	opts.PoolTimeout = timeout
	// A script whose reply was lost may have run: sending it again could
	// take twice. A lost admission's lease expires by itself; a lost
	// settlement is retried by the Limiter.
	opts.MaxRetries = -1
	m.opts = opts
	m.location = fmt.Sprintf("redis %s/%d %s", opts.Addr, opts.DB, m.KeyPrefix)
	return nil
}

// Location implements limits.Opener: the server, database and key
// prefix (never a password).
func (m *Module) Location() string { return m.location }

// Open implements limits.Opener: a client of the server. It connects to
// nothing yet (`caddy validate` has no side effects): the first call
// does, and sends the scripts the server does not know.
func (m *Module) Open(clock.Clock) (limits.Backend, error) {
	m.log.Info("limits in Redis", zap.String("server", m.opts.Addr), zap.Int("db", m.opts.DB),
		zap.String("key_prefix", m.KeyPrefix), zap.String("on_error", m.onError()))
	return New(goredis.NewClient(m.opts), m.KeyPrefix), nil
}

func (m *Module) onError() string {
	if m.OnError == "" {
		return "allow"
	}
	return m.OnError
}

// LimiterOptions implements limits.Opener.
func (m *Module) LimiterOptions() limits.Options {
	return limits.Options{LeaseTTL: time.Duration(m.LeaseTime), Deny: m.onError() == "deny"}
}

// UnmarshalCaddyfile sets the module up from `limits redis <url> { … }`
// (the dispenser at "redis").
func (m *Module) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if !d.NextArg() {
		return d.Err("limits redis needs a URL")
	}
	m.URL = d.Val()
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
		case "on_error":
			if val != "allow" && val != "deny" {
				return d.Errf("on_error: want allow or deny, got %q", val)
			}
			m.OnError = val
		case "lease_time", "timeout":
			dur, err := caddy.ParseDuration(val)
			if err != nil || dur <= 0 {
				return d.Errf("%s: not a positive duration: %q", opt, val)
			}
			if opt == "lease_time" {
				m.LeaseTime = caddy.Duration(dur)
			} else {
				m.Timeout = caddy.Duration(dur)
			}
		case "key_prefix":
			m.KeyPrefix = val
		default:
			return d.Errf("unrecognized limits redis option %q", opt)
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner     = (*Module)(nil)
	_ caddyfile.Unmarshaler = (*Module)(nil)
	_ limits.Opener         = (*Module)(nil)
)
