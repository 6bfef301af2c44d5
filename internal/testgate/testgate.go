// Package testgate starts a real Caddy, in-process, with the agentgate
// modules and a Caddyfile, on loopback ports chosen by the kernel, for
// end-to-end tests. Caddy's config is process-global, so tests using it
// must not run in parallel with each other.
package testgate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/pgtest"
	"github.com/agentgate/agentgate/internal/servertest"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	// Caddy's standard modules and agentgate's, as in cmd/agentgate.
	_ "github.com/agentgate/agentgate"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// Test keys of two tenants, declared in every Start config.
const (
	KeyA = "agk_test_tenant_a_key_0000000000"
	KeyB = "agk_test_tenant_b_key_0000000000"
)

// Gateway is a running Caddy.
type Gateway struct {
	// URL is the agentgate site's base URL; Admin the admin endpoint's
	// host:port.
	URL, Admin, DataDir string
	port, adminPort     int
	t                   testing.TB
}

// Config builds the Caddyfile of a test gateway: block goes inside the
// agentgate global option, site inside the site block after agentgate.
type Config struct {
	Block string
	Site  string
	// Sites are further site blocks, beside the agentgate one (a plain
	// reverse_proxy to compare with, say).
	Sites string
	// Global is extra global options.
	Global string
	// Storage is the `storage` line of the agentgate block; empty means
	// UseStorage's, else the embedded store in the data directory.
	Storage string
	// LogLevel is Caddy's log level; default ERROR.
	LogLevel string
}

// storage is the `storage` line of the agentgate block of the gateways
// tests start; empty: the embedded store in their data directory.
var storage string

// UseStorage makes the gateways t starts keep their state as line (a
// `storage` line of the agentgate block) says, until t ends: the same
// tests then run on another backend.
func UseStorage(t testing.TB, line string) {
	prev := storage
	storage = line
	t.Cleanup(func() { storage = prev })
}

// UsePostgres makes the gateways t starts keep their state in a new
// database of the test binary's shared PostgreSQL server (pgtest.Shared:
// the package's TestMain runs pgtest.Main), and returns its DSN.
func UsePostgres(t testing.TB) string {
	t.Helper()
	dsn := pgtest.Shared(t).CreateDB(t)
	UseStorage(t, "storage postgres "+dsn)
	return dsn
}

// Start runs Caddy with cfg and stops it when the test ends.
func Start(t testing.TB, cfg Config) *Gateway {
	t.Helper()
	return StartIn(t, t.TempDir(), cfg)
}

// StartIn is Start on the data directory dataDir, which the test may have
// filled (with a store an older agentgate wrote, say).
func StartIn(t testing.TB, dataDir string, cfg Config) *Gateway {
	t.Helper()
	g := &Gateway{DataDir: dataDir, t: t}
	for attempt := 1; ; attempt++ {
		g.port, g.adminPort = freePort(t), freePort(t)
		g.URL = fmt.Sprintf("http://127.0.0.1:%d", g.port)
		g.Admin = fmt.Sprintf("127.0.0.1:%d", g.adminPort)
		// The ports are free when chosen, not reserved: a test binary of
		// another package may bind one first. Caddy then keeps no part
		// of the config it could not start.
		err := g.TryLoad(cfg)
		if err == nil {
			break
		}
		if attempt == servertest.BindAttempts || !servertest.AddrInUse(err) {
			t.Fatalf("loading config: %v\n%s", err, g.Caddyfile(cfg))
		}
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Logf("stopping caddy: %v", err)
		}
		forgetConnections()
	})
	return g
}

// Restart stops Caddy (every module cleaned up, the store closed) and
// starts it again with cfg on the same ports and data directory.
func (g *Gateway) Restart(cfg Config) {
	g.t.Helper()
	if err := caddy.Stop(); err != nil {
		g.t.Fatalf("stopping caddy: %v", err)
	}
	forgetConnections()
	g.Load(cfg)
}

// Caddyfile renders cfg for this gateway.
func (g *Gateway) Caddyfile(cfg Config) string { return Render(g.Admin, g.port, g.DataDir, cfg) }

// Render is the Caddyfile of a test gateway serving agentgate on
// 127.0.0.1:port, with its admin endpoint on admin and its data directory
// dataDir: the test keys KeyA and KeyB declared, usage flushed every 20ms.
func Render(admin string, port int, dataDir string, cfg Config) string {
	site := cfg.Site
	if site == "" {
		site = `respond "not agentgate" 404`
	}
	store := cfg.Storage
	if store == "" {
		store = storage
	}
	level := cfg.LogLevel
	if level == "" {
		level = "ERROR"
	}
	return fmt.Sprintf(`{
	admin %s
	persist_config off
	auto_https off
	log {
		level %s
	}
	%s
	agentgate {
		data_dir %s
		%s
		usage_flush_interval 20ms
		tier pro {
			monthly_tokens 1000000
		}
		key %s {
			tenant tenant-a
			tier pro
			email a@example.com
		}
		key %s {
			tenant tenant-b
			tier pro
			email b@example.com
		}
%s
	}
}

http://127.0.0.1:%d {
	bind 127.0.0.1
	agentgate
	%s
}
%s
`, admin, level, cfg.Global, dataDir, store, KeyA, KeyB, cfg.Block, port, site, cfg.Sites)
}

