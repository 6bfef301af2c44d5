package adapters

import "fmt"

// EventType names a canonical event.
type EventType uint8

// The canonical events, in the order a run emits them: one Start, any
// number of Thinking, Delta, ToolCallDelta, ToolCall and ToolResult, then
// Paused or Usage and Done, or Error.
const (
	EventStart EventType = iota + 1
	EventThinking
	EventDelta
	EventToolCall
	EventToolResult
	EventPaused
	EventUsage
	EventDone
	EventError
	// EventToolCallDelta is a piece of a tool call as the upstream streams
	// it, sent as it arrives: ToolCall.ID names the call (the ID of the
	// ToolCall event that completes it), ToolCall.Name is set on the
	// call's first delta, and ToolCall.Arguments is the next fragment of
	// its JSON arguments. The whole call follows as a ToolCall event, so
	// dialects that stream tool calls encode the deltas and skip the
	// ToolCall of a call they streamed, and the others ignore deltas.
	// Providers whose upstream sends calls whole send no deltas.
	EventToolCallDelta
)

var eventNames = [...]string{"", "start", "thinking", "delta", "tool_call", "tool_result", "paused", "usage", "done", "error",
	"tool_call_delta"}

func (t EventType) String() string {
	if int(t) < len(eventNames) {
		return eventNames[t]
	}
	return "unknown"
}

// MarshalText encodes the type by name, so recorded runs and golden files
// read as text.
func (t EventType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText decodes a type name.
func (t *EventType) UnmarshalText(b []byte) error {
	for i, n := range eventNames {
		if i > 0 && n == string(b) {
			*t = EventType(i)
			return nil
		}
	}
	return fmt.Errorf("unknown event type %q", b)
}

// Event is one step of a run.
type Event struct {
	Type EventType `json:"type"`
	// Text is the text of a Thinking or Delta event.
	Text string `json:"text,omitempty"`
	// Signature accompanies Thinking when the provider signs its thoughts.
	// It ends its thinking block: the thinking after it is a new block,
	// with a signature of its own (Anthropic's interleaved thinking).
	Signature string `json:"signature,omitempty"`
	// Redacted, on a Thinking event, is a block of encrypted thoughts
	// (Anthropic redacted_thinking data): opaque, to be replayed as is, a
	// block of its own after the event's text, if any.
	Redacted string `json:"redacted,omitempty"`
	// ToolCall is set on ToolCall events (a complete call), ToolCallDelta
	// events (a piece of one) and ToolResult events (the call the result
	// answers).
	ToolCall *ToolCall `json:"tool_call,omitempty"`
	// ToolResult is the JSON result of a tool on ToolResult events.
	ToolResult string `json:"tool_result,omitempty"`
	// ToolError marks a ToolResult that reports a failure.
	ToolError bool `json:"tool_error,omitempty"`
	// Executed marks a ToolCall (and its ToolResult) that the runtime runs
	// itself: clients observe it, they must not run it.
	Executed bool `json:"executed,omitempty"`
	// Usage is set on Usage events.
	Usage *Usage `json:"usage,omitempty"`
	// Model is the upstream model that answered, on Start and Done.
	Model string `json:"model,omitempty"`
	// FinishReason is set on Done: stop, length, tool_calls or
	// content_filter.
	FinishReason string `json:"finish_reason,omitempty"`
	// StopSequence, on Done, is the stop sequence that ended the answer,
	// when the upstream says which.
	StopSequence string `json:"stop_sequence,omitempty"`
	// Err is set on Error events.
	Err *Error `json:"error,omitempty"`
}

// Usage counts the tokens of one model call.
type Usage struct {
	InputTokens     int `json:"input_tokens"`
	OutputTokens    int `json:"output_tokens"`
	ReasoningTokens int `json:"reasoning_tokens,omitempty"`
	// CachedTokens are the input tokens read from the upstream's prompt
	// cache; CacheWriteTokens those written to it (Anthropic
	// cache_creation_input_tokens). InputTokens counts both.
	CachedTokens     int `json:"cached_tokens,omitempty"`
	CacheWriteTokens int `json:"cache_write_tokens,omitempty"`
	// Estimated marks counts the gateway estimated because the upstream
	// reported none.
	Estimated bool `json:"estimated,omitempty"`
}

// Total is input plus output tokens.
func (u Usage) Total() int { return u.InputTokens + u.OutputTokens }

// Add accumulates o into u.
func (u *Usage) Add(o Usage) {
	u.InputTokens += o.InputTokens
	u.OutputTokens += o.OutputTokens
	u.ReasoningTokens += o.ReasoningTokens
	u.CachedTokens += o.CachedTokens
	u.CacheWriteTokens += o.CacheWriteTokens
	u.Estimated = u.Estimated || o.Estimated
}

// Emit receives the events of a model call or a run in order. An error
// returned by Emit (typically the client went away) stops the producer.
type Emit func(Event) error
