package responses

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/tidwall/gjson"
)

// request is the part of a Responses request agentgate reads. Fields of
// OpenAI's API not listed are accepted and ignored.
type request struct {
	Model              *string           `json:"model"`
	Input              json.RawMessage   `json:"input"`
	PreviousResponseID *string           `json:"previous_response_id"`
	Version            json.RawMessage   `json:"version"`
	Instructions       *string           `json:"instructions"`
	Temperature        *float64          `json:"temperature"`
	TopP               *float64          `json:"top_p"`
	MaxOutputTokens    *int              `json:"max_output_tokens"`
	Tools              []json.RawMessage `json:"tools"`
	ToolChoice         json.RawMessage   `json:"tool_choice"`
	ParallelToolCalls  *bool             `json:"parallel_tool_calls"`
	Reasoning          *struct {
		Effort  *string `json:"effort"`
		Summary *string `json:"summary"`
	} `json:"reasoning"`
	Text *struct {
		Format    json.RawMessage `json:"format"`
		Verbosity *string         `json:"verbosity"`
	} `json:"text"`
	Stream       *bool           `json:"stream"`
	Store        *bool           `json:"store"`
	Background   *bool           `json:"background"`
	Conversation json.RawMessage `json:"conversation"`
	Metadata     json.RawMessage `json:"metadata"`
	User         *string         `json:"user"`
	Include      json.RawMessage `json:"include"`
	Truncation   *string         `json:"truncation"`
}

// passed are request fields that mean the same in Chat Completions: they
// reach OpenAI-compatible upstreams verbatim.
var passed = []string{"parallel_tool_calls", "user", "safety_identifier", "prompt_cache_key", "service_tier"}

// decoded is a validated request, ready to become a Call once its agent
// and conversation are resolved.
type decoded struct {
	model      string
	previousID string
	// conversation is the Conversations API conversation the response is
	// answered in and adds its items to.
	conversation string
	version      int
	instructions *string
	stream       bool
	store        bool
	// summary shows reasoning as a summary (the client asked for one)
	// rather than as reasoning text.
	summary bool
	// input holds the new messages; outputs the function_call_output
	// items among them, in order; calls the function_call items.
	input []adapters.Message
	// inputItems are the input's items as they are listed (with ids).
	inputItems []json.RawMessage
	outputs    []toolOutput
	calls      map[string]string // call_id → name
	call       adapters.Call
	echo       echo
}

// toolOutput is a function_call_output item of the input.
type toolOutput struct {
	field  string // input[i]
	callID string
	msg    int // index in input
}

// echo holds what the response object repeats of the request (sampling
// is repeated as it took effect: the agent's, with the request's
// overrides).
type echo struct {
	instructions *string
	parallel     bool
	effort       *string
	summary      *string
	tools        json.RawMessage
	toolChoice   json.RawMessage
	text         json.RawMessage
	metadata     json.RawMessage
	user         *string
	// truncation is the strategy the request named; "" means disabled.
	truncation string
}

func missing(field, format string, args ...any) *adapters.Error {
	e := adapters.BadField(field, format, args...)
	e.Code = "missing_required_parameter"
	return e
}

