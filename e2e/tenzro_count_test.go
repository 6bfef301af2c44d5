package e2e

import (
	"testing"

	"github.com/agentgate/agentgate/internal/testgate"
)

// TestTenzroExecutionOfInactiveAgentNotCounted: an execution the engine
// refuses before admission (an inactive agent: 4xx, no model call, no
// lease) is not an execution of the agent. Found in review: execute
// counts every request that was not refused by the limits
// (!x.Refused()), so requests that never ran, not even admitted, raise
// the agent's "executions".
func TestTenzroExecutionOfInactiveAgentNotCounted(t *testing.T) {
	m := startTzModel(t, tzDocModel)
	hooks := startTzHooks(t)
	g := testgate.Start(t, testgate.Config{Block: tzBlock(m, hooks)})
	ex := loadTzExamples(t)
	id := tzCreate(t, g, testgate.KeyA, "proj_xyz", ex[0].body)
	tzJSON(t, g, "PATCH", "/agent/agents/"+id, testgate.KeyA, "proj_xyz", `{"status":"inactive"}`, 200)
	status, _, body := tzDo(t, g, "POST", "/agent/agents/"+id+"/execute", testgate.KeyA, "proj_xyz", ex[3].body)
	if status < 400 || status >= 500 {
		t.Fatalf("execute on an inactive agent: %d %s", status, body)
	}
	list := tzJSON(t, g, "GET", "/agent/agents", testgate.KeyA, "proj_xyz", "", 200)
	if n := list.Get(`agents.#(agent_id=="` + id + `").executions`).Int(); n != 0 {
		t.Errorf("executions %d after a refused execution, want 0", n)
	}
}
