package responses

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine/toolloop"
)

// header holds the fields of a response object fixed before the run.
type header struct {
	id, model  string
	created    int64
	previousID string
	// conversation is the conversation the response is answered in.
	conversation string
	// version is the agent version that answers; 0 is the working copy.
	version int
	store   bool
	// sampling is the effective sampling: the agent's, with the request's
	// overrides.
	sampling adapters.Sampling
	echo     echo
}

type itemKind uint8

const (
	kindMessage itemKind = iota + 1
	kindReasoning
	kindCall
)

// item is one output item.
type item struct {
	kind itemKind
	id   string
	text []byte // a message's or a reasoning item's text
	call adapters.ToolCall
}

// builder folds a run's canonical events into a response object and,
// when streaming, writes the Responses event sequence as they come: the
// streamed events and the final object are made from the same items, so
// a stream always adds up to the non-streamed answer.
type builder struct {
	h   header
	sse *dialects.SSE // nil when not streaming
	// summary shows reasoning as summary_text (reasoning.summary was set)
	// rather than reasoning_text.
	summary     bool
	seq         int64
	items       []*item
	open        *item
	usage       *adapters.Usage
	paused      bool
	finish      string
	completedAt int64
	began       bool
	now         func() int64
	// onUsage runs when the run's usage arrives: the answer is complete,
	// its turn is about to be stored.
	onUsage func()
	// cited are the knowledge chunks the answer cites, known once the run
	// returns: the message's output_text parts annotate them.
	cited []adapters.Source
	// calls are the function_call items whose arguments are streaming,
	// by call id, until their whole call arrives.
	calls map[string]*item
	buf   []byte
}

func newBuilder(h header, summary bool, sse *dialects.SSE, now func() int64) *builder {
	return &builder{h: h, summary: summary, sse: sse, now: now}
}

// emit consumes one canonical event.
func (b *builder) emit(ev adapters.Event) error {
	if ev.Type == adapters.EventError || ev.Type == adapters.EventToolResult {
		return nil // errors come back from the run; results of tools it ran are its own
	}
	if err := b.begin(); err != nil {
		return err
	}
	switch ev.Type {
	case adapters.EventThinking:
		if ev.Text == "" {
			return nil // a signature alone: nothing for the client
		}
		return b.appendText(kindReasoning, ev.Text)
	case adapters.EventDelta:
		if ev.Text == "" {
			return nil
		}
		return b.appendText(kindMessage, ev.Text)
	case adapters.EventToolCallDelta:
		if ev.Executed || ev.ToolCall == nil || b.sse == nil {
			return nil // agentgate runs it; or the whole call will do
		}
		return b.callDelta(ev.ToolCall)
	case adapters.EventToolCall:
		if ev.Executed || ev.ToolCall == nil {
			return nil // agentgate runs it; the client must not
		}
		if it := b.calls[ev.ToolCall.ID]; it != nil {
			delete(b.calls, ev.ToolCall.ID)
			it.call = *ev.ToolCall
			return b.endCall(it)
		}
		return b.addCall(*ev.ToolCall)
	case adapters.EventPaused:
		b.paused = true
	case adapters.EventUsage:
		u := *ev.Usage
		b.usage = &u
		b.completedAt = b.now()
		if len(b.items) == 0 {
			// An empty answer is still a message.
			if err := b.openItem(kindMessage); err != nil {
				return err
			}
		}
		if b.onUsage != nil {
			b.onUsage()
		}
	case adapters.EventDone:
		// The open item ends when the run returns (end), with the
		// sources its answer cites.
		b.finish = ev.FinishReason
	}
	return nil
}

// end closes the open item once the run returned res.
func (b *builder) end(res *toolloop.Result) error {
	if res != nil {
		for _, s := range res.Sources {
			if s.Cited {
				b.cited = append(b.cited, s)
			}
		}
	}
	return b.closeOpen()
}

