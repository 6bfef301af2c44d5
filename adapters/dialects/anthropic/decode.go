package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/tidwall/gjson"
)

// messagesRequest is a Messages API request body. Fields agentgate does
// not interpret (service_tier, container, context_management, …) are
// accepted and ignored, as SDKs and tools send newer ones than any
// gateway knows.
type messagesRequest struct {
	Model         string          `json:"model"`
	MaxTokens     *int            `json:"max_tokens"`
	Messages      []message       `json:"messages"`
	System        json.RawMessage `json:"system"`
	Stream        bool            `json:"stream"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	TopK          *int            `json:"top_k"`
	StopSequences []string        `json:"stop_sequences"`
	Metadata      *struct {
		UserID *string `json:"user_id"`
	} `json:"metadata"`
	Tools      []tool      `json:"tools"`
	ToolChoice *toolChoice `json:"tool_choice"`
	Thinking   *struct {
		Type         string `json:"type"`
		BudgetTokens *int   `json:"budget_tokens"`
	} `json:"thinking"`
	// CacheControl asks for automatic caching: a breakpoint on the last
	// cacheable block.
	CacheControl json.RawMessage `json:"cache_control"`
}

type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type tool struct {
	Type         string          `json:"type"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	Strict       *bool           `json:"strict"`
	CacheControl json.RawMessage `json:"cache_control"`
}

type toolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
}

// block is any content block; which fields apply depends on Type.
type block struct {
	Type         string          `json:"type"`
	Text         *string         `json:"text"`
	CacheControl json.RawMessage `json:"cache_control"`
	// image, document
	Source  *source `json:"source"`
	Title   string  `json:"title"`
	Context string  `json:"context"`
	// tool_use
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
	// tool_result
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
	// thinking, redacted_thinking
	Thinking  *string `json:"thinking"`
	Signature *string `json:"signature"`
	Data      string  `json:"data"`
}

type source struct {
	Type      string          `json:"type"`
	MediaType string          `json:"media_type"`
	Data      string          `json:"data"`
	URL       string          `json:"url"`
	Content   json.RawMessage `json:"content"`
}

// decoded is a validated Messages request, ready to become a Call once
// its agent is resolved.
type decoded struct {
	model string
	call  adapters.Call
}

