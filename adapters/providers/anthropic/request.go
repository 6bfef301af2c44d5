package anthropic

import (
	"math"
	"strconv"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/wire"
	"github.com/agentgate/agentgate/internal/jsonx"
	"github.com/agentgate/agentgate/internal/validjson"
	"github.com/tidwall/gjson"
)

// Token defaults.
const (
	// DefaultMaxTokens is max_tokens when the request sets none (Anthropic
	// requires one). With thinking on, the thinking budget is added to it.
	DefaultMaxTokens = 4096
	// MinThinkingBudget is the smallest budget_tokens Anthropic accepts.
	MinThinkingBudget = 1024
	// minThinkingTopP is the lowest top_p Anthropic accepts with thinking.
	minThinkingTopP = 0.95
)

// effortBudgets maps a reasoning effort to budget_tokens; other efforts
// (and none given) get medium's.
var effortBudgets = map[string]int{
	"minimal": MinThinkingBudget,
	"low":     MinThinkingBudget,
	"medium":  4096,
	"high":    16000,
	"xhigh":   32000,
}

// toolChoice is a tool_choice decoded from its OpenAI (or Anthropic) form.
type toolChoice struct {
	typ  string // auto, none, any, tool; empty: the upstream default
	name string // for tool
}

func (c toolChoice) forcesTool() bool { return c.typ == "any" || c.typ == "tool" }

// parseToolChoice accepts "auto", "none", "required",
// {"type":"function","function":{"name":…}} and Anthropic's own
// {"type":"auto"|"any"|"none"|"tool","name":…}.
func parseToolChoice(raw []byte) (toolChoice, error) {
	if wire.IsNullOrEmpty(raw) {
		return toolChoice{}, nil
	}
	if !validjson.Bytes(raw) {
		return toolChoice{}, adapters.BadField("tool_choice", "not valid JSON")
	}
	v := gjson.ParseBytes(raw)
	switch {
	case v.Type == gjson.String:
		switch v.Str {
		case "auto", "none":
			return toolChoice{typ: v.Str}, nil
		case "required", "any":
			return toolChoice{typ: "any"}, nil
		}
	case v.IsObject():
		switch typ := v.Get("type").String(); typ {
		case "function":
			if name := v.Get("function.name").String(); name != "" {
				return toolChoice{typ: "tool", name: name}, nil
			}
		case "tool":
			if name := v.Get("name").String(); name != "" {
				return toolChoice{typ: "tool", name: name}, nil
			}
		case "auto", "none", "any":
			return toolChoice{typ: typ}, nil
		}
	}
	return toolChoice{}, adapters.BadField("tool_choice", "must be auto, none, required or a function")
}

// requestOptions are the provider settings that shape request bodies.
type requestOptions struct {
	// defMaxTokens replaces DefaultMaxTokens when positive.
	defMaxTokens int
	// adaptive sends thinking as {"type":"adaptive"} with
	// output_config.effort, as Claude Opus 4.7 and later require, instead
	// of {"type":"enabled","budget_tokens":…}.
	adaptive bool
}

// plan is what buildBody decides before writing anything.
type plan struct {
	maxTokens int
	thinking  bool
	budget    int    // budget_tokens (enabled mode)
	effort    string // output_config.effort (adaptive mode); may be empty
	choice    toolChoice
}

// adaptiveEfforts maps a reasoning effort to output_config.effort.
var adaptiveEfforts = map[string]string{
	"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "max",
}