// appendAnnotations writes the annotations of an output_text part holding
// text: a file_citation for each cited knowledge chunk the text names, at
// the character index of its "[chunk id]" marker (of the bare id when the
// brackets are missing).
func (b *builder) appendAnnotations(d []byte, text string) []byte {
	d = append(d, '[')
	first := true
	for _, s := range b.cited {
		at := strings.Index(text, "["+s.ChunkID+"]")
		if at < 0 {
			if at = strings.Index(text, s.ChunkID); at < 0 {
				continue
			}
		}
		if !first {
			d = append(d, ',')
		}
		first = false
		d = append(d, `{"type":"file_citation","file_id":`...)
		d = dialects.AppendString(d, s.DocumentID)
		d = append(d, `,"filename":`...)
		d = dialects.AppendString(d, s.Title)
		d = append(d, `,"index":`...)
		d = strconv.AppendInt(d, int64(utf8.RuneCountInString(text[:at])), 10)
		d = append(d, '}')
	}
	return append(d, ']')
}

// status is the response's status once the run ended, and why it is
// incomplete when it is.
func (b *builder) status() (string, string) {
	switch {
	case b.paused || b.finish == toolloop.StatusPaused:
		return "incomplete", "tool_confirmation_required"
	case b.finish == "length":
		return "incomplete", "max_output_tokens"
	case b.finish == "content_filter":
		return "incomplete", "content_filter"
	case b.finish == toolloop.StatusMaxIterations:
		return "incomplete", "max_tool_iterations"
	}
	return "completed", ""
}

// begin sends response.created and response.in_progress, once, when the
// first event of the run arrives: failures before it are still answered
// with an HTTP status.
func (b *builder) begin() error {
	if b.began {
		return nil
	}
	b.began = true
	if b.sse == nil {
		return nil
	}
	obj := b.render("in_progress", "", nil)
	for _, typ := range []string{"response.created", "response.in_progress"} {
		d := b.head(typ)
		d = append(d, `,"response":`...)
		d = append(d, obj...)
		if err := b.send(typ, d); err != nil {
			return err
		}
	}
	return nil
}

// head starts an event's data: {"type":…,"sequence_number":…
func (b *builder) head(typ string) []byte {
	d := append(b.buf[:0], `{"type":"`...)
	d = append(d, typ...)
	d = append(d, `","sequence_number":`...)
	return strconv.AppendInt(d, b.seq, 10)
}

// send closes an event's data and writes it.
func (b *builder) send(typ string, d []byte) error {
	d = append(d, '}')
	b.buf = d
	b.seq++
	return b.sse.Event(typ, d)
}

// ref appends an item's item_id and output_index.
func (b *builder) ref(d []byte, it *item) []byte {
	d = append(d, `,"item_id":`...)
	d = dialects.AppendString(d, it.id)
	return b.index(d, it)
}

func (b *builder) index(d []byte, it *item) []byte {
	d = append(d, `,"output_index":`...)
	for i, x := range b.items {
		if x == it {
			return strconv.AppendInt(d, int64(i), 10)
		}
	}
	return append(d, '0')
}

// openItem starts an item of kind; streaming, it announces it and its
// first part.
func (b *builder) openItem(kind itemKind) error {
	it := &item{kind: kind}
	switch kind {
	case kindMessage:
		it.id = adapters.NewID("msg_")
	case kindReasoning:
		it.id = adapters.NewID("rs_")
	}
	b.items = append(b.items, it)
	b.open = it
	if b.sse == nil {
		return nil
	}
	if err := b.itemEvent("response.output_item.added", it, false); err != nil {
		return err
	}
	var typ string
	d := []byte(nil)
	switch {
	case kind == kindMessage:
		typ = "response.content_part.added"
		d = b.ref(b.head(typ), it)
		d = append(d, `,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}`...)
	case b.summary:
		typ = "response.reasoning_summary_part.added"
		d = b.ref(b.head(typ), it)
		d = append(d, `,"summary_index":0,"part":{"type":"summary_text","text":""}`...)
	default:
		typ = "response.content_part.added"
		d = b.ref(b.head(typ), it)
		d = append(d, `,"content_index":0,"part":{"type":"reasoning_text","text":""}`...)
	}
	return b.send(typ, d)
}

// itemEvent sends output_item.added (the item as it starts) or
// output_item.done (as it ends).
func (b *builder) itemEvent(typ string, it *item, done bool) error {
	d := b.index(b.head(typ), it)
	d = append(d, `,"item":`...)
	d = b.appendItem(d, it, done, "completed")
	return b.send(typ, d)
}