// decodeRequest parses and validates a Responses request body. Every
// failure is a 4xx *adapters.Error naming the field at fault.
func decodeRequest(body []byte, limits dialects.Limits) (*decoded, error) {
	var req request
	if err := dialects.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	if req.Model == nil || *req.Model == "" {
		return nil, missing("model", "is required: the key of the agent to invoke (GET %s/agents)", Prefix)
	}
	out := &decoded{model: *req.Model, store: true}
	if isNull(req.Input) {
		return nil, missing("input", "is required: a string or an array of input items")
	}
	if req.PreviousResponseID != nil {
		out.previousID = *req.PreviousResponseID
	}
	v, err := decodeVersion(req.Version)
	if err != nil {
		return nil, err
	}
	out.version = v
	if req.Stream != nil {
		out.stream = *req.Stream
	}
	if req.Store != nil {
		out.store = *req.Store
	}
	if req.Background != nil && *req.Background {
		return nil, adapters.BadField("background", "background responses are not supported; use stream: true for long answers")
	}
	if out.conversation, err = decodeConversation(req.Conversation); err != nil {
		return nil, err
	}
	if out.conversation != "" && out.previousID != "" {
		return nil, adapters.BadField("conversation", "cannot be used with previous_response_id: a response continues one or the other")
	}
	if out.conversation != "" && !out.store {
		return nil, adapters.BadField("store", "must not be false with conversation: the conversation keeps the response's items")
	}
	if err := decodeInclude(req.Include); err != nil {
		return nil, err
	}
	if req.Truncation != nil {
		switch *req.Truncation {
		case "auto", "disabled":
			out.echo.truncation = *req.Truncation
		default:
			return nil, adapters.BadField("truncation", "must be auto or disabled, got %q", clip(*req.Truncation))
		}
	}
	c := &out.call
	c.Stream = out.stream
	if req.Instructions != nil && *req.Instructions != "" {
		out.instructions = req.Instructions
	}
	if t := req.Temperature; t != nil && (math.IsNaN(*t) || *t < 0 || *t > 2) {
		return nil, adapters.BadField("temperature", "must be between 0 and 2")
	}
	if t := req.TopP; t != nil && (math.IsNaN(*t) || *t < 0 || *t > 1) {
		return nil, adapters.BadField("top_p", "must be between 0 and 1")
	}
	if m := req.MaxOutputTokens; m != nil && *m < 1 {
		return nil, adapters.BadField("max_output_tokens", "must be a positive integer")
	}
	c.Sampling = adapters.Sampling{Temperature: req.Temperature, TopP: req.TopP, MaxTokens: req.MaxOutputTokens}
	e := &out.echo
	e.instructions, e.user = out.instructions, req.User
	e.parallel = req.ParallelToolCalls == nil || *req.ParallelToolCalls

	if err := decodeReasoning(out, req.Reasoning); err != nil {
		return nil, err
	}
	if err := decodeText(out, req.Text); err != nil {
		return nil, err
	}
	if err := decodeTools(out, req.Tools); err != nil {
		return nil, err
	}
	if err := decodeToolChoice(out, req.ToolChoice); err != nil {
		return nil, err
	}
	if !isNull(req.Metadata) {
		md, err := decodeMetadata(req.Metadata)
		if err != nil {
			return nil, err
		}
		e.metadata = md
	}
	if err := decodeInput(out, req.Input, limits); err != nil {
		return nil, err
	}
	if out.inputItems, err = normalizeItems(req.Input); err != nil {
		return nil, adapters.BadField("input", "must be a string or an array of input items")
	}
	c.Extra = extraFields(body)
	return out, nil
}

// decodeConversation reads conversation: an id, or {"id":…}.
func decodeConversation(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var id string
	if json.Unmarshal(raw, &id) != nil {
		var o struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &o) != nil {
			return "", adapters.BadField("conversation", "must be a conversation id or {\"id\":…}")
		}
		id = o.ID
	}
	if id == "" {
		return "", missing("conversation", "must name a conversation: an id from POST /v1/conversations")
	}
	return id, nil
}

// includable are the include values of OpenAI's API. The gateway accepts
// them all; none adds anything it has to a response (it runs no built-in
// tools, returns no logprobs and keeps reasoning itself), as OpenAI adds
// nothing for a tool a request does not use.
var includable = map[string]bool{
	"file_search_call.results": true, "web_search_call.results": true, "web_search_call.action.sources": true,
	"message.input_image.image_url": true, "computer_call_output.output.image_url": true,
	"code_interpreter_call.outputs": true, "reasoning.encrypted_content": true, "message.output_text.logprobs": true,
}

// decodeInclude checks include: an array of includable values.
func decodeInclude(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var values []json.RawMessage
	if json.Unmarshal(raw, &values) != nil {
		return adapters.BadField("include", "must be an array of strings")
	}
	for i, v := range values {
		var s string
		if json.Unmarshal(v, &s) != nil || !includable[s] {
			return adapters.BadField("include["+strconv.Itoa(i)+"]", "unsupported value %s (supported: file_search_call.results, web_search_call.results, web_search_call.action.sources, message.input_image.image_url, computer_call_output.output.image_url, code_interpreter_call.outputs, reasoning.encrypted_content, message.output_text.logprobs)", clip(string(v)))
		}
	}
	return nil
}

