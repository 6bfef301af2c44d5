package memory

import (
	"errors"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/limits"
)

func init() {
	caddy.RegisterModule(Module{})
}

// Module is the agentgate.limits.memory Caddy module, the default: the
// limits of one gateway process, kept in its memory.
//
//	limits memory {
//	    lease_time <duration>   # how long a slot or reservation is held without a renewal; default 30s
//	}
type Module struct {
	LeaseTime caddy.Duration `json:"lease_time,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Module) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "agentgate.limits.memory", New: func() caddy.Module { return new(Module) }}
}

// Provision checks the settings.
func (m *Module) Provision(caddy.Context) error {
	if m.LeaseTime < 0 {
		return errors.New("limits memory: lease_time must not be negative")
	}
	return nil
}

// Location implements limits.Opener: one process's memory.
func (m *Module) Location() string { return "memory" }

// Open implements limits.Opener.
func (m *Module) Open(clk clock.Clock) (limits.Backend, error) { return New(clk), nil }

// LimiterOptions implements limits.Opener.
func (m *Module) LimiterOptions() limits.Options {
	return limits.Options{LeaseTTL: time.Duration(m.LeaseTime)}
}

// UnmarshalCaddyfile sets the module up from `limits memory { … }` (the
// dispenser at "memory").
func (m *Module) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "lease_time":
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil || dur <= 0 {
				return d.Errf("lease_time: not a positive duration: %q", d.Val())
			}
			m.LeaseTime = caddy.Duration(dur)
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized limits memory option %q", d.Val())
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