// appendText adds text to the open item of kind, opening one if needed.
func (b *builder) appendText(kind itemKind, text string) error {
	if b.open == nil || b.open.kind != kind {
		if err := b.closeOpen(); err != nil {
			return err
		}
		if err := b.openItem(kind); err != nil {
			return err
		}
	}
	it := b.open
	it.text = append(it.text, text...)
	if b.sse == nil {
		return nil
	}
	var typ string
	var d []byte
	switch {
	case kind == kindMessage:
		typ = "response.output_text.delta"
		d = b.ref(b.head(typ), it)
		d = append(d, `,"content_index":0,"delta":`...)
		d = dialects.AppendString(d, text)
		d = append(d, `,"logprobs":[]`...)
	case b.summary:
		typ = "response.reasoning_summary_text.delta"
		d = b.ref(b.head(typ), it)
		d = append(d, `,"summary_index":0,"delta":`...)
		d = dialects.AppendString(d, text)
	default:
		typ = "response.reasoning_text.delta"
		d = b.ref(b.head(typ), it)
		d = append(d, `,"content_index":0,"delta":`...)
		d = dialects.AppendString(d, text)
	}
	return b.send(typ, d)
}

// closeOpen ends the open message or reasoning item.
func (b *builder) closeOpen() error {
	it := b.open
	if it == nil {
		return nil
	}
	b.open = nil
	if b.sse == nil {
		return nil
	}
	text := string(it.text)
	var steps [2]struct {
		typ  string
		tail []byte
	}
	switch {
	case it.kind == kindMessage:
		steps[0].typ = "response.output_text.done"
		steps[0].tail = append(dialects.AppendString([]byte(`,"content_index":0,"text":`), text), `,"logprobs":[]`...)
		if len(b.cited) > 0 {
			steps[0].tail = b.appendAnnotations(append(steps[0].tail, `,"annotations":`...), text)
		}
		steps[1].typ = "response.content_part.done"
		steps[1].tail = b.appendTextPart([]byte(`,"content_index":0,"part":`), "output_text", text)
	case b.summary:
		steps[0].typ = "response.reasoning_summary_text.done"
		steps[0].tail = dialects.AppendString([]byte(`,"summary_index":0,"text":`), text)
		steps[1].typ = "response.reasoning_summary_part.done"
		steps[1].tail = b.appendTextPart([]byte(`,"summary_index":0,"part":`), "summary_text", text)
	default:
		steps[0].typ = "response.reasoning_text.done"
		steps[0].tail = dialects.AppendString([]byte(`,"content_index":0,"text":`), text)
		steps[1].typ = "response.content_part.done"
		steps[1].tail = b.appendTextPart([]byte(`,"content_index":0,"part":`), "reasoning_text", text)
	}
	for _, s := range steps {
		d := b.ref(b.head(s.typ), it)
		if err := b.send(s.typ, append(d, s.tail...)); err != nil {
			return err
		}
	}
	return b.itemEvent("response.output_item.done", it, true)
}

// addCall adds a function_call item the client must run; streaming, it
// is announced, its arguments sent and it is ended at once.
func (b *builder) addCall(tc adapters.ToolCall) error {
	it, err := b.startCall(tc)
	if err != nil || b.sse == nil {
		return err
	}
	if err := b.argumentsDelta(it, tc.Arguments); err != nil {
		return err
	}
	return b.endCall(it)
}

// callDelta streams a piece of a function call: its first announces the
// item, each sends more of its arguments.
func (b *builder) callDelta(tc *adapters.ToolCall) error {
	it := b.calls[tc.ID]
	if it == nil {
		var err error
		if it, err = b.startCall(adapters.ToolCall{ID: tc.ID, Name: tc.Name}); err != nil {
			return err
		}
		if b.calls == nil {
			b.calls = map[string]*item{}
		}
		b.calls[tc.ID] = it
	}
	return b.argumentsDelta(it, tc.Arguments)
}

