package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/tools"
)

// TestToolPanicIsAToolError: a tool (an MCP client reading a server's
// answer, a sub-agent delegated to, any method) that panics runs in the
// tool loop's own goroutine (toolloop.Loop.execute), out of reach of the
// Caddy handler's recover: found in review, the panic ended the whole
// process, every request in flight with it. It must reach the model as a
// failed tool call (or fail the run), like a tool that returns an error.
// Run it alone: today it crashes the test binary.
func TestToolPanicIsAToolError(t *testing.T) {
	prov := &fakeProvider{Script: [][]adapters.Event{
		callTool(adapters.ToolCall{ID: "c1", Name: "boom", Arguments: `{}`}),
		reply("sorry"),
	}}
	reg, err := tools.NewRegistry(&tools.Toolkit{Name: "Buggy", Methods: []*tools.Method{{Name: "boom", Timeout: time.Second,
		Call: func(context.Context, json.RawMessage) (json.RawMessage, error) {
			panic("a bug in a tool")
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := newTestRuntime(t, Config{Providers: map[string]adapters.Provider{"p": prov}, Tools: reg, PausedRunTTL: time.Hour})
	agent := &adapters.Agent{ID: "a", Model: "m", Tools: []string{"Buggy"}}
	var c collect
	res, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: agent,
		Messages: []adapters.Message{userMsg("go")}}, c.emit)
	if err != nil {
		return // failing the run is an acceptable answer too
	}
	if len(res.Steps) != 1 || !res.Steps[0].Failed || !strings.Contains(string(res.Steps[0].Result), "error") {
		t.Fatalf("a panicking tool must be a failed step: %+v", res.Steps)
	}
}
