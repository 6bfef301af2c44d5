package tracing

import (
	"encoding/json"

	"go.opentelemetry.io/otel/attribute"

	"github.com/agentgate/agentgate/adapters"
)

// The attributes of OpenTelemetry's GenAI semantic conventions agentgate
// sets (semantic-conventions docs/gen-ai: gen-ai-spans.md,
// gen-ai-agent-spans.md, retrieval.md), and its own, under agentgate.*.
const (
	OperationKey          = attribute.Key("gen_ai.operation.name")
	ProviderKey           = attribute.Key("gen_ai.provider.name")
	RequestModelKey       = attribute.Key("gen_ai.request.model")
	RequestMaxTokensKey   = attribute.Key("gen_ai.request.max_tokens")
	RequestTemperatureKey = attribute.Key("gen_ai.request.temperature")
	RequestTopPKey        = attribute.Key("gen_ai.request.top_p")
	ResponseModelKey      = attribute.Key("gen_ai.response.model")
	FinishReasonsKey      = attribute.Key("gen_ai.response.finish_reasons")
	InputTokensKey        = attribute.Key("gen_ai.usage.input_tokens")
	OutputTokensKey       = attribute.Key("gen_ai.usage.output_tokens")
	ConversationKey       = attribute.Key("gen_ai.conversation.id")
	AgentIDKey            = attribute.Key("gen_ai.agent.id")
	AgentNameKey          = attribute.Key("gen_ai.agent.name")
	AgentDescriptionKey   = attribute.Key("gen_ai.agent.description")
	ToolNameKey           = attribute.Key("gen_ai.tool.name")
	ToolCallIDKey         = attribute.Key("gen_ai.tool.call.id")
	ToolTypeKey           = attribute.Key("gen_ai.tool.type")
	ToolDescriptionKey    = attribute.Key("gen_ai.tool.description")
	ToolArgumentsKey      = attribute.Key("gen_ai.tool.call.arguments")
	ToolResultKey         = attribute.Key("gen_ai.tool.call.result")
	DataSourceKey         = attribute.Key("gen_ai.data_source.id")
	SystemInstructionsKey = attribute.Key("gen_ai.system_instructions")
	InputMessagesKey      = attribute.Key("gen_ai.input.messages")
	OutputMessagesKey     = attribute.Key("gen_ai.output.messages")
	ErrorTypeKey          = attribute.Key("error.type")
	ServerAddressKey      = attribute.Key("server.address")
	ServerPortKey         = attribute.Key("server.port")

	// ProviderInstanceKey is the provider instance of agentgate's
	// configuration a call went to (gen_ai.provider.name says which kind
	// of provider it is); AttemptKey numbers a model call's attempts
	// from 1, AttemptsKey counts them; ResultsKey counts what a recall or
	// retrieval found.
	ProviderInstanceKey = attribute.Key("agentgate.provider")
	AttemptKey          = attribute.Key("agentgate.attempt")
	AttemptsKey         = attribute.Key("agentgate.attempts")
	ResultsKey          = attribute.Key("agentgate.results")
	EstimatedKey        = attribute.Key("agentgate.usage.estimated")
	RunIDKey            = attribute.Key("agentgate.run_id")
	ToolkitKey          = attribute.Key("agentgate.toolkit")
)

// Described is implemented by providers that tell traces what they are:
// the attributes of each call to them (gen_ai.provider.name,
// server.address…), which the engine cannot know from a provider
// instance's name.
type Described interface {
	TraceAttributes() []attribute.KeyValue
}

// ProviderAttributes returns p's attributes when it is Described.
func ProviderAttributes(p any) []attribute.KeyValue {
	if d, ok := p.(Described); ok {
		return d.TraceAttributes()
	}
	return nil
}

// FinishReasons returns gen_ai.response.finish_reasons of an answer that
// ended for reason, when it gave one.
func FinishReasons(reason string) []attribute.KeyValue {
	if reason == "" {
		return nil
	}
	return []attribute.KeyValue{FinishReasonsKey.StringSlice([]string{reason})}
}

// Operation names (gen_ai.operation.name).
const (
	OpChat         = "chat"
	OpEmbeddings   = "embeddings"
	OpExecuteTool  = "execute_tool"
	OpInvokeAgent  = "invoke_agent"
	OpRetrieval    = "retrieval"
	OpSearchMemory = "search_memory"
)

