package openai

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/tidwall/gjson"
)

// chatRequest is the part of a Chat Completions request agentgate
// interprets; every other top-level field is passed upstream verbatim.
type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []chatMessage `json:"messages"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Tools               []chatTool      `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stop                json.RawMessage `json:"stop"`
	Seed                *int64          `json:"seed"`
	ResponseFormat      json.RawMessage `json:"response_format"`
	ReasoningEffort     string          `json:"reasoning_effort"`
}

// interpreted lists the fields chatRequest consumes, each with a bit of
// its own (topFields notes the ones a body names); the rest are Extra.
var interpreted = map[string]uint16{
	"model": 1 << 0, "messages": 1 << 1, "stream": 1 << 2, "stream_options": 1 << 3, "tools": 1 << 4,
	"tool_choice": 1 << 5, "temperature": 1 << 6, "top_p": 1 << 7, "max_tokens": 1 << 8,
	"max_completion_tokens": 1 << 9, "stop": 1 << 10, "seed": 1 << 11, "response_format": 1 << 12,
	"reasoning_effort": 1 << 13,
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	Name       string          `json:"name"`
	ToolCalls  []chatToolCall  `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

type chatToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
		Strict      *bool           `json:"strict"`
	} `json:"function"`
}

type contentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
	// Refusal is the text of a refusal part (an assistant's earlier
	// refusal sent back as history).
	Refusal  string `json:"refusal"`
	ImageURL *struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	} `json:"image_url"`
}

// decodedChat is a validated request, ready to become a Call once its
// agent is resolved.
type decodedChat struct {
	model        string
	includeUsage bool
	call         adapters.Call
	// Where the values of the top-level fields the raw lane patches are
	// in the body (lane.go).
	modelAt, messagesAt, streamOptionsAt span
	// laneSafe: the body names each interpreted field once and by its
	// exact name, so an upstream reads the raw lane's body as agentgate
	// decoded it. encoding/json matches names whatever their case and
	// takes the last of duplicates; an upstream may do neither, and the
	// lane would patch one value while the upstream read another.
	laneSafe bool
}

// span is where a value is in a body: its offset and length; a zero
// span (length 0) is a field the body lacks.
type span struct{ at, n int }

// decodeChat parses and validates a Chat Completions body. Every failure
// is an *adapters.Error naming the field at fault.
func decodeChat(body []byte) (*decodedChat, error) {
	var req chatRequest
	out := &decodedChat{}
	extra, fast := fastChatRequest(body, &req, out)
	if !fast {
		// A variable of its own: encoding/json's takes it to the heap, and
		// the fast path's stays on the stack.
		var slow chatRequest
		if err := dialects.Unmarshal(body, &slow); err != nil {
			return nil, err
		}
		req, *out = slow, decodedChat{}
	}
	if req.Model == "" {
		return nil, adapters.BadField("model", "is required: an agent id or name from GET /v1/models")
	}
	if req.Messages == nil {
		return nil, adapters.BadField("messages", "is required")
	}
	if len(req.Messages) == 0 {
		return nil, adapters.BadField("messages", "must hold at least one message")
	}
	out.model = req.Model
	c := &out.call
	c.Stream = req.Stream
	out.includeUsage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	msgs := make([]adapters.Message, 0, len(req.Messages))
	for i := range req.Messages {
		m, err := decodeMessage(i, &req.Messages[i])
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	c.Messages = msgs
	for i, t := range req.Tools {
		if t.Type != "function" {
			return nil, adapters.BadField("tools["+strconv.Itoa(i)+"].type", "only function tools are supported, got %q", t.Type)
		}
		if t.Function.Name == "" {
			return nil, adapters.BadField("tools["+strconv.Itoa(i)+"].function.name", "is required")
		}
		c.ClientTools = append(c.ClientTools, adapters.Tool{Name: t.Function.Name, Description: t.Function.Description,
			Parameters: t.Function.Parameters, Strict: t.Function.Strict})
	}
	if len(req.ToolChoice) > 0 && !bytes.Equal(req.ToolChoice, []byte("null")) {
		c.ToolChoice = req.ToolChoice
	}
	c.Sampling = adapters.Sampling{Temperature: req.Temperature, TopP: req.TopP, MaxTokens: req.MaxTokens,
		Seed: req.Seed, ResponseFormat: nonNull(req.ResponseFormat)}
	if req.MaxCompletionTokens != nil {
		c.Sampling.MaxTokens = req.MaxCompletionTokens
	}
	if stop, err := decodeStop(req.Stop); err != nil {
		return nil, err
	} else {
		c.Sampling.Stop = stop
	}
	switch req.ReasoningEffort {
	case "":
	case "none":
		off := false
		c.Reasoning = &off
	default:
		on := true
		c.Reasoning, c.ReasoningEffort = &on, req.ReasoningEffort
	}
	if fast {
		c.Extra = extra
	} else {
		c.Extra = topFields(body, out)
	}
	return out, nil
}

// messageField names a field of the request's ith message; the names
// are built only for the error that needs one.
func messageField(i int, suffix string) string { return "messages[" + strconv.Itoa(i) + "]" + suffix }

func decodeMessage(i int, m *chatMessage) (adapters.Message, error) {
	var out adapters.Message
	switch m.Role {
	case "system", "developer":
		out.Role = adapters.RoleSystem
	case "user":
		out.Role = adapters.RoleUser
	case "assistant":
		out.Role = adapters.RoleAssistant
	case "tool":
		out.Role = adapters.RoleTool
		if m.ToolCallID == "" {
			return out, adapters.BadField(messageField(i, ".tool_call_id"), "is required for tool messages")
		}
		out.ToolCallID = m.ToolCallID
	case "":
		return out, adapters.BadField(messageField(i, ".role"), "is required")
	default:
		return out, adapters.BadField(messageField(i, ".role"), "must be system, developer, user, assistant or tool, got %q", m.Role)
	}
	out.Name = m.Name
	parts, err := decodeContent(i, m.Content, out.Role == adapters.RoleUser)
	if err != nil {
		return out, err
	}
	out.Parts = parts
	if out.Role == adapters.RoleAssistant {
		for j, tc := range m.ToolCalls {
			if tc.ID == "" || tc.Function.Name == "" {
				return out, adapters.BadField(messageField(i, ".tool_calls["+strconv.Itoa(j)+"]"), "needs an id and a function name")
			}
			out.ToolCalls = append(out.ToolCalls, adapters.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
	}
	if len(out.Parts) == 0 && len(out.ToolCalls) == 0 && out.Role != adapters.RoleAssistant {
		return out, adapters.BadField(messageField(i, ".content"), "is required")
	}
	return out, nil
}

// decodeContent accepts a string, null, or an array of text (and, for user
// messages, image_url) parts: the content of the ith message.
func decodeContent(i int, raw json.RawMessage, images bool) ([]adapters.Part, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		s, err := jsonString(raw)
		if err != nil {
			return nil, adapters.BadField(messageField(i, ".content"), "is not a valid string")
		}
		return []adapters.Part{{Type: adapters.PartText, Text: s}}, nil
	case '[':
	default:
		return nil, adapters.BadField(messageField(i, ".content"), "must be a string or an array of content parts")
	}
	var parts []contentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, adapters.BadField(messageField(i, ".content"), "must be an array of content parts with a type each")
	}
	out := make([]adapters.Part, 0, len(parts))
	for j, p := range parts {
		pf := func(suffix string) string { return messageField(i, ".content["+strconv.Itoa(j)+"]"+suffix) }
		switch p.Type {
		case "text":
			out = append(out, adapters.Part{Type: adapters.PartText, Text: p.Text})
		case "refusal":
			out = append(out, adapters.Part{Type: adapters.PartText, Text: p.Refusal})
		case "image_url":
			if !images {
				return nil, adapters.BadField(pf(".type"), "image parts are only allowed in user messages")
			}
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, adapters.BadField(pf(".image_url.url"), "is required")
			}
			out = append(out, adapters.Part{Type: adapters.PartImage, ImageURL: p.ImageURL.URL, Detail: p.ImageURL.Detail})
		default:
			return nil, adapters.BadField(pf(".type"), "unsupported content part type %q (supported: text, image_url)", p.Type)
		}
	}
	return out, nil
}

// jsonString decodes a JSON string of a body the decoder has validated:
// one without escapes is its bytes as they are (what encoding/json would
// make of it, valid UTF-8 given), others go through encoding/json.
func jsonString(raw []byte) (string, error) {
	if len(raw) >= 2 && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

func decodeStop(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, adapters.BadField("stop", "must be a string or an array of strings")
		}
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, adapters.BadField("stop", "must be a string or an array of strings")
	}
	return list, nil
}

func nonNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil
	}
	return raw
}

// topFields collects the top-level fields agentgate does not interpret,
// to pass them upstream as they came, and notes where the values of
// those the raw lane patches are.
func topFields(body []byte, out *decodedChat) map[string]json.RawMessage {
	var extra map[string]json.RawMessage
	var named uint16
	out.laneSafe = true
	gjson.ParseBytes(body).ForEach(func(k, v gjson.Result) bool {
		if bit, ok := interpreted[k.Str]; ok {
			if named&bit != 0 {
				out.laneSafe = false
			}
			named |= bit
		} else if foldsToInterpreted(k.Str) {
			out.laneSafe = false
		}
		switch k.Str {
		case "model":
			out.modelAt = span{v.Index, len(v.Raw)}
		case "messages":
			out.messagesAt = span{v.Index, len(v.Raw)}
		case "stream_options":
			out.streamOptionsAt = span{v.Index, len(v.Raw)}
		}
		if _, ok := interpreted[k.Str]; !ok {
			if extra == nil {
				extra = map[string]json.RawMessage{}
			}
			extra[k.Str] = json.RawMessage(v.Raw)
		}
		return true
	})
	return extra
}

// foldsToInterpreted reports whether name is an interpreted field's name
// in another case, which encoding/json decodes as that field.
func foldsToInterpreted(name string) bool {
	for f := range interpreted {
		if strings.EqualFold(name, f) {
			return true
		}
	}
	return false
}
