package bbolt

import (
	"fmt"
	"path/filepath"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/cache"
)

func init() {
	caddy.RegisterModule(Module{})
}

// Module is the agentgate.storage.bbolt Caddy module, the default: the
// embedded store in one file (agentgate.db) that this Caddy process holds.
//
//	storage bbolt [<dir>]
//
// Without a directory it is the agentgate app's data_dir (./data).
type Module struct {
	// Dir holds agentgate.db; placeholders such as {env.X} are expanded.
	Dir string `json:"dir,omitempty"`
	// File, when set, is the store file itself (Dir is then ignored).
	File string `json:"file,omitempty"`

	path string
}

// StoreFile is the name of the store file in its directory.
const StoreFile = "agentgate.db"

// CaddyModule returns the Caddy module information.
func (Module) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "agentgate.storage.bbolt", New: func() caddy.Module { return new(Module) }}
}

// Provision expands placeholders.
func (m *Module) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	m.Dir, m.File = repl.ReplaceAll(m.Dir, ""), repl.ReplaceAll(m.File, "")
	return nil
}

// DefaultDir sets the directory used when none is configured: the app's
// data_dir.
func (m *Module) DefaultDir(dir string) {
	if m.Dir == "" {
		m.Dir = dir
	}
}

// Location implements state.Opener: the store file's absolute path.
func (m *Module) Location() string {
	if m.path == "" {
		p := m.File
		if p == "" {
			dir := m.Dir
			if dir == "" {
				dir = "data"
			}
			p = filepath.Join(dir, StoreFile)
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		m.path = p
	}
	return m.path
}

// Open implements state.Opener. Only this process writes to the file, so
// the cache needs no expiry: every write drops what it changes.
func (m *Module) Open() (state.Store, error) {
	s, err := Open(m.Location(), Options{})
	if err != nil {
		return nil, err
	}
	return cache.Wrap(s, cache.Options{}), nil
}

// UnmarshalCaddyfile sets the module up from `storage bbolt [<dir>]`
// (the dispenser at "bbolt").
func (m *Module) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		m.Dir = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(d.Nesting()) {
		return fmt.Errorf("storage bbolt takes no block, got %q", d.Val())
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner     = (*Module)(nil)
	_ caddyfile.Unmarshaler = (*Module)(nil)
	_ state.Opener          = (*Module)(nil)
)