// ProviderName is gen_ai.provider.name for a provider type of agentgate's
// configuration: the conventions' well-known value where there is one,
// the type itself otherwise (an OpenAI-compatible server is "openai":
// the conventions name the API's flavour, and server.address the host).
func ProviderName(typ string) string {
	switch typ {
	case "gemini":
		return "gcp.gemini"
	}
	return typ
}

// Usage returns the usage attributes of u.
func Usage(u adapters.Usage) []attribute.KeyValue {
	attrs := []attribute.KeyValue{InputTokensKey.Int(u.InputTokens), OutputTokensKey.Int(u.OutputTokens)}
	if u.Estimated {
		attrs = append(attrs, EstimatedKey.Bool(true))
	}
	return attrs
}

// Sampling returns the request attributes of s that are set.
func Sampling(s adapters.Sampling) []attribute.KeyValue {
	var attrs []attribute.KeyValue
	if s.MaxTokens != nil {
		attrs = append(attrs, RequestMaxTokensKey.Int(*s.MaxTokens))
	}
	if s.Temperature != nil {
		attrs = append(attrs, RequestTemperatureKey.Float64(*s.Temperature))
	}
	if s.TopP != nil {
		attrs = append(attrs, RequestTopPKey.Float64(*s.TopP))
	}
	return attrs
}

// The message shapes of the conventions' JSON schemas
// (gen-ai-input-messages.json, gen-ai-output-messages.json,
// gen-ai-system-instructions.json), recorded as JSON strings: span
// attributes take no structured values yet.
type (
	chatMessage struct {
		Role         string        `json:"role"`
		Parts        []messagePart `json:"parts"`
		FinishReason string        `json:"finish_reason,omitempty"`
	}
	messagePart struct {
		Type      string          `json:"type"`
		Content   string          `json:"content,omitempty"`
		ID        string          `json:"id,omitempty"`
		Name      string          `json:"name,omitempty"`
		Arguments json.RawMessage `json:"arguments,omitempty"`
		Result    string          `json:"response,omitempty"`
	}
)

// InputMessages returns the gen_ai.system_instructions (when system is
// not empty) and gen_ai.input.messages attributes of a request.
func InputMessages(system string, msgs []adapters.Message) []attribute.KeyValue {
	var attrs []attribute.KeyValue
	if system != "" {
		attrs = append(attrs, SystemInstructionsKey.String(encode([]messagePart{{Type: "text", Content: system}})))
	}
	out := make([]chatMessage, 0, len(msgs))
	for i := range msgs {
		out = append(out, chatMessageOf(&msgs[i], ""))
	}
	return append(attrs, InputMessagesKey.String(encode(out)))
}

// OutputMessages returns the gen_ai.output.messages attribute of an
// answer m that ended for finishReason.
func OutputMessages(m adapters.Message, finishReason string) attribute.KeyValue {
	return OutputMessagesKey.String(encode([]chatMessage{chatMessageOf(&m, finishReason)}))
}

func chatMessageOf(m *adapters.Message, finishReason string) chatMessage {
	cm := chatMessage{Role: string(m.Role), FinishReason: finishReason}
	if m.Role == adapters.RoleTool {
		cm.Parts = append(cm.Parts, messagePart{Type: "tool_call_response", ID: m.ToolCallID, Result: m.Text()})
		return cm
	}
	if m.Reasoning != "" {
		cm.Parts = append(cm.Parts, messagePart{Type: "reasoning", Content: m.Reasoning})
	}
	for _, p := range m.Parts {
		switch p.Type {
		case adapters.PartText:
			cm.Parts = append(cm.Parts, messagePart{Type: "text", Content: p.Text})
		default: // images and documents: their kind, not their bytes
			cm.Parts = append(cm.Parts, messagePart{Type: string(p.Type)})
		}
	}
	for _, tc := range m.ToolCalls {
		cm.Parts = append(cm.Parts, messagePart{Type: "tool_call", ID: tc.ID, Name: tc.Name, Arguments: jsonOrString(tc.Arguments)})
	}
	if cm.Parts == nil {
		cm.Parts = []messagePart{}
	}
	return cm
}

// jsonOrString is s as JSON when it is JSON (a model's arguments may not
// be), else as a JSON string.
func jsonOrString(s string) json.RawMessage {
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}

func encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
