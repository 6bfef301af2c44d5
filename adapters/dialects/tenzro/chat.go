package tenzro

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/state"
)

// ConversationHeader carries a chat's conversation id, made or given.
const ConversationHeader = "X-Conversation-ID"

// maxHistoryTurns bounds the turns a conversation read returns.
const maxHistoryTurns = 10000

// toolCallView is one item of a chat answer's tool_calls.
type toolCallView struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	Result    json.RawMessage `json:"result"`
}

type messageView struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chatResponse is a non-streamed chat answer.
type chatResponse struct {
	Message        messageView    `json:"message"`
	ConversationID string         `json:"conversation_id"`
	ToolCalls      []toolCallView `json:"tool_calls"`
}

// chat answers POST /agent/agents/{id}/chat.
func (d *Dialect) chat(w http.ResponseWriter, r *http.Request, x *exchange.Exchange, project string) error {
	p := x.Principal
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	req, err := decodeChat(body)
	if err != nil {
		return err
	}
	ctx := r.Context()
	agent, err := d.agent(ctx, p, project, r.PathValue("id"))
	if err != nil {
		return err
	}
	convID := req.conversationID
	if convID == "" {
		convID = adapters.NewID("conv_")
	}
	call := &adapters.Call{Principal: p, Dialect: Name, Agent: agent, SessionID: convID, Project: project,
		Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, req.message)},
		RunID:    adapters.NewID("run-"), Stream: req.stream}
	if req.context != nil {
		system := withContext(agent.SystemPrompt, req.vars, req.context)
		call.SystemPrompt = &system
	}
	if !req.stream {
		res, err := d.env.Engine.Run(ctx, x, call, func(adapters.Event) error { return nil })
		if err == nil {
			err = paused(res)
		}
		if err != nil {
			return err
		}
		w.Header().Set(ConversationHeader, convID)
		writeJSON(w, http.StatusOK, chatResponse{Message: messageView{Role: "assistant", Content: res.Text},
			ConversationID: convID, ToolCalls: toolCalls(res.Steps)})
		return nil
	}
	w.Header().Set(ConversationHeader, convID)
	s := &stream{sse: dialects.NewSSE(w)}
	res, err := d.env.Engine.Run(ctx, x, call, s.event)
	if err == nil {
		err = paused(res)
	}
	if err != nil {
		if !s.sse.Started() {
			w.Header().Del(ConversationHeader)
			return err
		}
		_ = s.sse.Event("", appendError(nil, adapters.AsError(err)))
		return nil
	}
	_ = s.sse.Event("", []byte("[DONE]"))
	return nil
}

// withContext fills the system prompt's placeholders from a request's
// context; a prompt that has none gets the context appended as JSON.
func withContext(prompt string, vars map[string]string, context json.RawMessage) string {
	rendered := engine.RenderPrompt(prompt, vars)
	if rendered != prompt {
		return rendered
	}
	block := "Context of this request (JSON): " + string(context)
	if prompt == "" {
		return block
	}
	return prompt + "\n\n" + block
}

// paused turns a run that stopped for a person's confirmation, which
// this API cannot give, into an error.
func paused(res *toolloop.Result) error {
	if res.Status != toolloop.StatusPaused {
		return nil
	}
	name := ""
	if len(res.Pending) > 0 {
		name = " " + quote(res.Pending[0].Name)
	}
	return &adapters.Error{Kind: adapters.KindConflict, Code: "tool_requires_confirmation",
		Message: "the tool" + name + " needs a person's confirmation before it runs, which this API cannot give"}
}

// toolCalls shows the tools a run ran.
func toolCalls(steps []toolloop.Step) []toolCallView {
	out := make([]toolCallView, 0, len(steps))
	for _, s := range steps {
		out = append(out, toolCallView{Name: s.Call.Name, Arguments: arguments(s.Call.Arguments), Result: result(s.Result)})
	}
	return out
}

