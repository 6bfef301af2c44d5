package e2e

import (
	"bytes"
	"maps"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/testgate"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/tidwall/gjson"
)

// cli runs `caddy agentgate <args>` against g's admin endpoint.
func cli(t *testing.T, g *testgate.Gateway, args ...string) string {
	t.Helper()
	c, ok := caddycmd.Commands()["agentgate"]
	if !ok {
		t.Fatal("agentgate command not registered")
	}
	cmd := &cobra.Command{Use: c.Name}
	c.CobraFunc(cmd)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append(args, "--address", g.Admin))
	if err := cmd.Execute(); err != nil {
		t.Fatalf("agentgate %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

func TestKeysThroughCLIAndAdminAPI(t *testing.T) {
	g := testgate.Start(t, testgate.Config{Block: mockBlock})

	out := cli(t, g, "key", "create", "--tenant", "acme", "--tier", "pro", "--email", "ops@acme.test")
	secret := regexp.MustCompile(`key:\s+(agk_\S+)`).FindStringSubmatch(out)
	id := regexp.MustCompile(`id:\s+(key_\S+)`).FindStringSubmatch(out)
	if secret == nil || id == nil {
		t.Fatalf("create printed:\n%s", out)
	}
	status, body, _ := g.Do("GET", "/v1/models", secret[1], nil)
	if status != 200 || !gjson.GetBytes(body, `data.#(id=="demo")`).Exists() {
		t.Fatalf("new key: %d %s", status, body)
	}

	list := cli(t, g, "key", "list")
	if !strings.Contains(list, id[1]) || !strings.Contains(list, "acme") || strings.Contains(list, secret[1]) {
		t.Fatalf("list:\n%s", list)
	}

	// The admin API directly: the secret is never listed, only its prefix.
	adminStatus, adminBody := adminDo(t, g, "GET", "/agentgate/keys", "")
	if adminStatus != 200 || strings.Contains(adminBody, secret[1]) || !strings.Contains(adminBody, secret[1][:8]) {
		t.Fatalf("GET /agentgate/keys: %d %s", adminStatus, adminBody)
	}
	if s, b := adminDo(t, g, "POST", "/agentgate/keys", `{"tier":"pro"}`); s != 400 {
		t.Fatalf("create without tenant: %d %s", s, b)
	}

	cli(t, g, "key", "revoke", id[1])
	status, body, _ = g.Do("GET", "/v1/models", secret[1], nil)
	if status != 401 || gjson.GetBytes(body, "error.code").String() != "invalid_api_key" {
		t.Fatalf("revoked key: %d %s", status, body)
	}
	if s, _ := adminDo(t, g, "DELETE", "/agentgate/keys/"+id[1], ""); s != 404 {
		t.Fatalf("second revoke: %d", s)
	}
}

// TestDeclaredKeysCreationTime: keys declared in the Caddyfile show when
// the gateway first ran with them, in the admin API and `key list`, and
// keep that time across a restart.
func TestDeclaredKeysCreationTime(t *testing.T) {
	cfg := testgate.Config{Block: mockBlock}
	g := testgate.Start(t, cfg)
	created := func() map[string]string {
		t.Helper()
		status, body := adminDo(t, g, "GET", "/agentgate/keys", "")
		if status != 200 {
			t.Fatalf("GET /agentgate/keys: %d %s", status, body)
		}
		out := map[string]string{}
		for _, k := range gjson.Parse(body).Array() {
			if k.Get("declared").Bool() {
				out[k.Get("id").Str] = k.Get("created_at").Str
			}
		}
		return out
	}
	first := created()
	if len(first) != 2 {
		t.Fatalf("declared keys: %v", first)
	}
	list := cli(t, g, "key", "list")
	for id, at := range first {
		ts, err := time.Parse(time.RFC3339Nano, at)
		if err != nil || ts.Year() < 2000 {
			t.Errorf("key %s created_at %q", id, at)
			continue
		}
		if !regexp.MustCompile(regexp.QuoteMeta(id) + `\s.*\s` + ts.Format("2006-01-02") + `\n`).MatchString(list) {
			t.Errorf("key list does not show %s created %s:\n%s", id, ts.Format("2006-01-02"), list)
		}
	}
	if strings.Contains(list, "0001-01-01") {
		t.Errorf("key list shows a zero time:\n%s", list)
	}
	g.Restart(cfg)
	if again := created(); !maps.Equal(again, first) {
		t.Errorf("after a restart: %v, before %v", again, first)
	}
}
