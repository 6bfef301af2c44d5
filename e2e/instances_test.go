package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/pgtest"
	"github.com/agentgate/agentgate/internal/procgate"
	"github.com/agentgate/agentgate/internal/testgate"
)

// Two gateways as separate processes of the built binary on one
// PostgreSQL database, as a gateway tier behind a load balancer runs.

// sharedCacheTTL is the instances' cache_ttl in these tests: far longer
// than any test waits, so what reaches the other instance in time came
// through PostgreSQL's notifications, not an expiry.
const sharedCacheTTL = "10m"

// notifyBound bounds the wait for a write through one instance to show
// on the other: a failure bound, far beyond a notification's delay.
const notifyBound = 20 * time.Second

// pairLimits, when set, is added to the agentgate blocks of the pairs
// startPair starts: their limits (TestInstancesWithSharedLimits).
var pairLimits string

// startPair starts instances A and B of the binary with block in their
// agentgate block, on a new database, and returns them with its DSN.
func startPair(t *testing.T, block string) (a, b *procgate.Instance, dsn string) {
	t.Helper()
	dsn = pgtest.Shared(t).CreateDB(t)
	cfg := testgate.Config{Block: pairLimits + block, Storage: "storage postgres " + dsn + " {\n\t\t\tcache_ttl " + sharedCacheTTL + "\n\t\t}"}
	return procgate.Start(t, "A", cfg), procgate.Start(t, "B", cfg), dsn
}