// decodeMetadata checks metadata as OpenAI does (at most 16 string
// values, keys up to 64 characters, values up to 512) and returns it
// compact, as it is stored and shown: a key given twice is kept once, at
// its first place, with its last value — what any JSON reader makes of
// it — so what is shown, what is stored and what was counted agree.
func decodeMetadata(raw json.RawMessage) (json.RawMessage, error) {
	var m map[string]string
	if json.Unmarshal(raw, &m) != nil {
		return nil, adapters.BadField("metadata", "must be an object of string values")
	}
	if len(m) > 16 {
		return nil, adapters.BadField("metadata", "may hold at most 16 keys, got %d", len(m))
	}
	for k, v := range m {
		if len(k) > 64 {
			return nil, adapters.BadField("metadata", "key %q is longer than 64 characters", clip(k))
		}
		if len(v) > 512 {
			return nil, adapters.BadField("metadata."+clip(k), "is longer than 512 characters")
		}
	}
	// The keys in their order, read as Unmarshal read them.
	dec := json.NewDecoder(bytes.NewReader(raw))
	out := []byte{'{'}
	seen := make(map[string]bool, len(m))
	if _, err := dec.Token(); err != nil {
		return nil, adapters.BadField("metadata", "must be an object of string values")
	}
	for dec.More() {
		tok, err := dec.Token()
		k, ok := tok.(string)
		if err != nil || !ok {
			return nil, adapters.BadField("metadata", "must be an object of string values")
		}
		if _, err := dec.Token(); err != nil {
			return nil, adapters.BadField("metadata", "must be an object of string values")
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = dialects.AppendString(out, k)
		out = append(out, ':')
		out = dialects.AppendString(out, m[k])
	}
	return append(out, '}'), nil
}

// decodeVersion reads version: absent or null means none; otherwise a
// positive integer.
func decodeVersion(raw json.RawMessage) (int, error) {
	if isNull(raw) {
		return 0, nil
	}
	bad := &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "invalid_version", Param: "version",
		Message: "version: must be a positive integer (a published version of the agent), got " + clip(string(raw))}
	var f float64
	if json.Unmarshal(raw, &f) != nil || f != math.Trunc(f) || f < 1 || f > math.MaxInt32 {
		return 0, bad
	}
	return int(f), nil
}

var efforts = map[string]bool{"none": true, "minimal": true, "low": true, "medium": true, "high": true, "xhigh": true}

func decodeReasoning(out *decoded, r *struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}) error {
	if r == nil {
		return nil
	}
	c := &out.call
	if r.Effort != nil {
		effort := *r.Effort
		if !efforts[effort] {
			return adapters.BadField("reasoning.effort", "must be none, minimal, low, medium, high or xhigh, got %q", clip(effort))
		}
		on := effort != "none"
		c.Reasoning = &on
		if on {
			c.ReasoningEffort = effort
		}
		out.echo.effort = r.Effort
	}
	if r.Summary != nil {
		switch *r.Summary {
		case "auto", "concise", "detailed":
			out.summary = true
			out.echo.summary = r.Summary
		default:
			return adapters.BadField("reasoning.summary", "must be auto, concise or detailed, got %q", clip(*r.Summary))
		}
	}
	return nil
}