// arguments shows a call's arguments as the object the model wrote or,
// when it wrote no JSON object, as the text it wrote.
func arguments(s string) json.RawMessage {
	if s == "" {
		return json.RawMessage("{}")
	}
	b := []byte(s)
	if json.Valid(b) && len(b) > 0 {
		var o map[string]json.RawMessage
		if json.Unmarshal(b, &o) == nil && o != nil {
			return compact(b)
		}
	}
	return dialects.AppendString(nil, s)
}

// result shows a tool's JSON result (null when there is none).
func result(r json.RawMessage) json.RawMessage {
	if len(r) == 0 || !json.Valid(r) {
		return json.RawMessage("null")
	}
	return compact(r)
}

// compact removes insignificant space from JSON (a stream event is one
// line).
func compact(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

// stream encodes a run's events as the document's Server-Sent Events.
type stream struct {
	sse *dialects.SSE
	buf []byte
}

// event streams one canonical event. The headers go out when the
// upstream has accepted the call (Start).
func (s *stream) event(ev adapters.Event) error {
	b := s.buf[:0]
	switch ev.Type {
	case adapters.EventStart:
		return s.sse.Start()
	case adapters.EventThinking:
		if ev.Text == "" {
			return nil
		}
		b = append(b, `{"type":"thinking","content":`...)
		b = dialects.AppendString(b, ev.Text)
	case adapters.EventDelta:
		if ev.Text == "" {
			return nil
		}
		b = append(b, `{"type":"delta","content":`...)
		b = dialects.AppendString(b, ev.Text)
	case adapters.EventToolCall:
		if !ev.Executed || ev.ToolCall == nil {
			return nil
		}
		b = append(b, `{"type":"tool_call","id":`...)
		b = dialects.AppendString(b, ev.ToolCall.ID)
		b = append(b, `,"name":`...)
		b = dialects.AppendString(b, ev.ToolCall.Name)
		b = append(b, `,"arguments":`...)
		b = append(b, arguments(ev.ToolCall.Arguments)...)
	case adapters.EventToolResult:
		if !ev.Executed || ev.ToolCall == nil {
			return nil
		}
		b = append(b, `{"type":"tool_result","id":`...)
		b = dialects.AppendString(b, ev.ToolCall.ID)
		b = append(b, `,"name":`...)
		b = dialects.AppendString(b, ev.ToolCall.Name)
		b = append(b, `,"result":`...)
		b = append(b, result(json.RawMessage(ev.ToolResult))...)
	default:
		return nil
	}
	s.buf = append(b, '}')
	return s.sse.Event("", s.buf)
}

// conversationResponse is a conversation's history.
type conversationResponse struct {
	ConversationID string        `json:"conversation_id"`
	Messages       []messageView `json:"messages"`
	CreatedAt      string        `json:"created_at"`
}

// conversation answers GET /agent/agents/{id}/conversations/{conversation_id}:
// the user's messages and the agent's answers, oldest first (tool calls
// and their results are left out).
func (d *Dialect) conversation(w http.ResponseWriter, r *http.Request, x *exchange.Exchange, project string) error {
	p := x.Principal
	ctx := r.Context()
	agent, err := d.agent(ctx, p, project, r.PathValue("id"))
	if err != nil {
		return err
	}
	id := r.PathValue("conversation_id")
	missing := &adapters.Error{Kind: adapters.KindNotFound, Code: "conversation_not_found", Param: "conversation_id",
		Message: "Conversation " + quote(id) + " not found"}
	store := d.env.Engine.Store()
	key := state.SessionKey{Tenant: p.Tenant, AgentID: agent.ID, Project: project, ID: id}
	s, err := store.GetSession(ctx, key)
	if errors.Is(err, state.ErrNotFound) {
		return missing
	}
	if err != nil {
		return err
	}
	msgs, err := store.RecentTurns(ctx, key, min(s.Turns, maxHistoryTurns))
	if err != nil {
		return err
	}
	out := conversationResponse{ConversationID: id, Messages: []messageView{}, CreatedAt: timestamp(s.Created)}
	for i := range msgs {
		m := &msgs[i]
		text := m.Text()
		if (m.Role == adapters.RoleUser || m.Role == adapters.RoleAssistant) && text != "" {
			out.Messages = append(out.Messages, messageView{Role: string(m.Role), Content: text})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
