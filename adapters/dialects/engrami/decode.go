package engrami

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/state"
)

// The request decoders: pure functions from a body to a validated
// request, or an *adapters.Error with a 4xx status naming the field at
// fault. What needs the runtime (is the model routed, are the tools
// declared) is checked by the handlers after them.

// Bounds of client input.
const (
	maxName         = 255
	maxDescription  = 4000
	maxIDLen        = 128
	maxConversation = 256
	maxToolNames    = 64
	maxMaxTokens    = 1 << 20
	maxBatchItems   = 100
	maxMetadata     = 32
	maxContextVars  = 64
)

// fields is a JSON object being decoded field by field, so null and
// absent can be told apart (a partial update) and every error names its
// field.
type fields struct {
	m      map[string]json.RawMessage
	prefix string // "memory_config." for nested objects
}

// object decodes a body that must be one JSON object.
func object(body []byte) (*fields, error) {
	var m map[string]json.RawMessage
	if err := dialects.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "invalid_json", Message: "request body must be a JSON object, not null"}
	}
	return &fields{m: m}, nil
}

// raw returns the value of name when present and not null.
func (f *fields) raw(name string) (json.RawMessage, bool) {
	v, ok := f.m[name]
	if !ok {
		return nil, false
	}
	v = bytes.TrimSpace(v)
	if string(v) == "null" {
		return nil, false
	}
	return v, true
}

// has reports whether name is present, null included.
func (f *fields) has(name string) bool {
	_, ok := f.m[name]
	return ok
}

func (f *fields) bad(name, format string, args ...any) *adapters.Error {
	return adapters.BadField(f.prefix+name, format, args...)
}

func typeOf(v json.RawMessage) string {
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// str decodes a string field of at most max bytes; nil when absent or
// null.
func (f *fields) str(name string, max int) (*string, error) {
	v, ok := f.raw(name)
	if !ok {
		return nil, nil
	}
	var s string
	if v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return nil, f.bad(name, "expected a string, got %s", typeOf(v))
	}
	if len(s) > max {
		return nil, f.bad(name, "is longer than %d bytes", max)
	}
	return &s, nil
}

func (f *fields) boolean(name string) (*bool, error) {
	v, ok := f.raw(name)
	if !ok {
		return nil, nil
	}
	var b bool
	if json.Unmarshal(v, &b) != nil {
		return nil, f.bad(name, "expected a boolean, got %s", typeOf(v))
	}
	return &b, nil
}

func (f *fields) number(name string) (*float64, error) {
	v, ok := f.raw(name)
	if !ok {
		return nil, nil
	}
	var n float64
	if v[0] == '"' || json.Unmarshal(v, &n) != nil {
		return nil, f.bad(name, "expected a number, got %s", typeOf(v))
	}
	return &n, nil
}

func (f *fields) integer(name string) (*int, error) {
	n, err := f.number(name)
	if n == nil || err != nil {
		return nil, err
	}
	if *n != math.Trunc(*n) || math.Abs(*n) > 1<<40 {
		return nil, f.bad(name, "expected an integer, got %v", *n)
	}
	i := int(*n)
	return &i, nil
}

// strings decodes an array of strings.
func (f *fields) strings(name string, maxItems, maxLen int) ([]string, bool, error) {
	v, ok := f.raw(name)
	if !ok {
		return nil, f.has(name), nil
	}
	var raw []json.RawMessage
	if v[0] != '[' || json.Unmarshal(v, &raw) != nil {
		return nil, false, f.bad(name, "expected an array of strings, got %s", typeOf(v))
	}
	if len(raw) > maxItems {
		return nil, false, f.bad(name, "has %d items; at most %d are allowed", len(raw), maxItems)
	}
	out := make([]string, 0, len(raw))
	for i, r := range raw {
		var s string
		r = bytes.TrimSpace(r)
		if len(r) == 0 || r[0] != '"' || json.Unmarshal(r, &s) != nil {
			return nil, false, adapters.BadField(f.prefix+name+"["+strconv.Itoa(i)+"]", "expected a string, got %s", typeOf(r))
		}
		if s = strings.TrimSpace(s); s == "" || len(s) > maxLen {
			return nil, false, adapters.BadField(f.prefix+name+"["+strconv.Itoa(i)+"]", "must be a non-empty name of at most %d bytes", maxLen)
		}
		out = append(out, s)
	}
	return out, true, nil
}