// startCall adds a function_call item; streaming, it is announced.
func (b *builder) startCall(tc adapters.ToolCall) (*item, error) {
	if err := b.closeOpen(); err != nil {
		return nil, err
	}
	it := &item{kind: kindCall, id: adapters.NewID("fc_"), call: tc}
	b.items = append(b.items, it)
	if b.sse == nil {
		return it, nil
	}
	return it, b.itemEvent("response.output_item.added", it, false)
}

// argumentsDelta sends more of a streaming call's arguments.
func (b *builder) argumentsDelta(it *item, args string) error {
	if args == "" {
		return nil
	}
	typ := "response.function_call_arguments.delta"
	d := b.ref(b.head(typ), it)
	d = dialects.AppendString(append(d, `,"delta":`...), args)
	return b.send(typ, d)
}

// endCall ends a streamed function_call item, now whole.
func (b *builder) endCall(it *item) error {
	tc := it.call
	typ := "response.function_call_arguments.done"
	d := b.ref(b.head(typ), it)
	d = dialects.AppendString(append(d, `,"name":`...), tc.Name)
	d = dialects.AppendString(append(d, `,"arguments":`...), tc.Arguments)
	if err := b.send(typ, d); err != nil {
		return err
	}
	return b.itemEvent("response.output_item.done", it, true)
}

// appendTextPart writes a content part holding text.
func (b *builder) appendTextPart(d []byte, typ, text string) []byte {
	d = append(d, `{"type":"`...)
	d = append(d, typ...)
	d = append(d, '"')
	if typ == "output_text" {
		d = b.appendAnnotations(append(d, `,"annotations":`...), text)
		d = append(d, `,"logprobs":[]`...)
	}
	d = append(d, `,"text":`...)
	d = dialects.AppendString(d, text)
	return append(d, '}')
}

// appendItem writes an output item: as it starts (done false: in
// progress, no content yet) or complete with status.
func (b *builder) appendItem(d []byte, it *item, done bool, status string) []byte {
	if !done {
		status = "in_progress"
	}
	d = append(d, `{"id":`...)
	d = dialects.AppendString(d, it.id)
	switch it.kind {
	case kindMessage:
		d = append(d, `,"type":"message","status":"`...)
		d = append(d, status...)
		d = append(d, `","content":[`...)
		if done {
			d = b.appendTextPart(d, "output_text", string(it.text))
		}
		d = append(d, `],"role":"assistant"`...)
	case kindReasoning:
		d = append(d, `,"type":"reasoning","summary":[`...)
		if done && b.summary {
			d = b.appendTextPart(d, "summary_text", string(it.text))
		}
		d = append(d, ']')
		if !b.summary {
			d = append(d, `,"content":[`...)
			if done {
				d = b.appendTextPart(d, "reasoning_text", string(it.text))
			}
			d = append(d, ']')
		}
	case kindCall:
		d = append(d, `,"type":"function_call","status":"`...)
		d = append(d, status...)
		d = append(d, `","arguments":`...)
		if done {
			d = dialects.AppendString(d, it.call.Arguments)
		} else {
			d = append(d, `""`...)
		}
		d = append(d, `,"call_id":`...)
		d = dialects.AppendString(d, it.call.ID)
		d = append(d, `,"name":`...)
		d = dialects.AppendString(d, it.call.Name)
	}
	return append(d, '}')
}

// object is the response object's JSON shape: OpenAI's fields, in
// OpenAI's order, and agentgate's version.
type object struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	CreatedAt          int64             `json:"created_at"`
	Status             string            `json:"status"`
	Background         bool              `json:"background"`
	CompletedAt        *int64            `json:"completed_at"`
	Error              *objectError      `json:"error"`
	IncompleteDetails  *incomplete       `json:"incomplete_details"`
	Instructions       *string           `json:"instructions"`
	MaxOutputTokens    *int              `json:"max_output_tokens"`
	MaxToolCalls       *int              `json:"max_tool_calls"`
	Model              string            `json:"model"`
	Output             []json.RawMessage `json:"output"`
	ParallelToolCalls  bool              `json:"parallel_tool_calls"`
	PreviousResponseID *string           `json:"previous_response_id"`
	Reasoning          reasoningEcho     `json:"reasoning"`
	ServiceTier        string            `json:"service_tier"`
	Store              bool              `json:"store"`
	Temperature        *float64          `json:"temperature"`
	Text               json.RawMessage   `json:"text"`
	ToolChoice         json.RawMessage   `json:"tool_choice"`
	Tools              json.RawMessage   `json:"tools"`
	TopP               *float64          `json:"top_p"`
	Truncation         string            `json:"truncation"`
	Usage              *usage            `json:"usage"`
	User               *string           `json:"user"`
	Metadata           json.RawMessage   `json:"metadata"`
	// Conversation is the conversation the response was answered in
	// (the request's conversation), or null.
	Conversation *conversationRef `json:"conversation"`
	// Version is the published agent version that answered; null when the
	// agent's working copy did (nothing published, or a routed model).
	Version *int `json:"version"`
}

