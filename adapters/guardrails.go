package adapters

import "encoding/json"

// Guardrails are an agent's input and output rules, applied by the
// runtime for every dialect. The zero value checks nothing.
type Guardrails struct {
	// DenyPatterns block a request whose input matches one (400
	// guardrail_blocked naming the rule), and an answer that matches one.
	DenyPatterns []GuardRule `json:"deny_patterns,omitempty"`
	// RedactPatterns replace their matches by [REDACTED_<NAME>] (the
	// rule's name, upper-cased) before the model sees the input and
	// before the client sees the answer.
	RedactPatterns []GuardRule `json:"redact_patterns,omitempty"`
	// RedactPII names the kinds of personal data redacted from the input
	// and the answer: "email", "phone", "card" (payment card numbers that
	// pass the Luhn check). They become [REDACTED_EMAIL], [REDACTED_PHONE]
	// and [REDACTED_CARD].
	RedactPII []string `json:"redact_pii,omitempty"`
	// MaxInputChars bounds the characters of a request's new messages; 0
	// means no bound.
	MaxInputChars int `json:"max_input_chars,omitempty"`
	// OutputJSONSchema, when set, requires the answer to be JSON matching
	// this schema. An answer that does not is sent back to the model once
	// with the validation error; a second miss fails the run.
	OutputJSONSchema json.RawMessage `json:"output_json_schema,omitempty"`
}

// The places a GuardRule applies to.
const (
	GuardBoth   = ""
	GuardInput  = "input"
	GuardOutput = "output"
)

// GuardRule is a named regular expression (RE2 syntax).
type GuardRule struct {
	Name    string `json:"name"`
	Pattern string `json:"pattern"`
	// AppliesTo is "input", "output" or empty for both.
	AppliesTo string `json:"applies_to,omitempty"`
}

// Knowledge attaches knowledge sources to an agent (RAG): the chunks of
// their documents that best match the caller's message join the context
// as a system-prompt section, and the run reports them as its sources.
type Knowledge struct {
	// Sources are knowledge source ids within the caller's tenant.
	Sources []string `json:"sources"`
	// TopK is how many chunks are retrieved; 0 means the runtime's
	// default.
	TopK int `json:"top_k,omitempty"`
	// MinScore drops chunks scoring below it (cosine similarity when
	// ranked by embeddings, BM25 otherwise); 0 keeps every hit.
	MinScore float64 `json:"min_score,omitempty"`
	// EmbeddingModel embeds the query; empty means the model the
	// sources' documents were embedded with. Without embeddings chunks
	// are ranked by keywords (BM25).
	EmbeddingModel string `json:"embedding_model,omitempty"`
}