// nested decodes an object field.
func (f *fields) nested(name string) (*fields, error) {
	v, ok := f.raw(name)
	if !ok {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if v[0] != '{' || json.Unmarshal(v, &m) != nil {
		return nil, f.bad(name, "expected an object, got %s", typeOf(v))
	}
	return &fields{m: m, prefix: f.prefix + name + "."}, nil
}

// agentSpec is a decoded POST or PUT body: nil fields were not given.
type agentSpec struct {
	id, name, description, model, systemPrompt, status *string
	memory                                             *memorySpec
	tools                                              []string
	toolsSet                                           bool
	// temperature and maxTokens: set when given; a nil value with set
	// means null (unset it).
	temperature    *float64
	temperatureSet bool
	maxTokens      *int
	maxTokensSet   bool
}

type memorySpec struct {
	semantic, episodic, procedural *bool
	embeddingModel                 *string
}

// idPattern is what a caller-chosen agent or memory id may be.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// decodeAgent decodes the body of POST /agents (create: name and model
// required) or PUT /agents/{id} (every field optional).
func decodeAgent(body []byte, create bool) (*agentSpec, error) {
	f, err := object(body)
	if err != nil {
		return nil, err
	}
	s := &agentSpec{}
	if s.name, err = f.str("name", maxName); err != nil {
		return nil, err
	}
	if s.name != nil {
		if *s.name = strings.TrimSpace(*s.name); *s.name == "" {
			return nil, adapters.BadField("name", "must not be empty")
		}
		if err := printable("name", *s.name); err != nil {
			return nil, err
		}
	} else if create {
		return nil, adapters.BadField("name", "is required")
	}
	if s.description, err = f.str("description", maxDescription); err != nil {
		return nil, err
	}
	if s.model, err = f.str("model", maxName); err != nil {
		return nil, err
	}
	if s.model != nil {
		if *s.model = strings.TrimSpace(*s.model); *s.model == "" {
			return nil, adapters.BadField("model", "must not be empty")
		}
	} else if create {
		return nil, adapters.BadField("model", "is required: the model the agent calls, e.g. \"gpt-4\"")
	}
	if s.systemPrompt, err = f.str("system_prompt", 1<<20); err != nil {
		return nil, err
	}
	if s.status, err = f.str("status", 32); err != nil {
		return nil, err
	}
	if s.status != nil && !adapters.ValidStatus(*s.status) {
		return nil, adapters.BadField("status", "must be \"active\", \"inactive\" or \"draft\"")
	}
	if create {
		if s.id, err = f.str("id", maxIDLen); err != nil {
			return nil, err
		}
		if s.id != nil && !idPattern.MatchString(*s.id) {
			return nil, adapters.BadField("id", "must be 1 to 128 letters, digits, '_' or '-'")
		}
	} else if f.has("id") {
		return nil, adapters.BadField("id", "cannot be changed")
	}
	if s.tools, s.toolsSet, err = f.strings("tools", maxToolNames, maxName); err != nil {
		return nil, err
	}
	if s.temperature, err = f.number("temperature"); err != nil {
		return nil, err
	}
	s.temperatureSet = f.has("temperature")
	if t := s.temperature; t != nil && (*t < 0 || *t > 2) {
		return nil, adapters.BadField("temperature", "must be between 0 and 2")
	}
	if s.maxTokens, err = f.integer("max_tokens"); err != nil {
		return nil, err
	}
	s.maxTokensSet = f.has("max_tokens")
	if n := s.maxTokens; n != nil && (*n < 1 || *n > maxMaxTokens) {
		return nil, adapters.BadField("max_tokens", "must be between 1 and %d", maxMaxTokens)
	}
	mc, err := f.nested("memory_config")
	if err != nil {
		return nil, err
	}
	if mc != nil {
		s.memory = &memorySpec{}
		for _, b := range []struct {
			name string
			dst  **bool
		}{{"semantic_enabled", &s.memory.semantic}, {"episodic_enabled", &s.memory.episodic}, {"procedural_enabled", &s.memory.procedural}} {
			if *b.dst, err = mc.boolean(b.name); err != nil {
				return nil, err
			}
		}
		if s.memory.embeddingModel, err = mc.str("embedding_model", maxName); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// printable checks that s holds no control characters or invalid UTF-8.
func printable(field, s string) error {
	if !utf8.ValidString(s) {
		return adapters.BadField(field, "must be valid UTF-8 text")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return adapters.BadField(field, "must be printable text without control characters")
		}
	}
	return nil
}

// chatRequest is a decoded chat body.
type chatRequest struct {
	message        string
	conversationID string
	userID         string
	// vars are the context's other fields, as text, for the system
	// prompt's {{placeholders}}.
	vars map[string]string
}

// decodeChat decodes the body of POST /agents/{id}/chat[/stream].
func decodeChat(body []byte) (*chatRequest, error) {
	f, err := object(body)
	if err != nil {
		return nil, err
	}
	msg, err := f.str("message", 1<<24)
	if err != nil {
		return nil, err
	}
	if msg == nil {
		return nil, adapters.BadField("message", "is required")
	}
	if strings.TrimSpace(*msg) == "" {
		return nil, adapters.BadField("message", "must not be empty")
	}
	out := &chatRequest{message: *msg}
	conv, err := f.str("conversation_id", maxConversation)
	if err != nil {
		return nil, err
	}
	if conv != nil && *conv != "" {
		if err := printable("conversation_id", *conv); err != nil {
			return nil, err
		}
		out.conversationID = *conv
	}
	c, err := f.nested("context")
	if err != nil {
		return nil, err
	}
	if c != nil {
		if len(c.m) > maxContextVars {
			return nil, adapters.BadField("context", "has %d fields; at most %d are allowed", len(c.m), maxContextVars)
		}
		uid, err := c.str("user_id", maxIDLen*2)
		if err != nil {
			return nil, err
		}
		if uid != nil {
			if err := printable("context.user_id", *uid); err != nil {
				return nil, err
			}
			out.userID = *uid
		}
		for k, v := range c.m {
			v = bytes.TrimSpace(v)
			if len(v) == 0 || string(v) == "null" {
				continue
			}
			if out.vars == nil {
				out.vars = map[string]string{}
			}
			var s string
			if v[0] == '"' && json.Unmarshal(v, &s) == nil {
				out.vars[k] = s
			} else {
				out.vars[k] = string(v)
			}
		}
	}
	return out, nil
}

// memoryItem is one item a client adds.
type memoryItem struct {
	id, kind, content, userID string
	metadata                  map[string]string
}

// decodeMemory decodes the body of POST /agents/{id}/memory: one item, or
// {"items": [...]} (batch true).
func decodeMemory(body []byte) (items []memoryItem, batch bool, err error) {
	f, err := object(body)
	if err != nil {
		return nil, false, err
	}
	if v, ok := f.raw("items"); ok {
		var raw []json.RawMessage
		if v[0] != '[' || json.Unmarshal(v, &raw) != nil {
			return nil, false, adapters.BadField("items", "expected an array of memory items, got %s", typeOf(v))
		}
		if len(raw) == 0 || len(raw) > maxBatchItems {
			return nil, false, adapters.BadField("items", "must hold 1 to %d items", maxBatchItems)
		}
		for i, r := range raw {
			var m map[string]json.RawMessage
			r = bytes.TrimSpace(r)
			if len(r) == 0 || r[0] != '{' || json.Unmarshal(r, &m) != nil {
				return nil, false, adapters.BadField("items["+strconv.Itoa(i)+"]", "expected an object")
			}
			it, err := decodeItem(&fields{m: m, prefix: "items[" + strconv.Itoa(i) + "]."})
			if err != nil {
				return nil, false, err
			}
			items = append(items, it)
		}
		return items, true, nil
	}
	it, err := decodeItem(f)
	if err != nil {
		return nil, false, err
	}
	return []memoryItem{it}, false, nil
}

// maxMemoryContent bounds one item's content.
const maxMemoryContent = 16 << 10

func decodeItem(f *fields) (memoryItem, error) {
	var it memoryItem
	content, err := f.str("content", maxMemoryContent)
	if err != nil {
		return it, err
	}
	if content == nil || strings.TrimSpace(*content) == "" {
		return it, f.bad("content", "is required: the text to remember")
	}
	it.content = *content
	kind, err := f.str("type", 32)
	if err != nil {
		return it, err
	}
	it.kind = state.MemorySemantic
	if kind != nil {
		if !state.ValidMemoryKind(*kind) {
			return it, f.bad("type", "must be semantic, episodic or procedural")
		}
		it.kind = *kind
	}
	for _, fld := range []struct {
		name string
		dst  *string
	}{{"id", &it.id}, {"user_id", &it.userID}} {
		v, err := f.str(fld.name, maxIDLen*2)
		if err != nil {
			return it, err
		}
		if v != nil {
			*fld.dst = *v
		}
	}
	if it.id != "" && !idPattern.MatchString(it.id) {
		return it, f.bad("id", "must be 1 to 128 letters, digits, '_' or '-'")
	}
	if err := printable(f.prefix+"user_id", it.userID); err != nil {
		return it, err
	}
	if v, ok := f.raw("metadata"); ok {
		var m map[string]json.RawMessage
		if v[0] != '{' || json.Unmarshal(v, &m) != nil {
			return it, f.bad("metadata", "expected an object, got %s", typeOf(v))
		}
		if len(m) > maxMetadata {
			return it, f.bad("metadata", "has %d fields; at most %d are allowed", len(m), maxMetadata)
		}
		it.metadata = map[string]string{}
		for k, val := range m {
			var s string
			if json.Unmarshal(val, &s) != nil {
				s = string(bytes.TrimSpace(val))
			}
			it.metadata[k] = s
		}
	}
	return it, nil
}

// decodeFeedback decodes {"rating": "up"|"down"} or {"thumbs_up": bool}
// into "up" or "down".
func decodeFeedback(body []byte) (string, error) {
	f, err := object(body)
	if err != nil {
		return "", err
	}
	rating, err := f.str("rating", 16)
	if err != nil {
		return "", err
	}
	thumbs, err := f.boolean("thumbs_up")
	if err != nil {
		return "", err
	}
	switch {
	case rating != nil && thumbs != nil:
		return "", adapters.BadField("rating", "give either rating or thumbs_up, not both")
	case rating != nil:
		switch strings.ToLower(*rating) {
		case "up", "thumbs_up", "positive":
			return "up", nil
		case "down", "thumbs_down", "negative":
			return "down", nil
		}
		return "", adapters.BadField("rating", "must be \"up\" or \"down\"")
	case thumbs != nil:
		if *thumbs {
			return "up", nil
		}
		return "down", nil
	}
	return "", adapters.BadField("rating", "is required: \"up\" or \"down\" (or thumbs_up: true or false)")
}