// Media types the Messages API accepts.
var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// decodeMessages parses and validates a Messages API body (of POST
// /v1/messages or, with counting set, of /v1/messages/count_tokens, which
// takes no max_tokens). Every failure is an *adapters.Error naming the
// field at fault, in Anthropic's dotted form (messages.0.content.1.source).
func decodeMessages(body []byte, limits dialects.Limits, counting bool) (*decoded, error) {
	var req messagesRequest
	if err := dialects.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	if req.Model == "" {
		return nil, adapters.BadField("model", "Field required: an agent id or name, or a routed model")
	}
	if !counting {
		if req.MaxTokens == nil {
			return nil, adapters.BadField("max_tokens", "Field required")
		}
		if *req.MaxTokens < 1 {
			return nil, adapters.BadField("max_tokens", "must be at least 1")
		}
	}
	if len(req.Messages) == 0 {
		return nil, adapters.BadField("messages", "at least one message is required")
	}
	out := &decoded{model: req.Model}
	c := &out.call
	c.Stream = req.Stream && !counting
	sys, err := decodeSystem(req.System)
	if err != nil {
		return nil, err
	}
	c.Messages = sys
	maxImage := limits.MaxImageBytes
	if maxImage <= 0 {
		maxImage = 5 << 20
	}
	d := messageDecoder{maxImage: maxImage}
	for i := range req.Messages {
		if c.Messages, err = d.message(c.Messages, i, &req.Messages[i]); err != nil {
			return nil, err
		}
	}
	cc, err := cacheControl("", req.CacheControl)
	if err != nil {
		return nil, err
	}
	if cc != nil {
		cacheLast(c.Messages, cc)
	}
	if c.ClientTools, err = decodeTools(req.Tools); err != nil {
		return nil, err
	}
	if err := decodeToolChoice(c, req.ToolChoice); err != nil {
		return nil, err
	}
	c.Sampling = adapters.Sampling{Temperature: req.Temperature, TopP: req.TopP, MaxTokens: req.MaxTokens, Stop: req.StopSequences}
	if req.TopK != nil {
		if *req.TopK < 1 {
			return nil, adapters.BadField("top_k", "must be at least 1")
		}
		c.Sampling.TopK = req.TopK
	}
	for i, s := range req.StopSequences {
		if s == "" {
			return nil, adapters.BadField("stop_sequences."+strconv.Itoa(i), "must not be empty")
		}
	}
	if req.Metadata != nil && req.Metadata.UserID != nil {
		id := *req.Metadata.UserID
		if err := checkUserID(id); err != nil {
			return nil, err
		}
		c.UserID, c.UpstreamUser = id, id
	}
	if t := req.Thinking; t != nil {
		switch t.Type {
		case "enabled":
			if t.BudgetTokens == nil {
				return nil, adapters.BadField("thinking.budget_tokens", "Field required")
			}
			if *t.BudgetTokens < 1024 {
				return nil, adapters.BadField("thinking.budget_tokens", "must be at least 1024")
			}
			if req.MaxTokens != nil && *t.BudgetTokens >= *req.MaxTokens {
				return nil, adapters.BadField("thinking.budget_tokens", "must be less than max_tokens")
			}
			on := true
			c.Reasoning, c.ReasoningBudget = &on, *t.BudgetTokens
		case "adaptive":
			on := true
			c.Reasoning = &on
		case "disabled":
			off := false
			c.Reasoning = &off
		default:
			return nil, adapters.BadField("thinking.type", "must be enabled, adaptive or disabled, got %q", t.Type)
		}
	}
	return out, nil
}

// decodeSystem turns system (a string or text blocks) into system
// messages, one per block so each keeps its cache_control.
func decodeSystem(raw json.RawMessage) ([]adapters.Message, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, adapters.BadField("system", "is not a valid string")
		}
		if s == "" {
			return nil, nil
		}
		return []adapters.Message{adapters.TextMessage(adapters.RoleSystem, s)}, nil
	}
	var blocks []block
	if raw[0] != '[' || json.Unmarshal(raw, &blocks) != nil {
		return nil, adapters.BadField("system", "must be a string or an array of text blocks")
	}
	out := make([]adapters.Message, 0, len(blocks))
	for i := range blocks {
		b := &blocks[i]
		if b.Type != "text" || b.Text == nil {
			return nil, adapters.BadField("system."+strconv.Itoa(i), "must be a text block with text")
		}
		cc, err := cacheControl("system."+strconv.Itoa(i), b.CacheControl)
		if err != nil {
			return nil, err
		}
		out = append(out, adapters.Message{Role: adapters.RoleSystem,
			Parts: []adapters.Part{{Type: adapters.PartText, Text: *b.Text, CacheControl: cc}}})
	}
	return out, nil
}

// cacheLast puts the breakpoint of automatic caching on the last block of
// the last message that has none yet, as Anthropic places it.
func cacheLast(msgs []adapters.Message, cc json.RawMessage) {
	if len(msgs) == 0 {
		return
	}
	m := &msgs[len(msgs)-1]
	switch {
	case m.Role == adapters.RoleTool:
		if m.CacheControl == nil {
			m.CacheControl = cc
		}
	case len(m.ToolCalls) > 0:
		if tc := &m.ToolCalls[len(m.ToolCalls)-1]; tc.CacheControl == nil {
			tc.CacheControl = cc
		}
	case len(m.Parts) > 0:
		if p := &m.Parts[len(m.Parts)-1]; p.CacheControl == nil {
			p.CacheControl = cc
		}
	}
}

