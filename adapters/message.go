// Package adapters holds the canonical types that inbound dialects and
// upstream providers meet at, and the Provider interface. Dialect packages
// decode HTTP into these types; provider packages encode them into an
// upstream's wire format. Nothing else is shared between the two sides.
package adapters

import "encoding/json"

// Role is who authored a message.
type Role string

// The roles of a conversation. System and developer messages from a client
// are both carried as RoleSystem.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// PartType says what a Part holds.
type PartType string

// The kinds of content part.
const (
	PartText  PartType = "text"
	PartImage PartType = "image"
	// PartDocument is a document for the model to read: a PDF (base64
	// Data or a URL) or plain text (Text).
	PartDocument PartType = "document"
)

// Part is one piece of a message's content.
type Part struct {
	Type PartType `json:"type"`
	Text string   `json:"text,omitempty"`
	// ImageURL is an https URL or a data: URL for PartImage.
	ImageURL string `json:"image_url,omitempty"`
	// Detail is the OpenAI image detail hint (auto, low, high).
	Detail string `json:"detail,omitempty"`
	// MediaType is a document's type: application/pdf or text/plain.
	MediaType string `json:"media_type,omitempty"`
	// Data is a PDF document's content, base64; URL a PDF the upstream
	// fetches itself.
	Data string `json:"data,omitempty"`
	URL  string `json:"url,omitempty"`
	// Title and Context describe a document to the model.
	Title   string `json:"title,omitempty"`
	Context string `json:"context,omitempty"`
	// CacheControl is an Anthropic prompt-cache breakpoint after this part
	// ({"type":"ephemeral"}), passed to Anthropic upstreams and ignored
	// by the others.
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// Message is one turn of a conversation.
type Message struct {
	Role  Role   `json:"role"`
	Parts []Part `json:"parts,omitempty"`
	// Name is the optional participant name some APIs carry.
	Name string `json:"name,omitempty"`
	// ToolCalls are the calls an assistant message asked for.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID links a RoleTool message to the call it answers.
	ToolCallID string `json:"tool_call_id,omitempty"`
	// Reasoning is the thinking that preceded an assistant message, kept so
	// providers that require it on later turns (signatures) can replay it.
	Reasoning string `json:"reasoning,omitempty"`
	// ReasoningSignature is the provider's opaque signature of Reasoning.
	ReasoningSignature string `json:"reasoning_signature,omitempty"`
	// RedactedReasoning are opaque encrypted thoughts (Anthropic
	// redacted_thinking data) to replay after Reasoning.
	RedactedReasoning []string `json:"redacted_reasoning,omitempty"`
	// ReasoningBlocks are the message's thinking blocks one by one, each
	// with its own signature and place, for when the fields above cannot
	// say them exactly: several signed thinking blocks (Anthropic's
	// interleaved thinking), a redacted block before a thinking one, or
	// thinking after text or a tool call. Anthropic upstreams replay them
	// in place of the fields above, which still hold their sum (the
	// thoughts joined, the last signature, every redacted block) for the
	// providers that take reasoning whole. Empty in the common case of
	// one thinking block first: SetReasoning decides.
	ReasoningBlocks []ReasoningBlock `json:"reasoning_blocks,omitempty"`
	// IsError marks a RoleTool message that reports the tool's failure.
	IsError bool `json:"is_error,omitempty"`
	// CacheControl is a prompt-cache breakpoint on a RoleTool message's
	// result (see Part.CacheControl).
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// ReasoningBlock is one thinking block of an assistant message: signed
// thoughts (Text, Signature) or, with Redacted set, a redacted one.
type ReasoningBlock struct {
	Text      string `json:"text,omitempty"`
	Signature string `json:"signature,omitempty"`
	// Redacted is a redacted_thinking block's opaque data.
	Redacted string `json:"redacted,omitempty"`
	// At is the block's place: how many of the message's parts and tool
	// calls, counted in that order, come before it.
	At int `json:"at,omitempty"`
}

// SetReasoning sets m's reasoning from its thinking blocks in order:
// Reasoning, ReasoningSignature and RedactedReasoning always, and
// ReasoningBlocks only when those cannot replay blocks exactly (see
// ReasoningBlocks), so a message with one thinking block is what it was
// before blocks were kept.
func (m *Message) SetReasoning(blocks []ReasoningBlock) {
	m.Reasoning, m.ReasoningSignature, m.RedactedReasoning, m.ReasoningBlocks = "", "", nil, nil
	var thoughts int
	exact := true
	for i := range blocks {
		rb := &blocks[i]
		if rb.At != 0 {
			exact = false
		}
		if rb.Redacted != "" {
			m.RedactedReasoning = append(m.RedactedReasoning, rb.Redacted)
			continue
		}
		// The single-block form replays thinking before every redacted
		// block, and one signature only.
		if thoughts++; thoughts > 1 || len(m.RedactedReasoning) > 0 {
			exact = false
		}
		m.Reasoning += rb.Text
		if rb.Signature != "" {
			m.ReasoningSignature = rb.Signature
		}
	}
	if !exact {
		m.ReasoningBlocks = blocks
	}
}

// Text returns the concatenated text parts of m.
func (m *Message) Text() string {
	if len(m.Parts) == 1 {
		return m.Parts[0].Text
	}
	var n int
	for _, p := range m.Parts {
		n += len(p.Text)
	}
	b := make([]byte, 0, n)
	for _, p := range m.Parts {
		b = append(b, p.Text...)
	}
	return string(b)
}

// HasImages reports whether m carries an image part.
func (m *Message) HasImages() bool { return m.has(PartImage) }

// HasDocuments reports whether m carries a document part.
func (m *Message) HasDocuments() bool { return m.has(PartDocument) }

func (m *Message) has(t PartType) bool {
	for _, p := range m.Parts {
		if p.Type == t {
			return true
		}
	}
	return false
}

// TextMessage is a message holding a single text part.
func TextMessage(role Role, text string) Message {
	return Message{Role: role, Parts: []Part{{Type: PartText, Text: text}}}
}

// ToolCall is a model's request to run a tool.
type ToolCall struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Arguments is the JSON object of arguments, as text, exactly as the
	// model produced it (it may be invalid JSON; tools must cope).
	Arguments string `json:"arguments"`
	// Signature is an opaque provider token that must accompany the call on
	// later turns (Gemini thoughtSignature).
	Signature string `json:"signature,omitempty"`
	// CacheControl is a prompt-cache breakpoint (see Part.CacheControl).
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// Tool is a function the model may call.
type Tool struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parameters is a JSON Schema object.
	Parameters json.RawMessage `json:"parameters,omitempty"`
	Strict     *bool           `json:"strict,omitempty"`
	// CacheControl is a prompt-cache breakpoint (see Part.CacheControl).
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}
