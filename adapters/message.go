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
)

// Part is one piece of a message's content.
type Part struct {
	Type PartType `json:"type"`
	Text string   `json:"text,omitempty"`
	// ImageURL is an https URL or a data: URL for PartImage.
	ImageURL string `json:"image_url,omitempty"`
	// Detail is the OpenAI image detail hint (auto, low, high).
	Detail string `json:"detail,omitempty"`
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
func (m *Message) HasImages() bool {
	for _, p := range m.Parts {
		if p.Type == PartImage {
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
}

// Tool is a function the model may call.
type Tool struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parameters is a JSON Schema object.
	Parameters json.RawMessage `json:"parameters,omitempty"`
	Strict     *bool           `json:"strict,omitempty"`
}