// planRequest settles max_tokens, thinking and tool_choice, which depend
// on each other:
//
//   - thinking is on when req.Reasoning is set (effort "none" without a
//     budget turns it off), with budget_tokens = Reasoning.BudgetTokens or
//     the effort's budget (minimal and low 1024, medium or unknown 4096,
//     high 16000, xhigh 32000), at least 1024. In adaptive mode the effort
//     goes to output_config.effort instead and BudgetTokens only sizes the
//     default max_tokens;
//   - Anthropic rejects budgeted thinking with a forced tool (tool_choice
//     any or tool): the explicit tool choice wins and thinking is dropped
//     (adaptive thinking allows forced tools);
//   - Anthropic rejects a tool-use loop continued with thinking on unless
//     the assistant turn that called the tools starts with its signed
//     thinking block; when the history lacks it (a client of the OpenAI
//     surface cannot carry signatures), thinking is dropped for the rest
//     of that loop rather than failing the call;
//   - max_tokens is req.MaxTokens, or DefaultMaxTokens plus the budget. It
//     must exceed budget_tokens: an effort-derived budget is lowered to
//     half of max_tokens (never under 1024); an explicit budget that does
//     not fit is a 400, as is max_tokens ≤ 1024 with budgeted thinking on.
func planRequest(req *adapters.Request, o requestOptions) (plan, error) {
	var p plan
	var err error
	if len(req.Tools) > 0 {
		if p.choice, err = parseToolChoice(req.ToolChoice); err != nil {
			return p, err
		}
	}
	explicit := false
	if r := req.Reasoning; r != nil && !(r.Effort == "none" && r.BudgetTokens <= 0) {
		p.thinking = true
		p.budget, explicit = r.BudgetTokens, r.BudgetTokens > 0
		if !explicit {
			b, ok := effortBudgets[r.Effort]
			if !ok {
				b = effortBudgets["medium"]
			}
			p.budget = b
		}
		p.budget = max(p.budget, MinThinkingBudget)
		if o.adaptive {
			p.effort = adaptiveEfforts[r.Effort]
		}
		if (!o.adaptive && p.choice.forcesTool()) || unsignedToolLoop(req.Messages) {
			p.thinking, p.budget, p.effort, explicit = false, 0, "", false
		}
	}
	if mt := req.MaxTokens; mt != nil {
		if *mt <= 0 {
			return p, adapters.BadField("max_tokens", "must be positive")
		}
		p.maxTokens = *mt
		if p.thinking && !o.adaptive && p.budget >= p.maxTokens {
			if explicit {
				return p, adapters.BadField("max_tokens", "must be greater than the thinking budget (%d tokens)", p.budget)
			}
			p.budget = max(p.maxTokens/2, MinThinkingBudget)
			if p.budget >= p.maxTokens {
				return p, adapters.BadField("max_tokens", "must be greater than %d with reasoning on (Anthropic's minimum thinking budget)", MinThinkingBudget)
			}
		}
	} else {
		def := o.defMaxTokens
		if def <= 0 {
			def = DefaultMaxTokens
		}
		p.maxTokens = def + p.budget
	}
	return p, nil
}

// unsignedToolLoop reports whether msgs end inside a tool-use loop (the
// last assistant message called tools and only tool results follow it)
// whose assistant message carries no signed thinking.
func unsignedToolLoop(msgs []adapters.Message) bool {
	sawResult := false
	for i := len(msgs) - 1; i >= 0; i-- {
		m := &msgs[i]
		switch m.Role {
		case adapters.RoleTool:
			sawResult = true
		case adapters.RoleSystem:
		case adapters.RoleAssistant:
			return sawResult && len(m.ToolCalls) > 0 && m.ReasoningSignature == "" && len(m.RedactedReasoning) == 0
		default:
			return false
		}
	}
	return false
}

// turnRole is the Messages API role a canonical message is sent in, or ""
// for messages that are not sent as messages (system) or contribute no
// content block (Anthropic rejects empty content and empty text blocks).
func turnRole(m *adapters.Message) string {
	switch m.Role {
	case adapters.RoleUser:
		for i := range m.Parts {
			if p := &m.Parts[i]; p.Text != "" || (p.Type == adapters.PartImage && p.ImageURL != "") || p.Type == adapters.PartDocument {
				return "user"
			}
		}
	case adapters.RoleTool:
		return "user"
	case adapters.RoleAssistant:
		if m.ReasoningSignature != "" || len(m.RedactedReasoning) > 0 || len(m.ReasoningBlocks) > 0 || len(m.ToolCalls) > 0 {
			return "assistant"
		}
		for i := range m.Parts {
			if p := &m.Parts[i]; p.Type != adapters.PartImage && p.Text != "" {
				return "assistant"
			}
		}
	}
	return ""
}