// cacheControl checks a cache_control value: absent, null, or an object
// of type ephemeral (with an optional ttl), passed on as it came.
func cacheControl(field string, raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	v := gjson.ParseBytes(raw)
	if !v.IsObject() || v.Get("type").String() != "ephemeral" {
		if field != "" {
			field += "."
		}
		return nil, adapters.BadField(field+"cache_control", `must be {"type":"ephemeral"}`)
	}
	return raw, nil
}

// messageDecoder turns Messages API turns into canonical messages.
type messageDecoder struct {
	maxImage int64
}

// message appends the canonical form of one turn to out. A user turn's
// tool_result blocks become RoleTool messages, in order, followed by one
// user message with its other blocks; an assistant turn becomes one
// assistant message (thinking, text, tool calls), whose thinking blocks
// keep their order, signatures and places (Message.SetReasoning) so an
// Anthropic upstream verifies them as it sent them.
func (d *messageDecoder) message(out []adapters.Message, i int, m *message) ([]adapters.Message, error) {
	field := "messages." + strconv.Itoa(i)
	var role adapters.Role
	switch m.Role {
	case "user":
		role = adapters.RoleUser
	case "assistant":
		role = adapters.RoleAssistant
	case "":
		return nil, adapters.BadField(field+".role", "Field required")
	default:
		return nil, adapters.BadField(field+".role", "must be user or assistant, got %q (the system prompt is the top-level system field)", m.Role)
	}
	raw := bytes.TrimSpace(m.Content)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, adapters.BadField(field+".content", "is not a valid string")
		}
		if s == "" && role == adapters.RoleUser {
			return nil, adapters.BadField(field+".content", "must not be empty")
		}
		return append(out, adapters.TextMessage(role, s)), nil
	}
	var blocks []block
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &blocks) != nil {
		return nil, adapters.BadField(field+".content", "must be a string or an array of content blocks")
	}
	if len(blocks) == 0 && role == adapters.RoleUser {
		return nil, adapters.BadField(field+".content", "must not be empty")
	}
	msg := adapters.Message{Role: role}
	// thoughts are the thinking blocks, each at the text parts before it;
	// callsBefore counts the tool_use blocks before each.
	var thoughts []adapters.ReasoningBlock
	var callsBefore []int
	for j := range blocks {
		b := &blocks[j]
		bf := field + ".content." + strconv.Itoa(j)
		cc, err := cacheControl(bf, b.CacheControl)
		if err != nil {
			return nil, err
		}
		switch b.Type {
		case "text":
			if b.Text == nil {
				return nil, adapters.BadField(bf+".text", "Field required")
			}
			msg.Parts = append(msg.Parts, adapters.Part{Type: adapters.PartText, Text: *b.Text, CacheControl: cc})
		case "image", "document":
			if role != adapters.RoleUser {
				return nil, adapters.BadField(bf+".type", "%s blocks are only allowed in user messages", b.Type)
			}
			var p adapters.Part
			if b.Type == "image" {
				p, err = d.image(bf, b.Source)
			} else {
				p, err = document(bf, b)
			}
			if err != nil {
				return nil, err
			}
			p.CacheControl = cc
			msg.Parts = append(msg.Parts, p)
		case "tool_use":
			if role != adapters.RoleAssistant {
				return nil, adapters.BadField(bf+".type", "tool_use blocks are only allowed in assistant messages")
			}
			if b.ID == "" || b.Name == "" {
				return nil, adapters.BadField(bf, "a tool_use block needs an id and a name")
			}
			input := bytes.TrimSpace(b.Input)
			if len(input) == 0 || input[0] != '{' {
				return nil, adapters.BadField(bf+".input", "must be an object")
			}
			msg.ToolCalls = append(msg.ToolCalls, adapters.ToolCall{ID: b.ID, Name: b.Name, Arguments: string(input), CacheControl: cc})
		case "tool_result":
			if role != adapters.RoleUser {
				return nil, adapters.BadField(bf+".type", "tool_result blocks are only allowed in user messages")
			}
			tm, err := d.toolResult(bf, b)
			if err != nil {
				return nil, err
			}
			tm.CacheControl = cc
			out = append(out, tm)
		case "thinking":
			if role != adapters.RoleAssistant {
				return nil, adapters.BadField(bf+".type", "thinking blocks are only allowed in assistant messages")
			}
			if b.Thinking == nil || b.Signature == nil {
				return nil, adapters.BadField(bf, "a thinking block needs thinking and signature")
			}
			thoughts = append(thoughts, adapters.ReasoningBlock{Text: *b.Thinking, Signature: *b.Signature, At: len(msg.Parts)})
			callsBefore = append(callsBefore, len(msg.ToolCalls))
		case "redacted_thinking":
			if role != adapters.RoleAssistant {
				return nil, adapters.BadField(bf+".type", "redacted_thinking blocks are only allowed in assistant messages")
			}
			if b.Data == "" {
				return nil, adapters.BadField(bf+".data", "Field required")
			}
			thoughts = append(thoughts, adapters.ReasoningBlock{Redacted: b.Data, At: len(msg.Parts)})
			callsBefore = append(callsBefore, len(msg.ToolCalls))
		case "":
			return nil, adapters.BadField(bf+".type", "Field required")
		default:
			return nil, adapters.BadField(bf+".type", "unsupported content block type %q (supported: text, image, document, tool_use, tool_result, thinking, redacted_thinking)", b.Type)
		}
	}
	// A place counts the message's text parts, then its calls: the turn
	// goes back upstream so, text after a tool_use before it. A block
	// after a tool_use stays after it, behind all the text.
	for k, calls := range callsBefore {
		if calls > 0 {
			thoughts[k].At = len(msg.Parts) + calls
		}
	}
	msg.SetReasoning(thoughts)
	if role == adapters.RoleUser && len(msg.Parts) == 0 {
		return out, nil // only tool results
	}
	return append(out, msg), nil
}

