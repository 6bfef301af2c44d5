package models

import "github.com/agentgate/agentgate/adapters"

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
