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

// TestAdminKeyBodies: creating a key checks its tier exists, as moving
// it does (a key of no tier would get 403 unknown_tier on every
// request), and its projects are names a request can send; each refusal
// is a 400 naming the field, and nothing is created.
func TestAdminKeyBodies(t *testing.T) {
	g := testgate.Start(t, testgate.Config{Block: mockBlock})
	for _, tier := range []string{"free", "gold"} {
		if s, b := adminDo(t, g, "PUT", "/agentgate/tiers/"+tier, `{"rpm":60}`); s != 200 {
			t.Fatalf("PUT tier %s: %d %s", tier, s, b)
		}
	}
	_, before := adminDo(t, g, "GET", "/agentgate/keys", "")
	var created []string
	for _, c := range []struct {
		body   string
		status int
		field  string // named by a 400
	}{
		{`{"tenant":"acme"}`, 201, ""},
		{`{"tenant":"acme","tier":"gold","projects":["proj-a","p.b:c_1"]}`, 201, ""},
		{`{"tenant":"acme","tier":"platinum"}`, 400, "tier"},
		{`{"tenant":"acme","tier":"Gold"}`, 400, "tier"},
		{`{"tier":"pro"}`, 400, "tenant"},
		{`{"tenant":"acme","projects":["proj a"]}`, 400, "projects[0]"},
		{`{"tenant":"acme","projects":["ok",""]}`, 400, "projects[1]"},
		{`{"tenant":"acme","projects":["` + strings.Repeat("p", 129) + `"]}`, 400, "projects[0]"},
		{`{"tenant":"acme","projects":["ok","ok/../x"]}`, 400, "projects[1]"},
		{`{"tenant":"acme","projects":"proj-a"}`, 400, "projects"},
		{`{"tenant":"acme","project":["proj-a"]}`, 400, "project"},
	} {
		status, body := adminDo(t, g, "POST", "/agentgate/keys", c.body)
		if status != c.status || (c.field != "" && !strings.Contains(gjson.Get(body, "error").String(), c.field)) {
			t.Errorf("POST %s: %d %s; want %d naming %q", c.body, status, body, c.status, c.field)
		}
		if status == 201 {
			created = append(created, gjson.Get(body, "id").String())
			if s, out, _ := g.Do("GET", "/v1/models", gjson.Get(body, "key").String(), nil); s != 200 {
				t.Errorf("key of %s: %d %s", c.body, s, out)
			}
		}
	}
	_, after := adminDo(t, g, "GET", "/agentgate/keys", "")
	if n, m := gjson.Get(before, "#").Int(), gjson.Get(after, "#").Int(); m != n+int64(len(created)) {
		t.Errorf("%d keys before, %d after creating %d", n, m, len(created))
	}

	for _, c := range []struct {
		body   string
		status int
		field  string
	}{
		{`{"tier":"platinum"}`, 400, "tier"},
		{`{"tier":""}`, 400, "tier"},
		{`{"tier":"gold","projects":["x"]}`, 400, "projects"},
		{`{"tier":"gold"}`, 200, ""},
	} {
		status, body := adminDo(t, g, "PATCH", "/agentgate/keys/"+created[0], c.body)
		if status != c.status || (c.field != "" && !strings.Contains(gjson.Get(body, "error").String(), c.field)) {
			t.Errorf("PATCH %s: %d %s; want %d naming %q", c.body, status, body, c.status, c.field)
		}
	}

	// The CLI creates keys through the same endpoint: it says why.
	c := caddycmd.Commands()["agentgate"]
	cmd := &cobra.Command{Use: c.Name}
	c.CobraFunc(cmd)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"key", "create", "--tenant", "acme", "--tier", "platinum", "--project", "proj a", "--address", g.Admin})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error()+out.String(), "tier") {
		t.Errorf("key create --tier platinum: %v\n%s", err, out.String())
	}

	// A key of the configuration is held to the same rule.
	err := g.TryLoad(testgate.Config{Block: mockBlock + `
		key agk_declared_key_with_projects_0 {
			tenant acme
			projects proj-a "proj b"
		}
`})
	if err == nil || !strings.Contains(err.Error(), "projects[1]") {
		t.Errorf("a declared key of project \"proj b\": %v", err)
	}
}

// TestAdminMemoriesQuery: GET /agentgate/memories takes tenant, agent
// and type, each once, and a type that is a memory kind; anything else
// is a 400 naming the parameter. A tenant sees only its own agents'
// memories: another tenant naming the agent gets none.
func TestAdminMemoriesQuery(t *testing.T) {
	up := engUpstream("Noted.")
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: engBlock(up, engHooks(t))})
	id := engMust(t, g, "POST", "/api/v1/agents", testgate.KeyA, map[string]any{"name": "Keeper", "model": "gpt-4"}, 201).Get("id").String()
	engMust(t, g, "POST", "/api/v1/agents/"+id+"/memory", testgate.KeyA, map[string]any{"content": "Company refund policy: 30 days."}, 201)

	for _, c := range []struct {
		query string
		total int64 // of a 200
		param string
	}{
		{"tenant=tenant-a&agent=" + id, 1, ""},
		{"tenant=tenant-a&agent=" + id + "&type=semantic", 1, ""},
		{"tenant=tenant-a&agent=" + id + "&type=episodic", 0, ""},
		// Tenant isolation: tenant-b naming tenant-a's agent.
		{"tenant=tenant-b&agent=" + id, 0, ""},
		{"tenant=tenant-a&agent=" + id + "&type=semantc", 0, "type"},
		{"tenant=tenant-a&agent=" + id + "&type=", 0, "type"},
		{"tenant=tenant-a&agent=" + id + "&type=semantic&type=episodic", 0, "type"},
		{"tenant=tenant-a&agent=" + id + "&user=ada", 0, "user"},
		{"tenant=tenant-a&tenant=tenant-b&agent=" + id, 0, "tenant"},
		{"agent=" + id, 0, "tenant"},
		{"tenant=tenant-a", 0, "agent"},
		{"tenant=tenant-a&agent=", 0, "agent"},
	} {
		status, body := adminDo(t, g, "GET", "/agentgate/memories?"+c.query, "")
		if c.param != "" {
			if status != 400 || !strings.Contains(gjson.Get(body, "error").String(), c.param+":") {
				t.Errorf("memories?%s: %d %s; want a 400 naming %s", c.query, status, body, c.param)
			}
			continue
		}
		if status != 200 || gjson.Get(body, "total").Int() != c.total || gjson.Get(body, "items.#").Int() != c.total {
			t.Errorf("memories?%s: %d %s; want %d items", c.query, status, body, c.total)
		}
	}
}