// image decodes an image block's source into an image part: base64 data
// becomes a data: URL, a url source stays a URL.
func (d *messageDecoder) image(field string, s *source) (adapters.Part, error) {
	if s == nil {
		return adapters.Part{}, adapters.BadField(field+".source", "Field required")
	}
	switch s.Type {
	case "base64":
		if !imageTypes[s.MediaType] {
			return adapters.Part{}, adapters.BadField(field+".source.media_type", "must be image/jpeg, image/png, image/gif or image/webp, got %q", s.MediaType)
		}
		if s.Data == "" {
			return adapters.Part{}, adapters.BadField(field+".source.data", "Field required")
		}
		if n := base64.StdEncoding.DecodedLen(len(s.Data)); int64(n) > d.maxImage {
			return adapters.Part{}, &adapters.Error{Kind: adapters.KindTooLarge, Code: "request_too_large", Param: field + ".source.data",
				Message: field + ".source.data: image exceeds " + strconv.FormatInt(d.maxImage, 10) + " bytes"}
		}
		return adapters.Part{Type: adapters.PartImage, ImageURL: "data:" + s.MediaType + ";base64," + s.Data}, nil
	case "url":
		if !strings.HasPrefix(s.URL, "https://") && !strings.HasPrefix(s.URL, "http://") {
			return adapters.Part{}, adapters.BadField(field+".source.url", "must be an http(s) URL")
		}
		return adapters.Part{Type: adapters.PartImage, ImageURL: s.URL}, nil
	}
	return adapters.Part{}, adapters.BadField(field+".source.type", "must be base64 or url, got %q", s.Type)
}

