// Package mock is a deterministic provider for demos, load tests and users'
// CI: it answers without any network, in the same event sequence a real
// provider produces. It registers itself as provider type "mock".
//
// What it answers:
//
//   - With tools offered and the last user message naming one (and the last
//     message not a tool result): one call to that tool, ID
//     "call_mock_<n>", with the first JSON object in the user's text as
//     arguments ("{}" when there is none), finish reason tool_calls.
//   - Otherwise the configured "reply"; or, after tool results, "The tool
//     <name> returned: <content>."; or "This is a mock reply to: <last user
//     text>".
//   - With reasoning asked for, a Thinking text first.
//   - "[mock:error NNN]" in the last user message fails the call as the
//     openai provider would report an upstream HTTP NNN.
//
// Streams are sent word by word, "delay" apart (default 20ms; 0 for
// non-streamed calls). Usage counts whitespace-separated words.
package mock

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/openai"
	"github.com/agentgate/agentgate/internal/clock"
)

func init() {
	adapters.RegisterProvider("mock", New)
}

const (
	// DefaultStreamDelay is the pause between streamed words.
	DefaultStreamDelay = 20 * time.Millisecond
	// ReasoningText is the thinking the mock emits when asked to reason.
	ReasoningText = "Mock reasoning: considering the request step by step."
	// EmbeddingDims is the size of the mock's embedding vectors.
	EmbeddingDims = 64
	// maxEcho bounds, in runes, the user text echoed back.
	maxEcho = 200
)

// Provider is the mock provider. It is safe for concurrent use.
type Provider struct {
	delay time.Duration
	reply string
	clock clock.Clock
}

var (
	_ adapters.Provider = (*Provider)(nil)
	_ adapters.Embedder = (*Provider)(nil)
)

// New builds a mock provider. Options: "delay", a Go duration between
// streamed words (default 20ms for streams; non-streamed answers are
// immediate), and "reply", a fixed answer text.
func New(cfg adapters.ProviderConfig) (adapters.Provider, error) {
	return NewProvider(cfg)
}

// NewProvider is New with the concrete type.
func NewProvider(cfg adapters.ProviderConfig) (*Provider, error) {
	p := &Provider{delay: DefaultStreamDelay, reply: cfg.Options["reply"], clock: cfg.Clock}
	if p.clock == nil {
		p.clock = clock.Real{}
	}
	if v, ok := cfg.Options["delay"]; ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("mock provider %q: option delay: %v", cfg.Name, err)
		}
		if d < 0 {
			return nil, fmt.Errorf("mock provider %q: option delay: negative duration %q", cfg.Name, v)
		}
		p.delay = d
	}
	return p, nil
}

// Chat answers req deterministically.
func (p *Provider) Chat(ctx context.Context, req *adapters.Request, emit adapters.Emit) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	userText := lastUserText(req.Messages)
	if e := errorTrigger(userText, req.Model, p.clock); e != nil {
		return e
	}
	model := req.Model
	if model == "" {
		model = "mock"
	}

	var thinking, answer string
	if req.Reasoning != nil {
		thinking = ReasoningText
	}
	lastIsTool := len(req.Messages) > 0 && req.Messages[len(req.Messages)-1].Role == adapters.RoleTool
	var call *adapters.ToolCall
	if !lastIsTool {
		if tool := mentionedTool(req.Tools, userText); tool != "" {
			call = &adapters.ToolCall{
				ID:        "call_mock_" + strconv.Itoa(priorToolCalls(req.Messages)+1),
				Name:      tool,
				Arguments: firstJSONObject(userText),
			}
		}
	}
	if call == nil {
		switch {
		case p.reply != "":
			answer = p.reply
		case lastIsTool:
			answer = toolResultsReply(req.Messages)
		default:
			answer = strings.TrimSpace("This is a mock reply to: " + truncate(strings.TrimSpace(userText), maxEcho))
		}
	}

	delay := time.Duration(0)
	if req.Stream {
		delay = p.delay
	}
	if err := emit(adapters.Event{Type: adapters.EventStart, Model: model}); err != nil {
		return err
	}
	w := &words{ctx: ctx, emit: emit, stream: req.Stream, delay: delay}
	if err := w.send(adapters.EventThinking, thinking); err != nil {
		return err
	}
	if err := w.send(adapters.EventDelta, answer); err != nil {
		return err
	}
	finish := "stop"
	if call != nil {
		finish = "tool_calls"
		if err := emit(adapters.Event{Type: adapters.EventToolCall, ToolCall: call}); err != nil {
			return err
		}
	}
	thinkingWords := countWords(thinking)
	usage := &adapters.Usage{
		InputTokens:     max(1, inputWords(req)),
		OutputTokens:    thinkingWords + countWords(answer),
		ReasoningTokens: thinkingWords,
	}
	if err := emit(adapters.Event{Type: adapters.EventUsage, Usage: usage}); err != nil {
		return err
	}
	return emit(adapters.Event{Type: adapters.EventDone, Model: model, FinishReason: finish})
}