// Attach returns a Gateway for sending requests to a gateway the test
// runs some other way (another process): url is its site's base URL,
// admin its admin endpoint. Restart and Load do not apply to it.
func Attach(t testing.TB, url, admin, dataDir string) *Gateway {
	return &Gateway{URL: url, Admin: admin, DataDir: dataDir, t: t}
}

// Load (re)loads Caddy with cfg, as `caddy reload` does.
func (g *Gateway) Load(cfg Config) {
	g.t.Helper()
	if err := g.TryLoad(cfg); err != nil {
		g.t.Fatalf("loading config: %v\n%s", err, g.Caddyfile(cfg))
	}
}

// TryLoad is Load returning the error.
func (g *Gateway) TryLoad(cfg Config) error {
	adapter := caddyconfig.GetAdapter("caddyfile")
	js, warns, err := adapter.Adapt([]byte(g.Caddyfile(cfg)), nil)
	if err != nil {
		return err
	}
	for _, w := range warns {
		g.t.Logf("caddyfile warning: %s", w.String())
	}
	if err := caddy.Load(js, true); err != nil {
		return err
	}
	// The replaced server closes its idle keep-alive connections: a
	// request sent on one as it does would fail with EOF.
	forgetConnections()
	return waitListening(g.port)
}

// StartCaddyfile runs the Caddyfile src as `caddy run` would and stops
// it when the test ends: for a Caddyfile of the repository, such as the
// example one, whose addresses and data directory come from the
// environment the test set. url is its site's base URL, admin its admin
// endpoint, dataDir its data directory. Three things are changed in the
// adapted config, none of which agentgate reads: the config is not
// persisted (no autosave outside the test), servers listen on loopback
// only, and only errors are logged. Restart and Load do not apply to the
// Gateway it returns.
func StartCaddyfile(t testing.TB, src []byte, url, admin, dataDir string) *Gateway {
	t.Helper()
	return StartCaddyfileLogged(t, src, url, admin, dataDir, nil)
}

// StartCaddyfileLogged is StartCaddyfile logging as `caddy run` does (INFO
// and above) into logs, when it is not nil.
func StartCaddyfileLogged(t testing.TB, src []byte, url, admin, dataDir string, logs *LogCapture) *Gateway {
	t.Helper()
	g := &Gateway{URL: url, Admin: admin, DataDir: dataDir, t: t}
	if _, err := fmt.Sscanf(url[strings.LastIndexByte(url, ':')+1:], "%d", &g.port); err != nil {
		t.Fatalf("url %q has no port: %v", url, err)
	}
	js, warns, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, nil)
	if err != nil {
		t.Fatalf("adapting the Caddyfile: %v", err)
	}
	for _, w := range warns {
		t.Logf("caddyfile warning: %s", w.String())
	}
	var cfg map[string]any
	if err := json.Unmarshal(js, &cfg); err != nil {
		t.Fatal(err)
	}
	admCfg, _ := cfg["admin"].(map[string]any)
	if admCfg == nil {
		admCfg = map[string]any{}
		cfg["admin"] = admCfg
	}
	admCfg["config"] = map[string]any{"persist": false}
	cfg["logging"] = map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}}
	if logs != nil {
		cfg["logging"] = map[string]any{"logs": map[string]any{"default": map[string]any{"level": "INFO",
			"writer": map[string]any{"output": "file", "filename": logs.Path}, "encoder": map[string]any{"format": "json"}}}}
	}
	apps, _ := cfg["apps"].(map[string]any)
	httpApp, _ := apps["http"].(map[string]any)
	servers, _ := httpApp["servers"].(map[string]any)
	for _, srv := range servers {
		srv := srv.(map[string]any)
		listen, _ := srv["listen"].([]any)
		for i, l := range listen {
			addr := l.(string)
			if strings.HasPrefix(addr, ":") {
				listen[i] = "127.0.0.1" + addr
			}
		}
	}
	if js, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(js, true); err != nil {
		t.Fatalf("loading the Caddyfile: %v", err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Logf("stopping caddy: %v", err)
		}
	})
	if err := waitListening(g.port); err != nil {
		t.Fatal(err)
	}
	return g
}

// FreePort returns a loopback TCP port nothing listens on.
func FreePort(t testing.TB) int { return freePort(t) }

// Do sends a request with key (if any) and returns status and body.
func (g *Gateway) Do(method, path, key string, body any) (int, []byte, http.Header) {
	g.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			g.t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, g.URL+path, rd)
	if err != nil {
		g.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out, resp.Header
}

// forgetConnections closes the idle keep-alive connections of the default
// transport (http.DefaultClient's, and the SDKs' that use it) to a Caddy
// that stopped: a later gateway may get the same port, and a request on a
// dead pooled connection fails with a reset rather than reaching it.
func forgetConnections() {
	http.DefaultClient.CloseIdleConnections()
}

func freePort(t testing.TB) int { return servertest.ClaimPort(t) }

func waitListening(port int) error {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("caddy is not listening on port %d", port)
}
