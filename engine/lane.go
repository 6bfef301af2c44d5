package engine

import (
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/knowledge"
	"github.com/agentgate/agentgate/engine/models"
)

// RawLane returns where a call to agent can go on the raw passthrough
// lane (the OpenAI dialect's, adapters/dialects/openai/lane.go): a client
// that speaks OpenAI Chat Completions, an agent whose call needs no
// rewriting beyond the model name and the system prompt, and a model
// routed to a provider that speaks Chat Completions itself and lacks
// nothing (models.Models.RawRoute). false means the canonical path runs
// the call.
//
// The agent must be active and use none of what the engine would do
// around or inside the model call:
//
//   - tools (the tool loop) and orchestration (sub-agents);
//   - long-term memory (recall before the call, write-back after it) and
//     knowledge sources (retrieval into the prompt);
//   - guardrails (input checks and redaction, the output filter, an
//     output schema): an agent with any goes the canonical path;
//   - fallbacks (other models, routed again, after the retries);
//   - sampling defaults and reasoning settings (reasoning on or an
//     effort, reasoning steps): they rewrite the request's fields.
//
// What the lane may do is prepend the agent's system prompt and patch
// the model. Sessions and history do not arise: Chat Completions is
// stateless. A model called directly (no agent) is an ad-hoc agent with
// none of these (Passthrough).
func (e *Engine) RawLane(agent *adapters.Agent) (*models.RawRoute, bool) {
	if !rawAgent(agent) {
		return nil, false
	}
	return e.models.RawRoute(agent.Model, agent.Provider)
}

// rawAgent reports whether agent needs nothing of the engine beyond its
// system prompt and model.
func rawAgent(a *adapters.Agent) bool {
	return a.Active() && !a.Orchestrates() && len(a.SubAgents) == 0 && len(a.Tools) == 0 &&
		!a.Memory.Enabled() && a.Knowledge == nil && a.Guardrails == nil && len(a.Fallbacks) == 0 &&
		a.Sampling.IsZero() && !a.Reasoning && a.ReasoningEffort == "" &&
		a.ReasoningMinSteps == 0 && a.ReasoningMaxSteps == 0
}

// RawTurnDone tells the engine that a call to agent on the raw lane
// completed in latency: what the canonical path records of a completed
// run without memory (the agent's statistics), it records.
func (e *Engine) RawTurnDone(call *adapters.Call, runID string, latency time.Duration) {
	e.knowledge.Remember(call, runID, &knowledge.Recollection{}, "", latency, false)
}