// eventually polls check until it returns "" (success), failing the test
// with its last answer after notifyBound.
func eventually(t *testing.T, what string, check func() string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		msg := check()
		if msg == "" {
			return time.Since(start)
		}
		if time.Since(start) > notifyBound {
			t.Fatalf("%s: not within %v: %s", what, notifyBound, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInstancesShareAgentsAndSessions: an agent created through A is
// listed and chatted with through B; a conversation begun on A continues
// on B, with A's turns in the model's context.
func TestInstancesShareAgentsAndSessions(t *testing.T) {
	up := engUpstream("Noted.")
	defer up.Close()
	a, b, _ := startPair(t, engBlock(up, engHooks(t)))
	key := testgate.KeyA

	agent := engMust(t, a.Gateway, "POST", "/api/v1/agents", key, map[string]any{"name": "Concierge", "model": "gpt-4",
		"system_prompt": "You are a concierge."}, 201)
	id := agent.Get("id").String()
	eventually(t, "the agent created through A listed by B", func() string {
		list := engMust(t, b.Gateway, "GET", "/api/v1/agents", key, nil, 200)
		if !strings.Contains(list.Raw, id) {
			return list.Raw
		}
		return ""
	})
	engMust(t, b.Gateway, "GET", "/api/v1/agents/"+id, key, nil, 200)
	chat := func(g *procgate.Instance, message string) {
		t.Helper()
		engMust(t, g.Gateway, "POST", "/api/v1/agents/"+id+"/chat", key,
			map[string]any{"message": message, "conversation_id": "conv_1", "context": map[string]string{"user_id": "ada"}}, 200)
	}
	chat(a, "First, on instance A.")
	chat(b, "Second, on instance B.")
	ctxMsgs := engChatRequest(t, up, "Second, on instance B.").Get("messages.#.content").String()
	if !strings.Contains(ctxMsgs, "First, on instance A.") {
		t.Fatalf("B's turn did not see A's: %s", ctxMsgs)
	}
	// And back on A, both earlier turns.
	chat(a, "Third, on A again.")
	if ctxMsgs := engChatRequest(t, up, "Third, on A again.").Get("messages.#.content").String(); !strings.Contains(ctxMsgs, "Second, on instance B.") {
		t.Fatalf("A's next turn did not see B's: %s", ctxMsgs)
	}
	// Another tenant sees it through neither.
	for _, g := range []*procgate.Instance{a, b} {
		engMust(t, g.Gateway, "GET", "/api/v1/agents/"+id, testgate.KeyB, nil, 404)
	}
}

// TestInstancesRevokedKey: a key created through A's admin API works on
// B; revoked through A, B refuses it within the notification's delay,
// though its cache would serve it for ten minutes.
func TestInstancesRevokedKey(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: "ok"}).Start()
	defer up.Close()
	a, b, _ := startPair(t, "provider up openai {\n\t\t\tbase_url "+up.URL+"\n\t\t}\n")
	status, body := adminDo(t, a.Gateway, "POST", "/agentgate/keys", `{"tenant":"tenant-c","tier":"pro"}`)
	if status != 201 && status != 200 {
		t.Fatalf("creating a key through A: %d %s", status, body)
	}
	secret, id := gjson.Get(body, "key").String(), gjson.Get(body, "id").String()
	use := func(g *procgate.Instance) int {
		status, _, _ := g.Do("GET", "/v1/models", secret, nil)
		return status
	}
	eventually(t, "B accepting the key created through A", func() string {
		if s := use(b); s != 200 {
			return fmt.Sprint(s)
		}
		return ""
	})
	if s := use(a); s != 200 {
		t.Fatalf("A refuses its own key: %d", s)
	}
	if s, body := adminDo(t, a.Gateway, "DELETE", "/agentgate/keys/"+id, ""); s != 200 && s != 204 {
		t.Fatalf("revoking through A: %d %s", s, body)
	}
	if s := use(a); s != 401 {
		t.Fatalf("A accepts the key it revoked: %d", s)
	}
	took := eventually(t, "B refusing the key revoked through A", func() string {
		if s := use(b); s != 401 {
			return fmt.Sprint(s)
		}
		return ""
	})
	t.Logf("B refused the revoked key %v after A revoked it", took)
}

// TestInstancesMemory: a memory written through A is recalled through B,
// whose recall index of the agent was loaded before the write.
func TestInstancesMemory(t *testing.T) {
	up := engUpstream("Noted.")
	defer up.Close()
	a, b, _ := startPair(t, engBlock(up, engHooks(t)))
	key := testgate.KeyA
	id := engMust(t, a.Gateway, "POST", "/api/v1/agents", key, map[string]any{"name": "Concierge", "model": "gpt-4",
		"memory_config": map[string]bool{"semantic_enabled": true}}, 201).Get("id").String()
	ask := func(g *procgate.Instance, conv string) gjson.Result {
		return engMust(t, g.Gateway, "POST", "/api/v1/agents/"+id+"/chat", key,
			map[string]any{"message": "Which refund policy applies?", "conversation_id": conv, "context": map[string]string{"user_id": "ada"}}, 200)
	}
	// B loads the agent's (empty) index.
	if got := ask(b, "conv_before").Get("memory_accessed").Array(); len(got) != 0 {
		t.Fatalf("memory before any was written: %v", got)
	}
	written := engMust(t, a.Gateway, "POST", "/api/v1/agents/"+id+"/memory", key,
		map[string]any{"content": "Refund policy: 30 days from delivery."}, 201)
	memID := written.Get("items.0.id").String()
	if memID == "" {
		memID = written.Get("id").String()
	}
	if memID == "" {
		t.Fatalf("memory written through A: %s", written.Raw)
	}
	n := 0
	took := eventually(t, "B recalling the memory written through A", func() string {
		n++
		out := ask(b, fmt.Sprint("conv_after_", n))
		if !slices.Contains(engIDs(out.Get("memory_accessed")), memID) {
			return out.Raw
		}
		return ""
	})
	t.Logf("B recalled the memory %v after A wrote it", took)
}

// TestInstancesCommitRace: A and B committing one paused run at once: one
// commit runs the tool, once; the other is told the run was committed.
func TestInstancesCommitRace(t *testing.T) {
	hooks := startV2Webhooks(t)
	up := v2Upstream(t)
	a, b, _ := startPair(t, v2Block(up, hooks, ""))
	v2JSON(t, a.Gateway, "POST", "/v2/agents", testgate.KeyA, `{"id":"mailer","name":"Mailer","template":"You send mail.",`+
		`"config":{"worker_config":{"tools":["EmailToolkit"]}}}`, 201)
	for round := range 5 {
		session := fmt.Sprint("race-", round)
		before := len(hooks.received())
		paused := v2JSON(t, a.Gateway, "POST", "/v2/agents/mailer/chat", testgate.KeyA, chatFor(session, false, ""), 200)
		if paused.Get("status").String() != "paused" {
			t.Fatalf("not paused: %s", paused.Raw)
		}
		run := paused.Get("run_id").String()
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i, g := range []*procgate.Instance{a, b} {
			wg.Go(func() {
				codes[i], _, _ = v2Request(t, g.Gateway, "POST", "/v2/agents/mailer/chat/commit", testgate.KeyA,
					commitFor(run, session, false, `[{"tool_call_id":"tc-001","confirmed":true}]`))
			})
		}
		wg.Wait()
		slices.Sort(codes)
		if codes[0] != 200 || codes[1] != 409 {
			t.Fatalf("round %d: commits through A and B answered %v, want one 200 and one 409", round, codes)
		}
		if calls := len(hooks.received()) - before; calls != 1 {
			t.Fatalf("round %d: the tool ran %d times", round, calls)
		}
	}
}

// TestInstanceKilled: A killed with SIGKILL while it takes writes loses
// none it acknowledged: every agent it answered 201 for, every turn it
// answered 200 for, every memory it answered 201 for is in the database
// and served by B.
func TestInstanceKilled(t *testing.T) {
	up := engUpstream("Noted.")
	defer up.Close()
	a, b, dsn := startPair(t, engBlock(up, engHooks(t)))
	key := testgate.KeyA
	id := engMust(t, a.Gateway, "POST", "/api/v1/agents", key, map[string]any{"name": "Load", "model": "gpt-4"}, 201).Get("id").String()

	var mu sync.Mutex
	var agents, memories []string
	turns := map[string]int{}
	var acked atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			conv := fmt.Sprint("conv_", w)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var status int
				var out []byte
				switch i % 3 {
				case 0:
					status, out = tryDo(a, "POST", "/api/v1/agents", key, map[string]any{"name": fmt.Sprint("w", w, "-", i), "model": "gpt-4"})
					if status == 201 {
						mu.Lock()
						agents = append(agents, gjson.GetBytes(out, "id").String())
						mu.Unlock()
					}
				case 1:
					status, _ = tryDo(a, "POST", "/api/v1/agents/"+id+"/chat", key,
						map[string]any{"message": fmt.Sprint("turn ", i), "conversation_id": conv, "context": map[string]string{"user_id": "u"}})
					if status == 200 {
						mu.Lock()
						turns[conv]++
						mu.Unlock()
					}
				case 2:
					status, out = tryDo(a, "POST", "/api/v1/agents/"+id+"/memory", key, map[string]any{"content": fmt.Sprint("fact ", w, "-", i)})
					if status == 201 {
						mu.Lock()
						memories = append(memories, gjson.GetBytes(out, "items.0.id").String())
						mu.Unlock()
					}
				}
				if status == 0 || a.Exited() {
					return
				}
				acked.Add(1)
			}
		})
	}
	// Kill A once it has acknowledged a good number of writes, in the
	// middle of more.
	for acked.Load() < 60 {
		time.Sleep(10 * time.Millisecond)
	}
	a.Kill()
	close(stop)
	wg.Wait()
	t.Logf("A acknowledged %d agents, %d memories and turns %v before it was killed", len(agents), len(memories), turns)

	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for conv, n := range turns {
		var stored int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM turns WHERE tenant = 'tenant-a' AND agent_id = $1 AND session_id = $2",
			id, conv).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored < n {
			t.Errorf("conversation %s: %d turns acknowledged, %d stored", conv, n, stored)
		}
	}
	for _, agent := range agents {
		engMust(t, b.Gateway, "GET", "/api/v1/agents/"+agent, key, nil, 200)
	}
	list := engMust(t, b.Gateway, "GET", "/api/v1/agents/"+id+"/memory?limit=1000", key, nil, 200)
	for _, m := range memories {
		if !strings.Contains(list.Raw, m) {
			t.Errorf("memory %s acknowledged by A, not served by B", m)
		}
	}
}

// tryDo sends a JSON request to g; status 0 means it got no answer (the
// instance is gone).
func tryDo(g *procgate.Instance, method, path, key string, body any) (int, []byte) {
	js, _ := json.Marshal(body)
	req, err := http.NewRequest(method, g.URL+path, bytes.NewReader(js))
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil // an answer cut short is no acknowledgement
	}
	return resp.StatusCode, out
}