// document decodes a document block: a base64 PDF, a PDF by URL, plain
// text, or content blocks of text (joined as plain text).
func document(field string, b *block) (adapters.Part, error) {
	s := b.Source
	if s == nil {
		return adapters.Part{}, adapters.BadField(field+".source", "Field required")
	}
	p := adapters.Part{Type: adapters.PartDocument, Title: b.Title, Context: b.Context}
	switch s.Type {
	case "base64":
		if s.MediaType != "application/pdf" {
			return p, adapters.BadField(field+".source.media_type", "must be application/pdf, got %q", s.MediaType)
		}
		if s.Data == "" {
			return p, adapters.BadField(field+".source.data", "Field required")
		}
		p.MediaType, p.Data = s.MediaType, s.Data
	case "url":
		if !strings.HasPrefix(s.URL, "https://") && !strings.HasPrefix(s.URL, "http://") {
			return p, adapters.BadField(field+".source.url", "must be an http(s) URL")
		}
		p.MediaType, p.URL = "application/pdf", s.URL
	case "text":
		if s.MediaType != "" && s.MediaType != "text/plain" {
			return p, adapters.BadField(field+".source.media_type", "must be text/plain, got %q", s.MediaType)
		}
		p.MediaType, p.Text = "text/plain", s.Data
	case "content":
		parts, err := textBlocks(field+".source.content", s.Content)
		if err != nil {
			return p, err
		}
		p.MediaType, p.Text = "text/plain", joinText(parts, "\n\n")
	case "file":
		return p, adapters.BadField(field+".source.type", "file sources (the Files API) are not supported: send the document as base64, text or a URL")
	default:
		return p, adapters.BadField(field+".source.type", "must be base64, url, text or content, got %q", s.Type)
	}
	return p, nil
}

// toolResult decodes a tool_result block into a RoleTool message: its
// content (a string, or text, image and document blocks) and is_error.
func (d *messageDecoder) toolResult(field string, b *block) (adapters.Message, error) {
	m := adapters.Message{Role: adapters.RoleTool, ToolCallID: b.ToolUseID, IsError: b.IsError}
	if b.ToolUseID == "" {
		return m, adapters.BadField(field+".tool_use_id", "Field required")
	}
	raw := bytes.TrimSpace(b.Content)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return m, adapters.BadField(field+".content", "is not a valid string")
		}
		m.Parts = []adapters.Part{{Type: adapters.PartText, Text: s}}
	case raw[0] == '[':
		var blocks []block
		if err := json.Unmarshal(raw, &blocks); err != nil {
			return m, adapters.BadField(field+".content", "must be a string or an array of content blocks")
		}
		for k := range blocks {
			c := &blocks[k]
			cf := field + ".content." + strconv.Itoa(k)
			cc, err := cacheControl(cf, c.CacheControl)
			if err != nil {
				return m, err
			}
			var p adapters.Part
			switch c.Type {
			case "text":
				if c.Text == nil {
					return m, adapters.BadField(cf+".text", "Field required")
				}
				p = adapters.Part{Type: adapters.PartText, Text: *c.Text}
			case "image":
				if p, err = d.image(cf, c.Source); err != nil {
					return m, err
				}
			case "document":
				if p, err = document(cf, c); err != nil {
					return m, err
				}
			default:
				return m, adapters.BadField(cf+".type", "tool results hold text, image or document blocks, got %q", c.Type)
			}
			p.CacheControl = cc
			m.Parts = append(m.Parts, p)
		}
	default:
		return m, adapters.BadField(field+".content", "must be a string or an array of content blocks")
	}
	return m, nil
}

// textBlocks decodes a string or an array of text blocks.
func textBlocks(field string, raw json.RawMessage) ([]adapters.Part, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, adapters.BadField(field, "is not a valid string")
		}
		return []adapters.Part{{Type: adapters.PartText, Text: s}}, nil
	}
	var blocks []block
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &blocks) != nil {
		return nil, adapters.BadField(field, "must be a string or an array of text blocks")
	}
	out := make([]adapters.Part, 0, len(blocks))
	for i := range blocks {
		if blocks[i].Type != "text" || blocks[i].Text == nil {
			return nil, adapters.BadField(field+"."+strconv.Itoa(i), "must be a text block")
		}
		out = append(out, adapters.Part{Type: adapters.PartText, Text: *blocks[i].Text})
	}
	return out, nil
}

