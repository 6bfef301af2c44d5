package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/pgtest"
	"github.com/agentgate/agentgate/internal/testgate"
)

// TestDialectsOnPostgres runs a full test of every dialect, and of the
// features that keep state (sessions, paused runs, memory, knowledge,
// versions, logs and quotas, key administration), through a real Caddy
// whose state is in PostgreSQL (storage postgres) instead of the embedded
// store: the rest of the suite runs on bbolt. Each test gets a database
// of its own.
func TestDialectsOnPostgres(t *testing.T) {
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"openai", TestChatCompletionsWithOpenAISDK},
		{"egzora sessions", TestEgzoraSessions},
		{"egzora profile and logs", TestEgzoraProfileAndLogs},
		{"egzora isolation", TestEgzoraAuthAndIsolation},
		{"tenzro", TestTenzroDocumentExamples},
		{"tenzro projects", TestTenzroProjectIsolation},
		{"engrami", TestEngramiDocumentExamples},
		{"engrami memory", TestEngramiMemoryAcrossConversations},
		{"agentsv2", TestAgentsV2DocumentExamples},
		{"agentsv2 paused runs", TestAgentsV2PausedRuns},
		{"agentsv2 soft delete", TestAgentsV2SoftDeleteAcrossDialects},
		{"responses", TestResponsesDocumentExamples},
		{"responses isolation", TestResponsesTenantIsolation},
		{"knowledge", TestKnowledgeThroughCaddy},
		{"conversations per agent", TestConversationsPerAgent},
		{"keys", TestKeysThroughCLIAndAdminAPI},
		{"declared keys", TestDeclaredKeysCreationTime},
		{"cost per provider", TestCostPerProvider},
		{"cost of a run", TestCostOfARun},
		{"spend report", TestSpendReportAndCLI},
		{"price change on reload", TestPriceChangeOnReload},
		{"tier budgets", TestTierBudgets},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := testgate.UsePostgres(t)
			tc.test(t)
			// The gateway kept its state there: it recorded the keys its
			// configuration declares.
			conn, err := pgx.Connect(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			var n int
			if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM declared_keys").Scan(&n); err != nil || n == 0 {
				t.Fatalf("the gateway left no trace in PostgreSQL: %d declared keys, %v", n, err)
			}
		})
	}
}

// TestPostgresOutage: while the database is down, requests that need it
// fail with a 503 in their dialect's shape (and Retry-After), with no
// restart the gateway serves again once it is back, and the usage of the
// requests it answered before the outage is kept.
func TestPostgresOutage(t *testing.T) {
	srv := pgtest.Start(t) // its own server: the test stops it
	up := (&fakeupstream.OpenAI{Reply: "ok"}).Start()
	defer up.Close()
	dsn := srv.CreateDB(t)
	g := testgate.Start(t, testgate.Config{Storage: "storage postgres " + dsn, Block: `
		provider up openai {
			base_url ` + up.URL + `
		}
		agent assistant {
			model gpt-test
			provider up
		}
`})
	chat := `{"model":"assistant","messages":[{"role":"user","content":"Hi"}]}`
	egz := map[string]any{"agent_id": "assistant", "message": "Hi", "session_id": "s1"}
	if s, body, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA, chat); s != 200 {
		t.Fatalf("before the outage: %d %s", s, body)
	}
	if s, body, _ := g.Do("POST", "/v1/chat", testgate.KeyA, egz); s != 200 {
		t.Fatalf("egzora before the outage: %d %s", s, body)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	// An Egzora turn needs the session; Engrami's agents and OpenAI's
	// passthrough with a declared agent reach the store for usage only
	// (batched), so they may still answer.
	for _, tc := range []struct{ name, method, path, body, code string }{
		{"egzora", "POST", "/v1/chat", `{"agent_id":"assistant","message":"Hi","session_id":"s1"}`, "error.code"},
		{"engrami", "GET", "/api/v1/agents", "", "error.code"},
		{"v2", "GET", "/v2/agents", "", "detail"},
	} {
		s, body, hdr := g.Do(tc.method, tc.path, testgate.KeyA, tc.body)
		if s != 503 || !gjson.GetBytes(body, tc.code).Exists() || hdr.Get("Retry-After") == "" {
			t.Errorf("%s while PostgreSQL is down: %d %s (Retry-After %q), want a 503 in the dialect's shape", tc.name, s, body, hdr.Get("Retry-After"))
		}
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, body, _ := g.Do("POST", "/v1/chat", testgate.KeyA, egz)
		if s == 200 {
			break
		}
		if s != 503 || time.Now().After(deadline) {
			t.Fatalf("after PostgreSQL came back: %d %s", s, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The usage of the answers before the outage is all there.
	s, body, _ := g.Do("GET", "/v1/logs?limit=100", testgate.KeyA, nil)
	if n := len(gjson.ParseBytes(body).Array()); s != 200 || n < 3 {
		t.Fatalf("logs after the outage: %d, %d records", s, n)
	}
}

// TestPostgresUnreachableAtStart: a gateway whose database cannot be
// reached does not start, with an error naming the database's host and
// port, never the password.
func TestPostgresUnreachableAtStart(t *testing.T) {
	port := testgate.FreePort(t) // nothing listens there
	const password = "n0t-in-any-log"
	g := testgate.Start(t, testgate.Config{})
	err := g.TryLoad(testgate.Config{Storage: fmt.Sprintf("storage postgres postgres://agentgate:%s@127.0.0.1:%d/agentgate?connect_timeout=2 {\n\t\t\tconnect_timeout 2s\n\t\t}", password, port)})
	if err == nil {
		t.Fatal("a gateway started on an unreachable database")
	}
	if want := fmt.Sprintf("postgres://agentgate@127.0.0.1:%d/agentgate", port); !strings.Contains(err.Error(), want) {
		t.Errorf("the error does not name %s: %v", want, err)
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("the error shows the password: %v", err)
	}
}
