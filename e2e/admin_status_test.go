package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/procgate"
	"github.com/agentgate/agentgate/internal/testgate"
)

// TestAdminStatus: GET /agentgate/status tells the versions and uptime,
// the store's health, each provider's state (its last error with the
// cause, a pool member cooling down after a 429) and the counts of
// agents, keys and sessions, declared and stored; `caddy agentgate status`
// prints it. It is served on the admin endpoint only, and shows no key.
func TestAdminStatus(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: "fine"}).Start()
	t.Cleanup(up.Close)
	down := (&fakeupstream.OpenAI{Status: 503}).Start()
	t.Cleanup(down.Close)
	// An upstream that rate-limits the gateway for an hour: its pool
	// member cools down for the longest a 429 sidelines one (a minute).
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":{"message":"slow down","type":"rate_limit_error"}}`)
	}))
	t.Cleanup(busy.Close)
	const poolKey = "sk-pool-secret-0123456789"
	g := testgate.Start(t, testgate.Config{Block: `
		provider up openai {
			base_url ` + up.URL + `
		}
		provider down openai {
			base_url ` + down.URL + `
		}
		provider pooled openai {
			base_url ` + busy.URL + `/v1 http://user:pw@` + strings.TrimPrefix(up.URL, "http://") + `
			api_key ` + poolKey + `
		}
		route gpt-up up
		route gpt-down down
		route gpt-pooled pooled
		retries {
			backoff 1ms
			max_backoff 2ms
		}
		agent declared-one {
			model gpt-up
		}`})

	chat := func(model string, want int) {
		t.Helper()
		if status, body, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA, `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`); status != want {
			t.Fatalf("%s: %d %s", model, status, body)
		}
	}
	chat("gpt-up", 200)
	chat("gpt-down", 503)
	chat("gpt-pooled", 200) // the busy member first (both idle), then the other
	if status, body := adminDo(t, g, "POST", "/agentgate/keys", `{"tenant":"tenant-c","tier":"pro"}`); status != 201 {
		t.Fatalf("creating a key: %d %s", status, body)
	}
	engMust(t, g, "POST", "/api/v1/agents", testgate.KeyA, `{"id":"stored-one","name":"Stored","model":"gpt-up"}`, 201)
	for _, sid := range []string{"s1", "s2"} {
		if status, res := egzChat(t, g, testgate.KeyB, map[string]any{"agent_id": "declared-one", "message": "hi", "session_id": sid}); status != 200 {
			t.Fatalf("chat in session %s: %d %s", sid, status, res.Raw)
		}
	}

	status, body := adminDo(t, g, "GET", "/agentgate/status", "")
	if status != 200 {
		t.Fatalf("status: %d %s", status, body)
	}
	st := gjson.Parse(body)
	for path, want := range map[string]string{
		"store.backend": "bbolt", "store.healthy": "true", "limits.healthy": "true",
		"counts.agents.declared": "1", "counts.agents.stored": "1",
		"counts.keys.declared": "2", "counts.keys.stored": "1", "counts.sessions": "2",
		`providers.#(name=="up").state`:                        "ok",
		`providers.#(name=="down").state`:                      "failing",
		`providers.#(name=="down").last_error.error`:           "upstream unavailable (HTTP 503)",
		`providers.#(name=="down").last_error.cause`:           "upstream said: fake upstream failure 503",
		`providers.#(name=="down").last_error.upstream_status`: "503",
		`providers.#(name=="down").last_error.model`:           "gpt-down",
		`providers.#(name=="pooled").state`:                    "ok",
		`providers.#(name=="pooled").members`:                  "2",
		`providers.#(name=="pooled").cooldowns.#`:              "1",
		`providers.#(name=="pooled").cooldowns.0.member`:       "0",
	} {
		if got := st.Get(path).String(); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if r := st.Get(`providers.#(name=="pooled").cooldowns.0.remaining_seconds`).Float(); r <= 0 || r > 60 {
		t.Errorf("cooldown remaining %v s, want within a minute", r)
	}
	if urls := st.Get(`providers.#(name=="pooled").base_urls`).Raw; strings.Contains(urls, "pw") || !strings.Contains(urls, "127.0.0.1") {
		t.Errorf("base URLs show credentials: %s", urls)
	}
	for _, path := range []string{"version.agentgate", "version.caddy", "started_at", "config_loaded_at", "store.location"} {
		if st.Get(path).String() == "" {
			t.Errorf("no %s in %s", path, body)
		}
	}
	if st.Get("uptime_seconds").Float() <= 0 {
		t.Errorf("uptime %s", st.Get("uptime_seconds").Raw)
	}
	for _, secret := range []string{poolKey, testgate.KeyA, testgate.KeyB} {
		if strings.Contains(body, secret) {
			t.Errorf("the status shows the key %q", secret)
		}
	}
	if status, _ := adminDo(t, g, "POST", "/agentgate/status", "{}"); status != 405 {
		t.Errorf("POST /agentgate/status: %d", status)
	}
	// Not on the public site, with or without a tenant's key.
	if status, out, _ := g.Do("GET", "/agentgate/status", testgate.KeyA, nil); status == 200 || strings.Contains(string(out), "providers") {
		t.Errorf("the public site answered the status: %d %s", status, out)
	}

	out, err := procgate.Run(t, t.TempDir(), "agentgate", "status", "--address", g.Admin)
	if err != nil {
		t.Fatalf("caddy agentgate status: %v\n%s", err, out)
	}
	words := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"store bbolt ok", "limits memory ok", "agents 1 declared, 1 stored", "keys 2 declared, 1 stored",
		"sessions 2", "up openai ok 0/1", "down openai failing 0/1",
		"upstream unavailable (HTTP 503): upstream said: fake upstream failure 503", "pooled openai ok 1/2"} {
		if !strings.Contains(words, want) {
			t.Errorf("the CLI's status lacks %q:\n%s", want, out)
		}
	}
	out, err = procgate.Run(t, t.TempDir(), "agentgate", "status", "--json", "--address", g.Admin)
	if err != nil || !gjson.Valid(out) || gjson.Get(out, "store.backend").String() != "bbolt" {
		t.Errorf("caddy agentgate status --json: %v\n%s", err, out)
	}
}