// decodeText maps text.format to Chat Completions' response_format.
func decodeText(out *decoded, t *struct {
	Format    json.RawMessage `json:"format"`
	Verbosity *string         `json:"verbosity"`
}) error {
	if t == nil {
		return nil
	}
	if isNull(t.Format) {
		return nil
	}
	var f struct {
		Type        string          `json:"type"`
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Schema      json.RawMessage `json:"schema"`
		Strict      *bool           `json:"strict"`
	}
	if json.Unmarshal(t.Format, &f) != nil {
		return adapters.BadField("text.format", "must be an object with a type: text, json_object or json_schema")
	}
	switch f.Type {
	case "text":
	case "json_object":
		out.call.Sampling.ResponseFormat = json.RawMessage(`{"type":"json_object"}`)
	case "json_schema":
		if f.Name == "" {
			return missing("text.format.name", "is required for json_schema")
		}
		if s := bytes.TrimSpace(f.Schema); len(s) == 0 || s[0] != '{' {
			return missing("text.format.schema", "is required for json_schema: a JSON Schema object")
		}
		rf := jsonSchemaFormat{Type: "json_schema"}
		rf.JSONSchema.Name, rf.JSONSchema.Description, rf.JSONSchema.Schema, rf.JSONSchema.Strict = f.Name, f.Description, compact(f.Schema), f.Strict
		out.call.Sampling.ResponseFormat, _ = json.Marshal(rf)
	default:
		return adapters.BadField("text.format.type", "must be text, json_object or json_schema, got %q", clip(f.Type))
	}
	text := map[string]json.RawMessage{"format": compact(t.Format)}
	if t.Verbosity != nil {
		text["verbosity"], _ = json.Marshal(*t.Verbosity)
	}
	out.echo.text, _ = json.Marshal(text)
	return nil
}

// decodeTools accepts function tools, which are flat in the Responses
// API: {"type":"function","name","description","parameters","strict"}.
func decodeTools(out *decoded, tools []json.RawMessage) error {
	if len(tools) == 0 {
		return nil
	}
	echoed := make([]json.RawMessage, 0, len(tools))
	for i, raw := range tools {
		field := "tools[" + strconv.Itoa(i) + "]"
		var t struct {
			Type        string          `json:"type"`
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
			Strict      *bool           `json:"strict"`
		}
		if json.Unmarshal(raw, &t) != nil {
			return adapters.BadField(field, "must be a tool object: {\"type\":\"function\",\"name\":…,\"parameters\":{…}}")
		}
		if t.Type != "function" {
			return adapters.BadField(field+".type", "only function tools are supported, got %q", clip(t.Type))
		}
		if t.Name == "" {
			return missing(field+".name", "is required")
		}
		params := compact(t.Parameters)
		if params != nil && params[0] != '{' {
			return adapters.BadField(field+".parameters", "must be a JSON Schema object")
		}
		out.call.ClientTools = append(out.call.ClientTools, adapters.Tool{Name: t.Name, Description: t.Description,
			Parameters: params, Strict: t.Strict})
		e := toolEcho{Type: "function", Name: t.Name, Parameters: params, Strict: t.Strict == nil || *t.Strict}
		if t.Description != "" {
			e.Description = &t.Description
		}
		b, _ := json.Marshal(e)
		echoed = append(echoed, b)
	}
	out.echo.tools, _ = json.Marshal(echoed)
	return nil
}