type conversationRef struct {
	ID string `json:"id"`
}

// truncation is the response's truncation strategy: disabled unless the
// request said auto.
func truncation(s string) string {
	if s == "" {
		return "disabled"
	}
	return s
}

type objectError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type incomplete struct {
	Reason string `json:"reason"`
}

type reasoningEcho struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

type usage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

var (
	defaultText       = json.RawMessage(`{"format":{"type":"text"}}`)
	defaultToolChoice = json.RawMessage(`"auto"`)
	emptyArray        = json.RawMessage(`[]`)
	emptyObject       = json.RawMessage(`{}`)
)

// render writes the response object with status (and why it is
// incomplete, or the failure).
func (b *builder) render(status, reason string, fail *adapters.Error) []byte {
	h := &b.h
	e := &h.echo
	o := object{ID: h.id, Object: "response", CreatedAt: h.created, Status: status, Model: h.model,
		Instructions: e.instructions, MaxOutputTokens: h.sampling.MaxTokens, ParallelToolCalls: e.parallel,
		Reasoning: reasoningEcho{Effort: e.effort, Summary: e.summary}, ServiceTier: "default", Store: h.store,
		Temperature: h.sampling.Temperature, Text: e.text, ToolChoice: e.toolChoice, Tools: e.tools, TopP: h.sampling.TopP,
		Truncation: truncation(e.truncation), User: e.user, Metadata: e.metadata, Output: make([]json.RawMessage, 0, len(b.items))}
	if o.Text == nil {
		o.Text = defaultText
	}
	if o.ToolChoice == nil {
		o.ToolChoice = defaultToolChoice
	}
	if o.Tools == nil {
		o.Tools = emptyArray
	}
	if o.Metadata == nil {
		o.Metadata = emptyObject
	}
	if h.previousID != "" {
		o.PreviousResponseID = &h.previousID
	}
	if h.conversation != "" {
		o.Conversation = &conversationRef{ID: h.conversation}
	}
	if h.version > 0 {
		v := h.version
		o.Version = &v
	}
	if status == "in_progress" {
		return marshal(&o)
	}
	if reason != "" {
		o.IncompleteDetails = &incomplete{Reason: reason}
	}
	if fail != nil {
		o.Error = &objectError{Code: fail.CodeOrDefault(), Message: fail.Message}
	}
	if status != "failed" && b.completedAt != 0 {
		at := b.completedAt
		o.CompletedAt = &at
	}
	itemStatus := "completed"
	if status != "completed" {
		itemStatus = "incomplete"
	}
	for _, it := range b.items {
		s := itemStatus
		if it.kind == kindCall {
			s = "completed"
		}
		o.Output = append(o.Output, b.appendItem(nil, it, true, s))
	}
	if u := b.usage; u != nil {
		o.Usage = &usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, TotalTokens: u.Total()}
		o.Usage.InputTokensDetails.CachedTokens = u.CachedTokens
		o.Usage.OutputTokensDetails.ReasoningTokens = u.ReasoningTokens
	}
	return marshal(&o)
}

// terminal sends the event that ends a stream: response.completed,
// response.incomplete or response.failed, with the final object.
func (b *builder) terminal(status string, obj []byte) error {
	typ := "response." + status
	d := b.head(typ)
	d = append(d, `,"response":`...)
	d = append(d, obj...)
	return b.send(typ, d)
}

// marshal encodes v without HTML escaping, as the streamed events are.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`{"error":{"message":"encoding response","type":"server_error","param":null,"code":"internal_error"}}`)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