// words emits text as one event, or word by word when streaming.
type words struct {
	ctx    context.Context
	emit   adapters.Emit
	stream bool
	delay  time.Duration
	sent   int // words sent so far, across texts
}

func (w *words) send(typ adapters.EventType, text string) error {
	if text == "" {
		return nil
	}
	if !w.stream {
		w.sent++
		return w.emit(adapters.Event{Type: typ, Text: text})
	}
	for _, piece := range splitWords(text) {
		if w.sent > 0 && w.delay > 0 {
			t := time.NewTimer(w.delay)
			select {
			case <-w.ctx.Done():
				t.Stop()
				return w.ctx.Err()
			case <-t.C:
			}
		} else if err := w.ctx.Err(); err != nil {
			return err
		}
		w.sent++
		if err := w.emit(adapters.Event{Type: typ, Text: piece}); err != nil {
			return err
		}
	}
	return nil
}

// splitWords cuts text into pieces of one word each, every piece but the
// last keeping the whitespace that follows its word, so the pieces join
// back into text exactly.
func splitWords(text string) []string {
	var out []string
	start, i := 0, 0
	// Leading whitespace belongs to the first word.
	for i < len(text) {
		r, n := utf8.DecodeRuneInString(text[i:])
		if !unicode.IsSpace(r) {
			break
		}
		i += n
	}
	for i < len(text) {
		// the word
		for i < len(text) {
			r, n := utf8.DecodeRuneInString(text[i:])
			if unicode.IsSpace(r) {
				break
			}
			i += n
		}
		// its trailing whitespace
		for i < len(text) {
			r, n := utf8.DecodeRuneInString(text[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += n
		}
		out = append(out, text[start:i])
		start = i
	}
	if start < len(text) {
		out = append(out, text[start:])
	}
	return out
}

func countWords(s string) int { return len(strings.Fields(s)) }

// inputWords counts the words of the system prompt and every message.
func inputWords(req *adapters.Request) int {
	n := countWords(req.System)
	for i := range req.Messages {
		n += countWords(req.Messages[i].Text())
	}
	return n
}

func lastUserText(msgs []adapters.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == adapters.RoleUser {
			return msgs[i].Text()
		}
	}
	return ""
}

// mentionedTool returns the longest tool name in text (the first declared
// on ties), or "".
func mentionedTool(tools []adapters.Tool, text string) string {
	best := ""
	for _, t := range tools {
		if t.Name != "" && len(t.Name) > len(best) && strings.Contains(text, t.Name) {
			best = t.Name
		}
	}
	return best
}

// priorToolCalls counts the tool calls already in the conversation, so
// each new mock call ID is unique within it.
func priorToolCalls(msgs []adapters.Message) int {
	n := 0
	for i := range msgs {
		n += len(msgs[i].ToolCalls)
	}
	return n
}

// firstJSONObject returns the first valid JSON object embedded in text, or
// "{}".
func firstJSONObject(text string) string {
	for i := 0; i < len(text); i++ {
		if text[i] != '{' {
			continue
		}
		if end := objectEnd(text[i:]); end > 0 && json.Valid([]byte(text[i:i+end])) {
			return text[i : i+end]
		}
	}
	return "{}"
}

// objectEnd returns the length of the brace-balanced prefix of s (which
// starts with '{'), skipping braces inside strings, or 0.
func objectEnd(s string) int {
	depth, inString, escaped := 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return 0
}

// toolResultsReply describes the tool results that end the conversation.
func toolResultsReply(msgs []adapters.Message) string {
	first := len(msgs)
	for first > 0 && msgs[first-1].Role == adapters.RoleTool {
		first--
	}
	parts := make([]string, 0, len(msgs)-first)
	for _, m := range msgs[first:] {
		parts = append(parts, "The tool "+toolName(msgs, &m)+" returned: "+truncate(strings.TrimSpace(m.Text()), maxEcho)+".")
	}
	return strings.Join(parts, " ")
}

// toolName finds the name of the call a tool message answers, falling back
// to the message's name and then to the call ID.
func toolName(msgs []adapters.Message, m *adapters.Message) string {
	if m.ToolCallID != "" {
		for i := range msgs {
			for _, c := range msgs[i].ToolCalls {
				if c.ID == m.ToolCallID && c.Name != "" {
					return c.Name
				}
			}
		}
	}
	if m.Name != "" {
		return m.Name
	}
	if m.ToolCallID != "" {
		return m.ToolCallID
	}
	return "unknown"
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for range n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

// errorTrigger returns the error asked for by "[mock:error NNN]", mapped as
// the openai provider maps an upstream HTTP NNN arriving at clk's time.
func errorTrigger(text, model string, clk clock.Clock) *adapters.Error {
	const marker = "[mock:error "
	i := strings.Index(text, marker)
	if i < 0 {
		return nil
	}
	rest := text[i+len(marker):]
	j := strings.IndexByte(rest, ']')
	if j < 0 {
		return nil
	}
	status, err := strconv.Atoi(strings.TrimSpace(rest[:j]))
	if err != nil || status < 400 || status > 599 {
		return nil
	}
	header := http.Header{}
	var body string
	switch status {
	case http.StatusNotFound:
		body = `{"error":{"message":"The model ` + strconv.Quote(model) + ` does not exist (mock)","code":"model_not_found"}}`
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		header.Set("Retry-After", "1")
		body = `{"error":{"message":"mock error ` + strconv.Itoa(status) + `"}}`
	default:
		body = `{"error":{"message":"mock error ` + strconv.Itoa(status) + `"}}`
	}
	return openai.MapStatus(status, header, []byte(body), clk.Now())
}

// Embed returns, for each input, a 64-dimension bag of hashed words,
// L2-normalised (all zeros for an input without words). Usage counts the
// words.
func (p *Provider) Embed(ctx context.Context, model string, inputs []string) ([][]float32, adapters.Usage, error) {
	if err := ctx.Err(); err != nil {
		return nil, adapters.Usage{}, err
	}
	out := make([][]float32, len(inputs))
	var u adapters.Usage
	for i, in := range inputs {
		vec := make([]float32, EmbeddingDims)
		var acc [EmbeddingDims]float64
		for _, w := range strings.Fields(in) {
			u.InputTokens++
			tok := strings.ToLower(strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) }))
			if tok == "" {
				continue
			}
			h := fnv.New64a()
			_, _ = h.Write([]byte(tok))
			sum := h.Sum64()
			sign := 1.0
			if sum>>63 == 1 {
				sign = -1
			}
			acc[sum%EmbeddingDims] += sign
		}
		var norm float64
		for _, v := range acc {
			norm += v * v
		}
		if norm > 0 {
			norm = math.Sqrt(norm)
			for j, v := range acc {
				vec[j] = float32(v / norm)
			}
		}
		out[i] = vec
	}
	return out, u, nil
}
