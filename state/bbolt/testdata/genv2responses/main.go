// Command genv2responses writes state/bbolt/testdata/v2-responses.db: a store
// in schema version 2 as agentgate kept Responses conversations before
// responses were nodes of conversation trees (one stored response per
// session, replaced by each turn, its id resp_{session id}), for the test
// that such a store keeps its conversations readable
// (e2e/responses_legacy_test.go). It was run once against the code of
// commit 093e77f (the last with that layout), from an export of it:
//
//	go run ./state/testdata/genv2responses state/testdata/v2-responses.db
//
// (the files were in state/testdata then). It does not build against
// later code (the store moved to state/bbolt).
package main

import (
	"context"
	"encoding/json"
	"log"
	"os"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

func main() {
	path := os.Args[1]
	_ = os.Remove(path)
	s, err := state.OpenBolt(path, state.BoltOptions{})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	created := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	turn := func(q, a string) []adapters.Message {
		return []adapters.Message{adapters.TextMessage(adapters.RoleUser, q), adapters.TextMessage(adapters.RoleAssistant, a)}
	}
	sess := &state.Session{ID: "conv_legacy1", Tenant: "tenant-a", AgentID: "support-bot", Created: created}
	for _, t := range [][]adapters.Message{turn("My name is Ada.", "Nice to meet you, Ada."), turn("I live in Paris.", "Paris is lovely.")} {
		if err := s.AppendTurn(ctx, sess, t); err != nil {
			log.Fatal(err)
		}
	}
	// The conversation's latest response, as the Responses dialect stored
	// it: its id is the conversation's.
	body := map[string]any{"id": "resp_conv_legacy1", "object": "response", "created_at": created.Unix(), "status": "completed",
		"model": "support-bot", "previous_response_id": "resp_conv_legacy1", "store": true,
		"output": []any{map[string]any{"id": "msg_legacy2", "type": "message", "status": "completed", "role": "assistant",
			"content": []any{map[string]any{"type": "output_text", "annotations": []any{}, "text": "Paris is lovely."}}}}}
	b, _ := json.Marshal(body)
	if err := s.PutResponse(ctx, &state.StoredResponse{ID: "conv_legacy1", Tenant: "tenant-a", AgentID: "support-bot", Body: b, Updated: created}); err != nil {
		log.Fatal(err)
	}
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}
}