// buildBody encodes req as a Messages API request body, appending to dst.
// Keys are written in a fixed order (model, max_tokens, system, messages,
// tools, tool_choice, temperature, top_p, top_k, stop_sequences, thinking,
// output_config, metadata, stream) so equal requests give equal bytes.
//
// Seed, ResponseFormat and Extra have no Messages API equivalent and are
// not sent, except Extra's parallel_tool_calls:false, which becomes
// tool_choice.disable_parallel_tool_use.
func buildBody(dst []byte, req *adapters.Request, o requestOptions) ([]byte, error) {
	for i := range req.Messages {
		switch req.Messages[i].Role {
		case adapters.RoleSystem, adapters.RoleUser, adapters.RoleAssistant, adapters.RoleTool:
		default:
			return dst, adapters.BadField("messages", "unsupported role %q", req.Messages[i].Role)
		}
	}
	p, err := planRequest(req, o)
	if err != nil {
		return dst, err
	}
	b := dst
	b = append(b, `{"model":`...)
	b = jsonx.AppendStringJS(b, req.Model)
	b = append(b, `,"max_tokens":`...)
	b = strconv.AppendInt(b, int64(p.maxTokens), 10)
	b = appendSystem(b, req)

	b = append(b, `,"messages":[`...)
	msgs := req.Messages
	first := true
	for i := 0; i < len(msgs); {
		role := turnRole(&msgs[i])
		if role == "" {
			i++
			continue
		}
		// The turn runs over every following message of the same role;
		// messages sent as nothing (system, empty) do not interrupt it.
		j, end := i+1, i+1
		for ; j < len(msgs); j++ {
			r := turnRole(&msgs[j])
			if r == "" {
				continue
			}
			if r != role {
				break
			}
			end = j + 1
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		if b, err = appendTurn(b, role, msgs[i:end]); err != nil {
			return dst, err
		}
		i = end
	}
	b = append(b, ']')

	if len(req.Tools) > 0 {
		if b, err = appendTools(b, req.Tools); err != nil {
			return dst, err
		}
		noParallel := string(req.Extra["parallel_tool_calls"]) == "false"
		if p.choice.typ != "" || noParallel {
			typ := p.choice.typ
			if typ == "" {
				typ = "auto"
			}
			b = append(b, `,"tool_choice":{"type":`...)
			b = jsonx.AppendStringJS(b, typ)
			if typ == "tool" {
				b = append(b, `,"name":`...)
				b = jsonx.AppendStringJS(b, p.choice.name)
			}
			if noParallel && typ != "none" {
				b = append(b, `,"disable_parallel_tool_use":true`...)
			}
			b = append(b, '}')
		}
	}

	s := &req.Sampling
	// Anthropic rejects temperature with thinking, and top_p below 0.95.
	if s.Temperature != nil {
		if !wire.Finite(*s.Temperature) {
			return dst, adapters.BadField("temperature", "must be a finite number")
		}
		if !p.thinking {
			b = append(b, `,"temperature":`...)
			b = wire.AppendFloat(b, *s.Temperature)
		}
	}
	if s.TopP != nil {
		if !wire.Finite(*s.TopP) {
			return dst, adapters.BadField("top_p", "must be a finite number")
		}
		if !p.thinking || *s.TopP >= minThinkingTopP {
			b = append(b, `,"top_p":`...)
			b = wire.AppendFloat(b, *s.TopP)
		}
	}
	if s.TopK != nil {
		if *s.TopK <= 0 {
			return dst, adapters.BadField("top_k", "must be a positive integer")
		}
		b = append(b, `,"top_k":`...)
		b = strconv.AppendInt(b, int64(*s.TopK), 10)
	}
	if len(s.Stop) > 0 {
		b = append(b, `,"stop_sequences":`...)
		b = wire.AppendStrings(b, s.Stop)
	}
	switch {
	case p.thinking && o.adaptive:
		b = append(b, `,"thinking":{"type":"adaptive"}`...)
		if p.effort != "" {
			b = append(b, `,"output_config":{"effort":`...)
			b = jsonx.AppendStringJS(b, p.effort)
			b = append(b, '}')
		}
	case p.thinking:
		b = append(b, `,"thinking":{"type":"enabled","budget_tokens":`...)
		b = strconv.AppendInt(b, int64(p.budget), 10)
		b = append(b, '}')
	}
	if req.User != "" {
		b = append(b, `,"metadata":{"user_id":`...)
		b = jsonx.AppendStringJS(b, req.User)
		b = append(b, '}')
	}
	if req.Stream {
		b = append(b, `,"stream":true`...)
	}
	return append(b, '}'), nil
}

// appendSystem writes the top-level system prompt: req.System and the text
// of every system message, in order, separated by blank lines — or, when a
// system part carries a cache_control breakpoint, as text blocks (one per
// part) so the breakpoints reach the upstream.
func appendSystem(b []byte, req *adapters.Request) []byte {
	if systemCached(req.Messages) {
		return appendSystemBlocks(b, req)
	}
	n := 0
	if req.System != "" {
		n++
	}
	for i := range req.Messages {
		if req.Messages[i].Role == adapters.RoleSystem && req.Messages[i].Text() != "" {
			n++
		}
	}
	if n == 0 {
		return b
	}
	b = append(b, `,"system":`...)
	if n == 1 && req.System != "" {
		return jsonx.AppendStringJS(b, req.System)
	}
	var sb strings.Builder
	if req.System != "" {
		sb.WriteString(req.System)
	}
	for i := range req.Messages {
		m := &req.Messages[i]
		if m.Role != adapters.RoleSystem {
			continue
		}
		if t := m.Text(); t != "" {
			if sb.Len() > 0 {
				sb.WriteString("\n\n")
			}
			sb.WriteString(t)
		}
	}
	return jsonx.AppendStringJS(b, sb.String())
}

func systemCached(msgs []adapters.Message) bool {
	for i := range msgs {
		if msgs[i].Role != adapters.RoleSystem {
			continue
		}
		for j := range msgs[i].Parts {
			if len(msgs[i].Parts[j].CacheControl) > 0 {
				return true
			}
		}
	}
	return false
}

// appendSystemBlocks writes the system prompt as text blocks: req.System,
// then every text part of the system messages with its cache_control.
func appendSystemBlocks(b []byte, req *adapters.Request) []byte {
	b = append(b, `,"system":[`...)
	n := 0
	if req.System != "" {
		b = sep(b, &n)
		b = append(b, `{"type":"text","text":`...)
		b = jsonx.AppendStringJS(b, req.System)
		b = append(b, '}')
	}
	for i := range req.Messages {
		if m := &req.Messages[i]; m.Role == adapters.RoleSystem {
			for j := range m.Parts {
				if p := &m.Parts[j]; p.Text != "" {
					b = sep(b, &n)
					b = append(b, `{"type":"text","text":`...)
					b = jsonx.AppendStringJS(b, p.Text)
					b = appendCacheControl(b, p.CacheControl)
					b = append(b, '}')
				}
			}
		}
	}
	return append(b, ']')
}

// appendCacheControl writes a cache_control member when cc is a JSON
// object (a prompt-cache breakpoint the client set).
func appendCacheControl(b []byte, cc []byte) []byte {
	if len(cc) == 0 || !validjson.Bytes(cc) || !gjson.ParseBytes(cc).IsObject() {
		return b
	}
	b = append(b, `,"cache_control":`...)
	return wire.AppendRaw(b, cc)
}

// appendTurn writes one message of role made of msgs (the messages that
// are not sent as turns, system or empty, are skipped). A user turn puts
// its tool_result blocks first, as Anthropic requires; an assistant turn
// puts its thinking first.
func appendTurn(b []byte, role string, msgs []adapters.Message) ([]byte, error) {
	b = append(b, `{"role":`...)
	b = jsonx.AppendStringJS(b, role)
	b = append(b, `,"content":[`...)
	n := 0
	var err error
	if role == "user" {
		for i := range msgs {
			if m := &msgs[i]; m.Role == adapters.RoleTool {
				if b, err = appendToolResult(b, &n, m); err != nil {
					return b, err
				}
			}
		}
		for i := range msgs {
			if m := &msgs[i]; m.Role == adapters.RoleUser {
				if b, err = appendParts(b, &n, m.Parts, true); err != nil {
					return b, err
				}
			}
		}
		return append(b, "]}"...), nil
	}
	if blocksKept(msgs) {
		for i := range msgs {
			if m := &msgs[i]; m.Role == adapters.RoleAssistant {
				b = appendAssistantInPlace(b, &n, m)
			}
		}
		return append(b, "]}"...), nil
	}
	for i := range msgs {
		if m := &msgs[i]; m.Role == adapters.RoleAssistant {
			b = appendThinking(b, &n, m)
		}
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Role != adapters.RoleAssistant {
			continue
		}
		// Assistant messages cannot hold images (nor fail without them).
		b, _ = appendParts(b, &n, m.Parts, false)
		for j := range m.ToolCalls {
			b = appendToolUse(b, &n, &m.ToolCalls[j])
		}
	}
	return append(b, "]}"...), nil
}

// blocksKept reports whether a message of msgs keeps its thinking blocks
// one by one (Message.ReasoningBlocks).
func blocksKept(msgs []adapters.Message) bool {
	for i := range msgs {
		if len(msgs[i].ReasoningBlocks) > 0 {
			return true
		}
	}
	return false
}

// appendThinking writes an assistant message's thinking as one signed
// thinking block and its redacted blocks. Thinking without a signature is
// not sent: Anthropic would reject it, and other upstreams' thoughts are
// not Anthropic's to verify.
func appendThinking(b []byte, n *int, m *adapters.Message) []byte {
	if m.ReasoningSignature != "" {
		b = appendThinkingBlock(b, n, m.Reasoning, m.ReasoningSignature)
	}
	for _, data := range m.RedactedReasoning {
		b = appendRedacted(b, n, data)
	}
	return b
}

// appendAssistantInPlace writes an assistant message's content with each
// of its thinking blocks where it came (ReasoningBlock.At) among its text
// and tool_use blocks; a message without ReasoningBlocks has its thinking
// first.
func appendAssistantInPlace(b []byte, n *int, m *adapters.Message) []byte {
	if len(m.ReasoningBlocks) == 0 {
		b = appendThinking(b, n, m)
	}
	next := 0 // the next reasoning block
	thoughtsAt := func(at int) {
		for ; next < len(m.ReasoningBlocks) && m.ReasoningBlocks[next].At <= at; next++ {
			rb := &m.ReasoningBlocks[next]
			switch {
			case rb.Redacted != "":
				b = appendRedacted(b, n, rb.Redacted)
			case rb.Signature != "":
				b = appendThinkingBlock(b, n, rb.Text, rb.Signature)
			}
		}
	}
	for k := range m.Parts {
		thoughtsAt(k)
		b, _ = appendParts(b, n, m.Parts[k:k+1], false)
	}
	for k := range m.ToolCalls {
		thoughtsAt(len(m.Parts) + k)
		b = appendToolUse(b, n, &m.ToolCalls[k])
	}
	thoughtsAt(math.MaxInt)
	return b
}

func appendThinkingBlock(b []byte, n *int, thinking, signature string) []byte {
	b = sep(b, n)
	b = append(b, `{"type":"thinking","thinking":`...)
	b = jsonx.AppendStringJS(b, thinking)
	b = append(b, `,"signature":`...)
	b = jsonx.AppendStringJS(b, signature)
	return append(b, '}')
}

func appendRedacted(b []byte, n *int, data string) []byte {
	b = sep(b, n)
	b = append(b, `{"type":"redacted_thinking","data":`...)
	b = jsonx.AppendStringJS(b, data)
	return append(b, '}')
}

func appendToolUse(b []byte, n *int, tc *adapters.ToolCall) []byte {
	b = sep(b, n)
	b = append(b, `{"type":"tool_use","id":`...)
	b = jsonx.AppendStringJS(b, tc.ID)
	b = append(b, `,"name":`...)
	b = jsonx.AppendStringJS(b, tc.Name)
	b = append(b, `,"input":`...)
	b = appendInput(b, tc.Arguments)
	b = appendCacheControl(b, tc.CacheControl)
	return append(b, '}')
}

// sep writes the comma before every block but the first.
func sep(b []byte, n *int) []byte {
	if *n > 0 {
		b = append(b, ',')
	}
	*n++
	return b
}

// appendInput writes tool call arguments as the JSON object Anthropic
// wants; arguments that are not one (invalid JSON from a model) become {}.
func appendInput(b []byte, args string) []byte {
	if !validjson.String(args) || !gjson.Parse(args).IsObject() {
		return append(b, "{}"...)
	}
	return wire.AppendRaw(b, []byte(args))
}

// appendParts writes text parts as text blocks (empty ones are dropped:
// Anthropic rejects them) and, when media is set, image and document
// parts as image and document blocks; each with its cache_control.
func appendParts(b []byte, n *int, parts []adapters.Part, media bool) ([]byte, error) {
	for i := range parts {
		p := &parts[i]
		var err error
		switch {
		case p.Type == adapters.PartImage:
			if !media || p.ImageURL == "" {
				continue
			}
			b = sep(b, n)
			b, err = appendImage(b, p.ImageURL)
		case p.Type == adapters.PartDocument:
			if !media {
				continue
			}
			b = sep(b, n)
			b, err = appendDocument(b, p)
		case p.Text == "":
			continue
		default:
			b = sep(b, n)
			b = append(b, `{"type":"text","text":`...)
			b = jsonx.AppendStringJS(b, p.Text)
			b = append(b, '}')
		}
		if err != nil {
			return b, err
		}
		if len(p.CacheControl) > 0 { // inside the block's closing brace
			b = append(appendCacheControl(b[:len(b)-1], p.CacheControl), '}')
		}
	}
	return b, nil
}

// appendDocument writes a document block: a base64 PDF, a PDF by URL or a
// plain-text source, with title and context.
func appendDocument(b []byte, p *adapters.Part) ([]byte, error) {
	b = append(b, `{"type":"document","source":`...)
	switch {
	case p.URL != "":
		b = append(b, `{"type":"url","url":`...)
		b = jsonx.AppendStringJS(b, p.URL)
	case p.MediaType == "text/plain":
		b = append(b, `{"type":"text","media_type":"text/plain","data":`...)
		b = jsonx.AppendStringJS(b, p.Text)
	case p.Data != "":
		b = append(b, `{"type":"base64","media_type":`...)
		b = jsonx.AppendStringJS(b, p.MediaType)
		b = append(b, `,"data":`...)
		b = jsonx.AppendStringJS(b, p.Data)
	default:
		return b, adapters.BadField("messages", "a document needs data, a URL or text")
	}
	b = append(b, '}')
	if p.Title != "" {
		b = append(b, `,"title":`...)
		b = jsonx.AppendStringJS(b, p.Title)
	}
	if p.Context != "" {
		b = append(b, `,"context":`...)
		b = jsonx.AppendStringJS(b, p.Context)
	}
	return append(b, '}'), nil
}

// appendImage writes an image block: a base64 source for a data: URL, a
// url source for an http(s) URL.
func appendImage(b []byte, u string) ([]byte, error) {
	if rest, ok := cutPrefixFold(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mediaType, isBase64 := strings.CutSuffix(meta, ";base64")
		if i := strings.IndexByte(mediaType, ';'); i >= 0 {
			mediaType = mediaType[:i] // parameters such as charset
		}
		if !ok || !isBase64 || mediaType == "" {
			return b, adapters.BadField("messages", "image data URLs must be data:<media type>;base64,<data>")
		}
		b = append(b, `{"type":"image","source":{"type":"base64","media_type":`...)
		b = jsonx.AppendStringJS(b, strings.ToLower(mediaType))
		b = append(b, `,"data":`...)
		b = jsonx.AppendStringJS(b, data)
		return append(b, "}}"...), nil
	}
	if _, ok := cutPrefixFold(u, "https://"); !ok {
		if _, ok := cutPrefixFold(u, "http://"); !ok {
			return b, adapters.BadField("messages", "image URLs must be http(s) or data: URLs")
		}
	}
	b = append(b, `{"type":"image","source":{"type":"url","url":`...)
	b = jsonx.AppendStringJS(b, u)
	return append(b, "}}"...), nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// appendToolResult writes a RoleTool message as a tool_result block: its
// text as a string content, or text and image blocks when it has images.
func appendToolResult(b []byte, n *int, m *adapters.Message) ([]byte, error) {
	if m.ToolCallID == "" {
		return b, adapters.BadField("messages", "tool message without tool_call_id")
	}
	b = sep(b, n)
	b = append(b, `{"type":"tool_result","tool_use_id":`...)
	b = jsonx.AppendStringJS(b, m.ToolCallID)
	if m.IsError {
		b = append(b, `,"is_error":true`...)
	}
	b = appendCacheControl(b, m.CacheControl)
	if m.HasImages() || m.HasDocuments() || partsCached(m.Parts) {
		b = append(b, `,"content":[`...)
		k := 0
		var err error
		if b, err = appendParts(b, &k, m.Parts, true); err != nil {
			return b, err
		}
		b = append(b, ']')
	} else if text := m.Text(); text != "" {
		b = append(b, `,"content":`...)
		b = jsonx.AppendStringJS(b, text)
	}
	return append(b, '}'), nil
}

func partsCached(parts []adapters.Part) bool {
	for i := range parts {
		if len(parts[i].CacheControl) > 0 {
			return true
		}
	}
	return false
}

// appendTools writes the tools array. Parameters default to an empty
// object schema, which Anthropic requires.
func appendTools(b []byte, tools []adapters.Tool) ([]byte, error) {
	b = append(b, `,"tools":[`...)
	for i := range tools {
		t := &tools[i]
		if t.Name == "" {
			return b, adapters.BadField("tools", "tool %d has no name", i)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = jsonx.AppendStringJS(b, t.Name)
		if t.Description != "" {
			b = append(b, `,"description":`...)
			b = jsonx.AppendStringJS(b, t.Description)
		}
		b = append(b, `,"input_schema":`...)
		if wire.IsNullOrEmpty(t.Parameters) {
			b = append(b, `{"type":"object"}`...)
		} else {
			if !validjson.Bytes(t.Parameters) {
				return b, adapters.BadField("tools", "parameters of tool %q are not valid JSON", t.Name)
			}
			if !gjson.ParseBytes(t.Parameters).IsObject() {
				return b, adapters.BadField("tools", "parameters of tool %q must be a JSON Schema object", t.Name)
			}
			b = wire.AppendRaw(b, t.Parameters)
		}
		b = appendCacheControl(b, t.CacheControl)
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// bodySize estimates the encoded size of req so the body is built with one
// allocation.
func bodySize(req *adapters.Request) int {
	n := 256 + len(req.Model) + len(req.System) + len(req.User)
	for i := range req.Messages {
		m := &req.Messages[i]
		n += 64 + len(m.Reasoning) + len(m.ReasoningSignature) + len(m.ToolCallID)
		for j := range m.ReasoningBlocks {
			n += len(m.ReasoningBlocks[j].Signature) + len(m.ReasoningBlocks[j].Redacted) + 64
		}
		for j := range m.Parts {
			n += len(m.Parts[j].Text) + len(m.Parts[j].ImageURL) + 64
		}
		for j := range m.ToolCalls {
			n += len(m.ToolCalls[j].Arguments) + len(m.ToolCalls[j].Name) + len(m.ToolCalls[j].ID) + 64
		}
	}
	for i := range req.Tools {
		n += len(req.Tools[i].Name) + len(req.Tools[i].Description) + len(req.Tools[i].Parameters) + 64
	}
	return n + n/16
}