func joinText(parts []adapters.Part, sep string) string {
	texts := make([]string, len(parts))
	for i := range parts {
		texts[i] = parts[i].Text
	}
	return strings.Join(texts, sep)
}

// decodeTools accepts custom tools (no type, or type "custom") with an
// input_schema. Anthropic-defined and server tools (bash_20250124,
// web_search_20250305, …) run on Anthropic's side or need its built-in
// schemas, which no other upstream has: a 400 naming the tool.
func decodeTools(tools []tool) ([]adapters.Tool, error) {
	if len(tools) == 0 {
		return nil, nil
	}
	out := make([]adapters.Tool, 0, len(tools))
	seen := make(map[string]bool, len(tools))
	for i := range tools {
		t := &tools[i]
		f := "tools." + strconv.Itoa(i)
		if t.Type != "" && t.Type != "custom" {
			return nil, adapters.BadField(f+".type", "tool type %q is an Anthropic-defined or server tool, which agentgate does not run; declare a custom tool with an input_schema", t.Type)
		}
		if t.Name == "" {
			return nil, adapters.BadField(f+".name", "Field required")
		}
		if seen[t.Name] {
			return nil, adapters.BadField(f+".name", "tool names must be unique, %q repeats", t.Name)
		}
		seen[t.Name] = true
		schema := bytes.TrimSpace(t.InputSchema)
		if len(schema) == 0 || schema[0] != '{' {
			return nil, adapters.BadField(f+".input_schema", "Field required: a JSON Schema object")
		}
		cc, err := cacheControl(f, t.CacheControl)
		if err != nil {
			return nil, err
		}
		out = append(out, adapters.Tool{Name: t.Name, Description: t.Description, Parameters: schema, Strict: t.Strict, CacheControl: cc})
	}
	return out, nil
}

// decodeToolChoice sets the call's tool choice in the canonical (OpenAI)
// form: auto, any → required, none, tool → a named function;
// disable_parallel_tool_use becomes parallel_tool_calls: false, which
// every provider reads.
func decodeToolChoice(c *adapters.Call, tc *toolChoice) error {
	if tc == nil {
		return nil
	}
	switch tc.Type {
	case "auto":
		c.ToolChoice = json.RawMessage(`"auto"`)
	case "any":
		c.ToolChoice = json.RawMessage(`"required"`)
	case "none":
		c.ToolChoice = json.RawMessage(`"none"`)
	case "tool":
		if tc.Name == "" {
			return adapters.BadField("tool_choice.name", "Field required for tool_choice of type tool")
		}
		b := append([]byte(`{"type":"function","function":{"name":`), dialects.AppendString(nil, tc.Name)...)
		c.ToolChoice = append(b, "}}"...)
	default:
		return adapters.BadField("tool_choice.type", "must be auto, any, tool or none, got %q", tc.Type)
	}
	if tc.DisableParallelToolUse && tc.Type != "none" {
		c.Extra = map[string]json.RawMessage{"parallel_tool_calls": json.RawMessage("false")}
	}
	return nil
}

// maxUserIDChars bounds metadata.user_id, as Anthropic bounds it.
const maxUserIDChars = 256

// checkUserID accepts a metadata.user_id Anthropic would: at most 256
// characters, and printable, since it is kept as it came (it names the
// end user whose memories an agent keeps, and goes to the upstream's
// user field).
func checkUserID(id string) error {
	if n := utf8.RuneCountInString(id); n > maxUserIDChars {
		return adapters.BadField("metadata.user_id", "must be at most %d characters, not %d", maxUserIDChars, n)
	}
	for i, r := range id {
		if !unicode.IsPrint(r) {
			return adapters.BadField("metadata.user_id", "must be printable text (%U at byte %d is not)", r, i)
		}
	}
	return nil
}