// toolEcho is a function tool as the response object repeats it.
type toolEcho struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description *string         `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      bool            `json:"strict"`
}

// jsonSchemaFormat is Chat Completions' response_format for a schema.
type jsonSchemaFormat struct {
	Type       string `json:"type"`
	JSONSchema struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Schema      json.RawMessage `json:"schema"`
		Strict      *bool           `json:"strict,omitempty"`
	} `json:"json_schema"`
}

// decodeToolChoice maps the Responses tool_choice to Chat Completions'.
func decodeToolChoice(out *decoded, raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	raw = compact(raw)
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		switch s {
		case "auto", "none", "required":
			out.call.ToolChoice, out.echo.toolChoice = raw, raw
			return nil
		}
		return adapters.BadField("tool_choice", "must be auto, none, required or {\"type\":\"function\",\"name\":…}, got %q", clip(s))
	}
	var o struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if json.Unmarshal(raw, &o) != nil || o.Type != "function" || o.Name == "" {
		return adapters.BadField("tool_choice", "must be auto, none, required or {\"type\":\"function\",\"name\":…}")
	}
	tc := append([]byte(`{"type":"function","function":{"name":`), dialects.AppendString(nil, o.Name)...)
	out.call.ToolChoice = append(tc, "}}"...)
	out.echo.toolChoice = raw
	return nil
}

// inputItem is one item of an input array: a message (with or without
// "type":"message"), a replayed function_call, a function_call_output or
// a reasoning item.
type inputItem struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments string          `json:"arguments"`
	Output    json.RawMessage `json:"output"`
}

// contentPart is one part of a message's content.
type contentPart struct {
	Type     string  `json:"type"`
	Text     *string `json:"text"`
	Refusal  string  `json:"refusal"`
	ImageURL *string `json:"image_url"`
	FileID   *string `json:"file_id"`
	Detail   string  `json:"detail"`
}

// decodeInput turns input into canonical messages: a string is one user
// message; an array holds messages, function calls (assistant tool
// calls), their outputs (tool messages) and reasoning items (skipped: the
// gateway keeps reasoning in the conversation itself).
func decodeInput(out *decoded, raw json.RawMessage, limits dialects.Limits) error {
	raw = bytes.TrimSpace(raw)
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return adapters.BadField("input", "is not a valid string")
		}
		if s == "" {
			return missing("input", "must not be empty")
		}
		out.input = []adapters.Message{adapters.TextMessage(adapters.RoleUser, s)}
		return nil
	case '[':
	default:
		return adapters.BadField("input", "must be a string or an array of input items")
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return adapters.BadField("input", "must be a string or an array of input items")
	}
	if len(items) == 0 {
		return missing("input", "must hold at least one item")
	}
	msgs := make([]adapters.Message, 0, len(items))
	for i, itemRaw := range items {
		field := "input[" + strconv.Itoa(i) + "]"
		var it inputItem
		if json.Unmarshal(itemRaw, &it) != nil {
			return adapters.BadField(field, "must be an input item object (a message with a role, function_call or function_call_output)")
		}
		switch it.Type {
		case "", "message":
			m, err := decodeMessage(field, &it, limits)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		case "function_call":
			if it.CallID == "" {
				return missing(field+".call_id", "is required")
			}
			if it.Name == "" {
				return missing(field+".name", "is required")
			}
			tc := adapters.ToolCall{ID: it.CallID, Name: it.Name, Arguments: it.Arguments}
			if out.calls == nil {
				out.calls = map[string]string{}
			}
			out.calls[it.CallID] = it.Name
			// Calls following an assistant message (or other calls) are
			// that message's: one assistant turn.
			if n := len(msgs); n > 0 && msgs[n-1].Role == adapters.RoleAssistant {
				msgs[n-1].ToolCalls = append(msgs[n-1].ToolCalls, tc)
			} else {
				msgs = append(msgs, adapters.Message{Role: adapters.RoleAssistant, ToolCalls: []adapters.ToolCall{tc}})
			}
		case "function_call_output":
			if it.CallID == "" {
				return missing(field+".call_id", "is required")
			}
			text, err := decodeToolOutput(field+".output", it.Output)
			if err != nil {
				return err
			}
			m := adapters.TextMessage(adapters.RoleTool, text)
			m.ToolCallID = it.CallID
			out.outputs = append(out.outputs, toolOutput{field: field + ".call_id", callID: it.CallID, msg: len(msgs)})
			msgs = append(msgs, m)
		case "reasoning":
		default:
			return adapters.BadField(field+".type", "unsupported input item type %q (supported: message, function_call, function_call_output, reasoning)", clip(it.Type))
		}
	}
	if len(msgs) == 0 {
		return missing("input", "holds no message or function_call_output")
	}
	out.input = msgs
	return nil
}

// decodeMessage reads a message item: role, and content as a string or
// parts (input_text and input_image for user messages, output_text and
// refusal for assistant ones).
func decodeMessage(field string, it *inputItem, limits dialects.Limits) (adapters.Message, error) {
	var m adapters.Message
	switch it.Role {
	case "user":
		m.Role = adapters.RoleUser
	case "assistant":
		m.Role = adapters.RoleAssistant
	case "system", "developer":
		m.Role = adapters.RoleSystem
	case "":
		return m, missing(field+".role", "is required: user, assistant, system or developer")
	default:
		return m, adapters.BadField(field+".role", "must be user, assistant, system or developer, got %q", clip(it.Role))
	}
	content := bytes.TrimSpace(it.Content)
	if len(content) == 0 || bytes.Equal(content, []byte("null")) {
		return m, missing(field+".content", "is required")
	}
	switch content[0] {
	case '"':
		var s string
		if json.Unmarshal(content, &s) != nil {
			return m, adapters.BadField(field+".content", "is not a valid string")
		}
		m.Parts = []adapters.Part{{Type: adapters.PartText, Text: s}}
		return m, nil
	case '[':
	default:
		return m, adapters.BadField(field+".content", "must be a string or an array of content parts")
	}
	var parts []json.RawMessage
	if json.Unmarshal(content, &parts) != nil {
		return m, adapters.BadField(field+".content", "must be a string or an array of content parts")
	}
	if len(parts) == 0 {
		return m, missing(field+".content", "must hold at least one part")
	}
	for j, praw := range parts {
		pf := field + ".content[" + strconv.Itoa(j) + "]"
		var p contentPart
		if json.Unmarshal(praw, &p) != nil {
			return m, adapters.BadField(pf, "must be a content part object with a type")
		}
		switch {
		case p.Type == "input_text" && m.Role != adapters.RoleAssistant,
			p.Type == "output_text" && m.Role == adapters.RoleAssistant:
			if p.Text == nil {
				return m, missing(pf+".text", "is required")
			}
			m.Parts = append(m.Parts, adapters.Part{Type: adapters.PartText, Text: *p.Text})
		case p.Type == "refusal" && m.Role == adapters.RoleAssistant:
			m.Parts = append(m.Parts, adapters.Part{Type: adapters.PartText, Text: p.Refusal})
		case p.Type == "input_image" && m.Role == adapters.RoleUser:
			part, err := decodeImage(pf, &p, limits)
			if err != nil {
				return m, err
			}
			m.Parts = append(m.Parts, part)
		case p.Type == "input_file":
			return m, adapters.BadField(pf+".type", "input_file parts are not supported")
		default:
			allowed := "input_text and input_image"
			switch m.Role {
			case adapters.RoleAssistant:
				allowed = "output_text and refusal"
			case adapters.RoleSystem:
				allowed = "input_text"
			}
			return m, adapters.BadField(pf+".type", "unsupported content part type %q in a %s message (supported: %s)", clip(p.Type), it.Role, allowed)
		}
	}
	return m, nil
}

// decodeToolOutput reads a function_call_output's output: a string, or
// text parts.
func decodeToolOutput(field string, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", missing(field, "is required")
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", adapters.BadField(field, "is not a valid string")
		}
		return s, nil
	}
	var parts []contentPart
	if raw[0] != '[' || json.Unmarshal(raw, &parts) != nil {
		return "", adapters.BadField(field, "must be a string or an array of input_text parts")
	}
	var sb strings.Builder
	for j, p := range parts {
		if p.Type != "input_text" || p.Text == nil {
			return "", adapters.BadField(field+"["+strconv.Itoa(j)+"]", "only input_text parts are supported in function outputs")
		}
		sb.WriteString(*p.Text)
	}
	return sb.String(), nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// compact returns raw without insignificant space; nil for null.
func compact(raw json.RawMessage) json.RawMessage {
	if isNull(raw) {
		return nil
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return nil
	}
	return buf.Bytes()
}

// extraFields collects the request fields passed upstream verbatim.
func extraFields(body []byte) map[string]json.RawMessage {
	var extra map[string]json.RawMessage
	for _, k := range passed {
		if v := gjsonGet(body, k); v != nil {
			if extra == nil {
				extra = map[string]json.RawMessage{}
			}
			extra[k] = v
		}
	}
	return extra
}

// gjsonGet returns the top-level field k of body, or nil when it is
// absent or null.
func gjsonGet(body []byte, k string) json.RawMessage {
	v := gjson.GetBytes(body, k)
	if !v.Exists() || v.Type == gjson.Null {
		return nil
	}
	return json.RawMessage(v.Raw)
}
