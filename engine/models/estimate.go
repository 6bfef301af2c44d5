package models

import (
	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/exchange"
	"github.com/tidwall/gjson"
)

// EstimateTokens approximates a token count from text length, used when an
// upstream reports no usage. Four bytes a token is the usual rule of thumb
// for English with BPE tokenizers; it over-counts slightly for code.
func EstimateTokens(text string) int {
	if text == "" {
		return 0
	}
	return (len(text) + 3) / 4
}

// EstimateRequestTokens approximates the prompt tokens of req.
func EstimateRequestTokens(req *adapters.Request) int {
	n := EstimateTokens(req.System)
	for i := range req.Messages {
		m := &req.Messages[i]
		for _, p := range m.Parts {
			switch p.Type {
			case adapters.PartImage:
				n += 85 // OpenAI's flat cost of a low-detail image
				continue
			case adapters.PartDocument:
				// A PDF's base64 is 4/3 of its bytes; text pages are
				// roughly as dense as their source.
				n += EstimateTokens(p.Data)*3/4 + EstimateTokens(p.Title) + EstimateTokens(p.Context)
			}
			n += EstimateTokens(p.Text)
		}
		for _, tc := range m.ToolCalls {
			n += EstimateTokens(tc.Arguments) + EstimateTokens(tc.Name)
		}
		n += 4 // role and framing
	}
	return n
}

// Admission reserves a call's output before it runs: the maximum the
// call names, at most maxOutputReserve (one request must not reserve a
// month), else defaultOutputReserve.
const (
	defaultOutputReserve = 1024
	maxOutputReserve     = 32768
)

// OutputReserve is the output admission reserves for a call whose
// maximum is max (nil: none named).
func OutputReserve(max *int) int64 {
	if max == nil || *max <= 0 {
		return defaultOutputReserve
	}
	return int64(min(*max, maxOutputReserve))
}

// EstimatePrompt approximates the prompt tokens of req as it is sent: its
// system prompt and messages (EstimateRequestTokens) and the definitions
// of the tools it offers.
func EstimatePrompt(req *adapters.Request) int {
	n := EstimateRequestTokens(req)
	for i := range req.Tools {
		t := &req.Tools[i]
		n += EstimateTokens(t.Name) + EstimateTokens(t.Description) + EstimateTokens(string(t.Parameters))
	}
	return n
}

// EstimateCall is what admission reserves for a run of call that sends
// req (decoded by its dialect, its agent resolved, its history loaded):
// req's prompt and the most it may generate, at the prices of the models
// that may answer it (the call's model, else its agent's, then the
// agent's fallbacks).
func EstimateCall(call *adapters.Call, req *adapters.Request) exchange.Estimate {
	model := call.Model
	if model == "" {
		model = call.Agent.Model
	}
	return exchange.Estimate{Input: int64(EstimatePrompt(req)), Output: OutputReserve(req.MaxTokens),
		Models: append([]string{model}, call.Agent.Fallbacks...)}
}

// EstimateBody is what admission reserves for a request passed upstream
// as it came, whose JSON body (nil when it is not JSON, or not read: an
// upload) the passthrough has read: its bytes / 4 for the prompt, and the
// maximum output it names. model is the model it names ("" for none).
func EstimateBody(body []byte, model string) exchange.Estimate {
	est := exchange.Estimate{Input: int64(len(body)+3) / 4, Output: defaultOutputReserve}
	if model != "" {
		est.Models = []string{model}
	}
	for _, f := range [...]string{"max_completion_tokens", "max_tokens", "max_output_tokens"} {
		if v := gjson.GetBytes(body, f); v.Type == gjson.Number && v.Int() > 0 {
			est.Output = min(v.Int(), maxOutputReserve)
			break
		}
	}
	return est
}

// EstimateEmbedding is what admission reserves for embedding inputs with
// model: the inputs' tokens; an embedding generates none.
func EstimateEmbedding(model string, inputs []string) exchange.Estimate {
	var n int64
	for _, in := range inputs {
		n += int64(EstimateTokens(in))
	}
	return exchange.Estimate{Input: n, Models: []string{model}}
}
