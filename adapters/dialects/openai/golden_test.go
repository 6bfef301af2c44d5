package openai

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/dialecttest"
)

func agent() *adapters.Agent {
	return &adapters.Agent{ID: "assistant", Name: "Assistant", SystemPrompt: "You are the agent.", Model: "gpt-test"}
}

// TestGolden runs each testdata/<case>: request.json is posted to
// /v1/chat/completions, the scripted provider replays events.jsonl, and
// the canonical request it received and the client's response are
// compared with upstream.golden.json and response.golden.
func TestGolden(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/*/request.json")
	if len(dirs) == 0 {
		t.Fatal("no golden cases")
	}
	for _, reqPath := range dirs {
		dir := filepath.Dir(reqPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			body, err := os.ReadFile(reqPath)
			if err != nil {
				t.Fatal(err)
			}
			script := &dialecttest.Script{Events: [][]adapters.Event{dialecttest.LoadEvents(t, filepath.Join(dir, "events.jsonl"))}}
			h := dialecttest.New(t, Name, script, agent())
			rec := h.Do("POST", "/v1/chat/completions", body)
			got := rec.Body.Bytes()
			if rec.Header().Get("Content-Type") == "application/json" {
				got = dialecttest.Indent(got)
			}
			dialecttest.Golden(t, filepath.Join(dir, "response.golden"), got)
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
