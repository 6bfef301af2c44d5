package openai

import (
	"slices"
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/wire"
	"github.com/agentgate/agentgate/internal/jsonx"
	"github.com/agentgate/agentgate/internal/validjson"
)

// defaultEffort is the reasoning_effort sent when a request asks for
// reasoning without saying how much.
const defaultEffort = "medium"

// reservedExtra are body keys Extra may never set: they are owned by the
// canonical request (or by how the provider reads the response), whether or
// not the canonical request sets them.
var reservedExtra = map[string]bool{
	"model":            true,
	"messages":         true,
	"stream":           true,
	"stream_options":   true,
	"reasoning_effort": true,
}

// buildChatBody encodes req as an OpenAI Chat Completions request body,
// appending to dst. Keys are written in a fixed order (model, messages,
// tools, tool_choice, sampling, reasoning_effort, stream, stream_options,
// user) followed by req.Extra in sorted key order, so equal requests give
// equal bytes.
func buildChatBody(dst []byte, req *adapters.Request) ([]byte, error) {
	b := dst
	b = append(b, `{"model":`...)
	b = jsonx.AppendStringJS(b, req.Model)

	b = append(b, `,"messages":[`...)
	first := true
	if req.System != "" {
		b = append(b, `{"role":"system","content":`...)
		b = jsonx.AppendStringJS(b, req.System)
		b = append(b, '}')
		first = false
	}
	for i := range req.Messages {
		if !first {
			b = append(b, ',')
		}
		first = false
		var err error
		if b, err = appendMessage(b, &req.Messages[i]); err != nil {
			return dst, err
		}
	}
	b = append(b, ']')

	if len(req.Tools) > 0 {
		b = append(b, `,"tools":[`...)
		for i := range req.Tools {
			t := &req.Tools[i]
			if t.Name == "" {
				return dst, adapters.BadField("tools", "tool %d has no name", i)
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":"function","function":{"name":`...)
			b = jsonx.AppendStringJS(b, t.Name)
			if t.Description != "" {
				b = append(b, `,"description":`...)
				b = jsonx.AppendStringJS(b, t.Description)
			}
			if !wire.IsNullOrEmpty(t.Parameters) {
				if !validjson.Bytes(t.Parameters) {
					return dst, adapters.BadField("tools", "parameters of tool %q are not valid JSON", t.Name)
				}
				b = append(b, `,"parameters":`...)
				b = wire.AppendRaw(b, t.Parameters)
			}
			if t.Strict != nil {
				b = append(b, `,"strict":`...)
				b = appendBool(b, *t.Strict)
			}
			b = append(b, `}}`...)
		}
		b = append(b, ']')
		// tool_choice without tools is rejected by OpenAI, so it only goes
		// with them.
		if !wire.IsNullOrEmpty(req.ToolChoice) {
			if !validjson.Bytes(req.ToolChoice) {
				return dst, adapters.BadField("tool_choice", "not valid JSON")
			}
			b = append(b, `,"tool_choice":`...)
			b = wire.AppendRaw(b, req.ToolChoice)
		}
	}

	s := &req.Sampling
	if s.Temperature != nil {
		if !wire.Finite(*s.Temperature) {
			return dst, adapters.BadField("temperature", "must be a finite number")
		}
		b = append(b, `,"temperature":`...)
		b = wire.AppendFloat(b, *s.Temperature)
	}
	if s.TopP != nil {
		if !wire.Finite(*s.TopP) {
			return dst, adapters.BadField("top_p", "must be a finite number")
		}
		b = append(b, `,"top_p":`...)
		b = wire.AppendFloat(b, *s.TopP)
	}
	if s.TopK != nil {
		// Not an OpenAI parameter, but one most OpenAI-compatible servers
		// (vLLM, llama.cpp, Ollama) take; OpenAI itself answers a 400
		// naming it rather than sampling differently without saying so.
		b = append(b, `,"top_k":`...)
		b = appendInt(b, int64(*s.TopK))
	}
	if s.MaxTokens != nil {
		// Reasoning models reject max_tokens.
		if req.Reasoning != nil {
			b = append(b, `,"max_completion_tokens":`...)
		} else {
			b = append(b, `,"max_tokens":`...)
		}
		b = appendInt(b, int64(*s.MaxTokens))
	}
	if len(s.Stop) > 0 {
		b = append(b, `,"stop":`...)
		b = wire.AppendStrings(b, s.Stop)
	}
	if s.Seed != nil {
		b = append(b, `,"seed":`...)
		b = appendInt(b, *s.Seed)
	}
	if !wire.IsNullOrEmpty(s.ResponseFormat) {
		if !validjson.Bytes(s.ResponseFormat) {
			return dst, adapters.BadField("response_format", "not valid JSON")
		}
		b = append(b, `,"response_format":`...)
		b = wire.AppendRaw(b, s.ResponseFormat)
	}
	if req.Reasoning != nil {
		effort := req.Reasoning.Effort
		if effort == "" {
			effort = defaultEffort
		}
		b = append(b, `,"reasoning_effort":`...)
		b = jsonx.AppendStringJS(b, effort)
	}
	if req.Stream {
		b = append(b, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	if req.User != "" {
		// OpenAI now prefers safety_identifier, but user is what both
		// its Chat Completions (deprecated, still accepted) and the
		// OpenAI-compatible servers that copy its API take.
		b = append(b, `,"user":`...)
		b = jsonx.AppendStringJS(b, req.User)
	}

	if len(req.Extra) > 0 {
		var err error
		if b, err = appendExtra(b, req); err != nil {
			return dst, err
		}
	}
	return append(b, '}'), nil
}

// appendExtra appends the keys of req.Extra that the canonical fields did
// not set, in sorted order.
func appendExtra(b []byte, req *adapters.Request) ([]byte, error) {
	keys := make([]string, 0, len(req.Extra))
	for k := range req.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := &req.Sampling
	for _, k := range keys {
		raw := req.Extra[k]
		if reservedExtra[k] || len(raw) == 0 {
			continue
		}
		switch k {
		case "user":
			if req.User != "" {
				continue
			}
		case "tools":
			if len(req.Tools) > 0 {
				continue
			}
		case "tool_choice":
			if len(req.Tools) > 0 && !wire.IsNullOrEmpty(req.ToolChoice) {
				continue
			}
		case "temperature":
			if s.Temperature != nil {
				continue
			}
		case "top_p":
			if s.TopP != nil {
				continue
			}
		case "top_k":
			if s.TopK != nil {
				continue
			}
		case "max_tokens", "max_completion_tokens":
			// One limit only: a second one would contradict the first, and
			// reasoning models reject max_tokens outright.
			if s.MaxTokens != nil {
				continue
			}
		case "stop":
			if len(s.Stop) > 0 {
				continue
			}
		case "seed":
			if s.Seed != nil {
				continue
			}
		case "response_format":
			if !wire.IsNullOrEmpty(s.ResponseFormat) {
				continue
			}
		}
		if !validjson.Bytes(raw) {
			return b, adapters.BadField(k, "not valid JSON")
		}
		b = append(b, ',')
		b = jsonx.AppendStringJS(b, k)
		b = append(b, ':')
		b = wire.AppendRaw(b, raw)
	}
	return b, nil
}

// appendMessage appends one message object.
func appendMessage(b []byte, m *adapters.Message) ([]byte, error) {
	switch m.Role {
	case adapters.RoleSystem:
		b = append(b, `{"role":"system","content":`...)
		b = jsonx.AppendStringJS(b, m.Text())
		b = appendName(b, m.Name)
	case adapters.RoleUser:
		for i := range m.Parts {
			if m.Parts[i].Type == adapters.PartDocument && m.Parts[i].URL != "" {
				return b, adapters.BadField("messages", "an OpenAI-compatible model cannot fetch a document by URL: send the document as base64 data")
			}
		}
		b = append(b, `{"role":"user","content":`...)
		b = appendUserContent(b, m.Parts)
		b = appendName(b, m.Name)
	case adapters.RoleAssistant:
		b = append(b, `{"role":"assistant","content":`...)
		if text := m.Text(); text != "" {
			b = jsonx.AppendStringJS(b, text)
		} else {
			b = append(b, "null"...)
		}
		b = appendName(b, m.Name)
		if len(m.ToolCalls) > 0 {
			b = append(b, `,"tool_calls":[`...)
			for i := range m.ToolCalls {
				tc := &m.ToolCalls[i]
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"id":`...)
				b = jsonx.AppendStringJS(b, tc.ID)
				b = append(b, `,"type":"function","function":{"name":`...)
				b = jsonx.AppendStringJS(b, tc.Name)
				b = append(b, `,"arguments":`...)
				args := tc.Arguments
				if args == "" {
					args = "{}"
				}
				b = jsonx.AppendStringJS(b, args)
				b = append(b, `}}`...)
			}
			b = append(b, ']')
		}
	case adapters.RoleTool:
		b = append(b, `{"role":"tool","tool_call_id":`...)
		b = jsonx.AppendStringJS(b, m.ToolCallID)
		b = append(b, `,"content":`...)
		b = jsonx.AppendStringJS(b, m.Text())
	default:
		return b, adapters.BadField("messages", "unsupported role %q", m.Role)
	}
	return append(b, '}'), nil
}

// appendUserContent writes a single text part as a plain string and
// anything else as an array of parts.
func appendUserContent(b []byte, parts []adapters.Part) []byte {
	if len(parts) == 0 {
		return append(b, `""`...)
	}
	if len(parts) == 1 && parts[0].Type == adapters.PartText {
		return jsonx.AppendStringJS(b, parts[0].Text)
	}
	b = append(b, '[')
	for i := range parts {
		p := &parts[i]
		if i > 0 {
			b = append(b, ',')
		}
		if p.Type == adapters.PartImage {
			b = append(b, `{"type":"image_url","image_url":{"url":`...)
			b = jsonx.AppendStringJS(b, p.ImageURL)
			if p.Detail != "" {
				b = append(b, `,"detail":`...)
				b = jsonx.AppendStringJS(b, p.Detail)
			}
			b = append(b, `}}`...)
			continue
		}
		if p.Type == adapters.PartDocument && p.MediaType != "text/plain" {
			// A PDF: OpenAI's file part with the data inline.
			b = append(b, `{"type":"file","file":{"filename":`...)
			name := p.Title
			if name == "" {
				name = "document.pdf"
			}
			b = jsonx.AppendStringJS(b, name)
			b = append(b, `,"file_data":`...)
			b = jsonx.AppendStringJS(b, "data:"+p.MediaType+";base64,"+p.Data)
			b = append(b, `}}`...)
			continue
		}
		text := p.Text
		if p.Type == adapters.PartDocument && p.Title != "" {
			text = p.Title + "\n\n" + text
		}
		b = append(b, `{"type":"text","text":`...)
		b = jsonx.AppendStringJS(b, text)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendName(b []byte, name string) []byte {
	if name == "" {
		return b
	}
	b = append(b, `,"name":`...)
	return jsonx.AppendStringJS(b, name)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

func appendInt(b []byte, v int64) []byte {
	return strconv.AppendInt(b, v, 10)
}

// bodySize estimates the encoded size of req so the body is built with one
// allocation.
func bodySize(req *adapters.Request) int {
	n := 256 + len(req.Model) + len(req.System) + len(req.User)
	for i := range req.Messages {
		m := &req.Messages[i]
		n += 64
		for j := range m.Parts {
			n += len(m.Parts[j].Text) + len(m.Parts[j].ImageURL) + 48
		}
		for j := range m.ToolCalls {
			n += len(m.ToolCalls[j].Arguments) + len(m.ToolCalls[j].Name) + len(m.ToolCalls[j].ID) + 64
		}
	}
	for i := range req.Tools {
		n += len(req.Tools[i].Name) + len(req.Tools[i].Description) + len(req.Tools[i].Parameters) + 64
	}
	for k, v := range req.Extra {
		n += len(k) + len(v) + 4
	}
	// Escapes make the output a little longer than the input.
	return n + n/16
}
