package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/procgate"
	"github.com/agentgate/agentgate/internal/testgate"
)

// TestValidateBesideARunningGateway: `caddy validate` of the example
// Caddyfile succeeds while a gateway serves it (the store it would open
// is locked by that gateway) and creates nothing in a fresh data
// directory; a configuration error is still found, naming it.
func TestValidateBesideARunningGateway(t *testing.T) {
	port, admin, data, home := testgate.FreePort(t), testgate.FreePort(t), t.TempDir(), t.TempDir()
	env := map[string]string{
		"AGENTGATE_LISTEN": "127.0.0.1:" + strconv.Itoa(port), "AGENTGATE_BIND": "127.0.0.1", "AGENTGATE_ADMIN": "127.0.0.1:" + strconv.Itoa(admin),
		"AGENTGATE_DATA": data, "AGENTGATE_API_KEY": testgate.KeyA,
		// Caddy's own files (autosaved config, certificates) stay in the test's.
		"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, "config"), "XDG_DATA_HOME": filepath.Join(home, "data"),
	}
	caddyfile, err := filepath.Abs("../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	gw := procgate.StartCaddyfile(t, "example", caddyfile, env, "http://"+env["AGENTGATE_LISTEN"], env["AGENTGATE_ADMIN"], data)
	if status, body, _ := gw.Do("GET", "/v1/models", testgate.KeyA, nil); status != 200 {
		t.Fatalf("the gateway does not serve: %d %s", status, body)
	}

	validate := func(env map[string]string, caddyfile string) (string, error) {
		return procgate.RunEnv(t, t.TempDir(), env, "validate", "--config", caddyfile, "--adapter", "caddyfile")
	}
	if out, err := validate(env, caddyfile); err != nil || !strings.Contains(out, "Valid configuration") {
		t.Errorf("validate beside the running gateway: %v\n%s", err, out)
	}

	fresh := map[string]string{}
	for k, v := range env {
		fresh[k] = v
	}
	fresh["AGENTGATE_DATA"] = filepath.Join(t.TempDir(), "fresh")
	if out, err := validate(fresh, caddyfile); err != nil || !strings.Contains(out, "Valid configuration") {
		t.Errorf("validate with a fresh data directory: %v\n%s", err, out)
	}
	if _, err := os.Stat(fresh["AGENTGATE_DATA"]); !os.IsNotExist(err) {
		entries, _ := os.ReadDir(fresh["AGENTGATE_DATA"])
		t.Errorf("validate created the data directory: %v %v", err, entries)
	}

	src, err := os.ReadFile(caddyfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ from, to, want string }{
		{"provider mock mock {", "provider mock nosuch {", `unknown provider type \"nosuch\"`},
		{"tools calculator current_time", "tools calculator no_such_tool", `tool \"no_such_tool\" is not declared`},
	} {
		broken := filepath.Join(t.TempDir(), "Caddyfile")
		if !strings.Contains(string(src), bad.from) {
			t.Fatalf("the example Caddyfile has no %q", bad.from)
		}
		if err := os.WriteFile(broken, []byte(strings.Replace(string(src), bad.from, bad.to, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		// Caddy logs the error as JSON: its quotes come escaped.
		if out, err := validate(fresh, broken); err == nil || !strings.Contains(out, bad.want) {
			t.Errorf("validate of a Caddyfile with %q: %v, want an error naming %q\n%s", bad.to, err, bad.want, out)
		}
	}
	if status, _, _ := gw.Do("GET", "/v1/models", testgate.KeyA, nil); status != 200 {
		t.Errorf("the gateway stopped serving after the validations: %d", status)
	}
}
