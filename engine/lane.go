package engine

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/knowledge"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/internal/tracing"
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

// RunRaw runs call on the raw lane: its one model call goes by route
// with body, the client's request as the upstream gets it, and relay
// writes the upstream's answer to the client (models.Models.Relay). The
// run is what a canonical run of such an agent is around its model call:
// admitted through x with the estimate the canonical path would make
// (models.EstimateCall of the request it would build), accounted to x,
// traced as an "invoke_agent" span (when the request is traced, without
// content: a trace that records prompts and completions needs the
// canonical path, which has them decoded), and, once it completed, told
// to the agent's statistics. It returns the run's error.
func (e *Engine) RunRaw(ctx context.Context, x *exchange.Exchange, call *adapters.Call, route *models.RawRoute, body []byte,
	relay func(*http.Response, *models.RawAnswer) error) (err error) {
	start := e.now()
	req, err := e.buildRequest(ctx, call)
	if err != nil {
		return err
	}
	if err := x.Admit(ctx, models.EstimateCall(call, req)); err != nil {
		return err
	}
	runID := adapters.NewID("run-")
	ctx, span := startRun(ctx, call)
	var answer *models.RawAnswer
	defer func() { endRawRun(span, runID, answer, err) }()
	answer, err = e.models.Relay(ctx, x, &models.RawCall{
		Account: models.Account{Principal: call.Principal, Dialect: call.Dialect, AgentID: call.Agent.ID},
		Route:   route, Model: call.Agent.Model, Sampling: call.Sampling, Body: body, Stream: call.Stream, ID: runID,
	}, relay)
	if err == nil {
		e.knowledge.Remember(call, runID, &knowledge.Recollection{}, "", e.now().Sub(start), false)
	}
	return err
}

// RecordsContent reports whether ctx's request is traced with its
// content (prompts, completions): the raw lane does not decode answers,
// so such a request takes the canonical path.
func RecordsContent(ctx context.Context) bool {
	return tracing.RecordsContent(ctx, trace.SpanFromContext(ctx))
}
