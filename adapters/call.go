package adapters

import "encoding/json"

// Call is one invocation of an agent as a dialect decoded it: who calls,
// which agent, the new messages and the per-request settings. The runtime
// turns it into provider requests.
type Call struct {
	Principal *Principal
	// Dialect names the inbound API, for logs and metrics.
	Dialect string
	Agent   *Agent
	// SessionID continues a stored conversation; empty is a one-off
	// exchange.
	SessionID string
	// History, for a call without SessionID, is the conversation so far
	// as the dialect keeps it itself (Responses' conversation trees): the
	// model sees it before Messages, the runtime stores nothing, and the
	// run's Result.Turn is what the dialect keeps.
	History []Message
	// Messages are the client's new messages. For stateless APIs (Chat
	// Completions) they are the whole conversation.
	Messages []Message
	// ClientTools are tools the client executes itself: the runtime passes
	// them to the model and returns calls to them instead of running them.
	ClientTools []Tool
	// Tools names operator-declared tools or toolkits the request adds to
	// the agent's own.
	Tools []string
	// MaxIterations, when set, replaces the agent's tool-loop bound.
	MaxIterations int
	ToolChoice    json.RawMessage
	Sampling      Sampling
	// Reasoning overrides the agent's thinking default when set.
	Reasoning *bool
	// ReasoningEffort, when set, replaces the agent's effort.
	ReasoningEffort string
	// ReasoningBudget, when set, bounds thinking in tokens (Anthropic
	// budget_tokens, Gemini thinkingBudget).
	ReasoningBudget int
	// Model overrides the agent's model when set.
	Model string
	// SystemPrompt overrides the agent's system prompt when set.
	SystemPrompt *string
	// PromptVars, when set, fill the {{name}} placeholders of the system
	// prompt (the agent's or the override): {{timezone}},
	// {{user_profile.full_name}}, … Unknown placeholders stay as written.
	PromptVars map[string]string
	// RunID, when set, is the id the run gets (a dialect that streams the
	// id with every event chooses it up front); it must come from
	// NewID ("run-…", or "exec_…" for executions). Empty means the
	// engine makes one.
	RunID string
	// ParentRunID, when set, is the run this one works for (a sub-agent
	// run of an orchestrated agent): its usage records name it as their
	// parent.
	ParentRunID string
	// Depth is how deep in an orchestration the call runs: 0 for the
	// agent the client called, 1 for its sub-agents, and so on.
	Depth int
	// Project scopes the call's session within the tenant (Tenzro
	// projects): a session is continued only in the project it began in.
	Project string
	// UserID names the end user the call is for (Engrami context.user_id,
	// v2 user_id): long-term memory is kept and recalled per end user of
	// an agent. Empty means no particular user.
	UserID string
	// UpstreamUser is the end-user id the client gave for the upstream's
	// abuse monitoring (Anthropic metadata.user_id), sent as
	// Request.User. UserID is not: it may name people, and only scopes
	// memory.
	UpstreamUser string
	Stream       bool
	// Extra carries client fields passed verbatim to compatible upstreams.
	Extra map[string]json.RawMessage
}
