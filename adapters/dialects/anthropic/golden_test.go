package anthropic

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/internal/dialecttest"
)

func agent() *adapters.Agent {
	return &adapters.Agent{ID: "assistant", Name: "Assistant", SystemPrompt: "You are the agent.", Model: "gpt-test"}
}

// harness serves the dialect over a scripted provider that also answers
// the routed models claude-* (passthrough).
func harness(t *testing.T, script *dialecttest.Script) *dialecttest.Harness {
	return dialecttest.NewWith(t, Name, script, dialecttest.Options{
		Routes: []models.Route{{Pattern: "claude-*", Provider: "script"}}}, agent())
}

// TestGolden runs each testdata/<case>: request.json is posted to
// /v1/messages, the scripted provider replays events.jsonl, and the
// canonical request it received and the client's response (the message
// object or the event stream, with its status) are compared with
// upstream.golden.json and response.golden.
func TestGolden(t *testing.T) {
	cases, _ := filepath.Glob("testdata/*/request.json")
	if len(cases) == 0 {
		t.Fatal("no golden cases")
	}
	for _, reqPath := range cases {
		dir := filepath.Dir(reqPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			body, err := os.ReadFile(reqPath)
			if err != nil {
				t.Fatal(err)
			}
			script := &dialecttest.Script{Events: [][]adapters.Event{dialecttest.LoadEvents(t, filepath.Join(dir, "events.jsonl"))}}
			h := harness(t, script)
			rec := h.Do("POST", "/v1/messages", body, "Anthropic-Version", "2023-06-01")
			got := rec.Body.Bytes()
			if rec.Header().Get("Content-Type") == "application/json" {
				got = dialecttest.Indent(got)
			}
			head := []byte(rec.Header().Get("Content-Type") + " " + http.StatusText(rec.Code) + "\n")
			dialecttest.Golden(t, filepath.Join(dir, "response.golden"), append(head, got...))
			reqs := script.Requests()
			if len(reqs) == 0 {
				dialecttest.Golden(t, filepath.Join(dir, "upstream.golden.json"), []byte("null\n"))
				return
			}
			up, _ := json.MarshalIndent(reqs[0], "", "  ")
			dialecttest.Golden(t, filepath.Join(dir, "upstream.golden.json"), append(up, '\n'))
		})
	}
}
