package e2e

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

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
