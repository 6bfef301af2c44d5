package adapters

import "encoding/json"

// Request is one model call as a provider sees it: a fully assembled context
// (system prompt, history, the new turn) and generation settings.
type Request struct {
	// Model is the upstream model name, already resolved by routing.
	Model    string
	System   string
	Messages []Message
	Tools    []Tool
	// ToolChoice is the OpenAI tool_choice value as raw JSON ("auto",
	// "none", "required" or an object); empty means the provider default.
	ToolChoice json.RawMessage
	// Stream asks the provider to stream from the upstream. Providers emit
	// the same events either way; streaming only changes their timing.
	Stream bool
	Sampling
	// Reasoning asks the model to think first; nil means do not ask.
	Reasoning *Reasoning
	// Extra holds client fields with no canonical meaning, passed verbatim
	// to providers that speak the client's format (OpenAI-compatible).
	Extra map[string]json.RawMessage
	// User is the end user the call is for (Call.UpstreamUser), sent as the
	// upstream's end-user field: metadata.user_id to Anthropic, user to
	// OpenAI-compatible upstreams; Gemini's API has none.
	User string `json:"User,omitempty"`
}

// Sampling holds generation parameters. Nil pointers mean "not set": the
// upstream's default applies.
type Sampling struct {
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	MaxTokens   *int     `json:"max_tokens,omitempty"`
	Stop        []string `json:"stop,omitempty"`
	Seed        *int64   `json:"seed,omitempty"`
	// ResponseFormat is the OpenAI response_format object as raw JSON.
	ResponseFormat json.RawMessage `json:"response_format,omitempty"`
	// TopK samples from the k likeliest tokens (Anthropic, Gemini; the
	// OpenAI API has none).
	TopK *int `json:"top_k,omitempty"`
}

// IsZero reports whether s sets nothing: every upstream default applies.
func (s Sampling) IsZero() bool {
	return s.Temperature == nil && s.TopP == nil && s.MaxTokens == nil && len(s.Stop) == 0 && s.Seed == nil &&
		len(s.ResponseFormat) == 0 && s.TopK == nil
}

// Merge returns s with every field that o sets taken from o.
func (s Sampling) Merge(o Sampling) Sampling {
	if o.Temperature != nil {
		s.Temperature = o.Temperature
	}
	if o.TopP != nil {
		s.TopP = o.TopP
	}
	if o.MaxTokens != nil {
		s.MaxTokens = o.MaxTokens
	}
	if o.Stop != nil {
		s.Stop = o.Stop
	}
	if o.Seed != nil {
		s.Seed = o.Seed
	}
	if o.ResponseFormat != nil {
		s.ResponseFormat = o.ResponseFormat
	}
	if o.TopK != nil {
		s.TopK = o.TopK
	}
	return s
}

// Reasoning configures model thinking.
type Reasoning struct {
	// Effort is low, medium or high (OpenAI reasoning_effort).
	Effort string `json:"effort,omitempty"`
	// BudgetTokens bounds thinking for providers that take a budget
	// (Anthropic budget_tokens, Gemini thinkingBudget); 0 means a default.
	BudgetTokens int `json:"budget_tokens,omitempty"`
}
