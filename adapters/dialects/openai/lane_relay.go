package openai

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/internal/validjson"
	"github.com/tidwall/gjson"
)

// relayCompletion relays a non-streamed answer, which the provider has
// read and checked (JSON, a choice, no error), with the client's model.
func relayCompletion(w http.ResponseWriter, resp *http.Response, a *models.RawAnswer, model []byte) error {
	if isEventStream(resp.Header) {
		return errFraming(resp.StatusCode)
	}
	text, err := answerText(resp)
	if err != nil {
		return err
	}
	// One pass over the top level finds what gjson.Get would (the first
	// of each key).
	var m, choices, usage gjson.Result
	gjson.Parse(text).ForEach(func(k, v gjson.Result) bool {
		switch {
		case k.Str == "model" && !m.Exists():
			m = v
		case k.Str == "choices" && !choices.Exists():
			choices = v
		case k.Str == "usage" && !usage.Exists():
			usage = v
		}
		return true
	})
	if m.Type == gjson.String {
		a.Model = m.Str
	}
	choice := choices.Get("0")
	a.Finish = choice.Get("finish_reason").Str
	if u, ok := jsonUsage(usage); ok {
		a.Usage, a.HasUsage = u, true
	} else {
		msg := choice.Get("message")
		a.OutputBytes = len(msg.Get("content").Str) + len(msg.Get("reasoning_content").Str)
		msg.Get("tool_calls.#.function.arguments").ForEach(func(_, v gjson.Result) bool {
			a.OutputBytes += len(v.Str)
			return true
		})
	}
	a.Complete()
	if head, tail, ok := aroundModel(text, m, model); ok {
		dialects.WriteJSONText(w, http.StatusOK, head, string(model), tail)
	} else {
		dialects.WriteJSONText(w, http.StatusOK, text)
	}
	return nil
}

// answerText is a non-streamed answer's text: the provider's own when it
// hands it over (adapters.TextBody), else read from the body, whose
// length the provider knows.
func answerText(resp *http.Response) (string, error) {
	if tb, ok := resp.Body.(adapters.TextBody); ok {
		return tb.Text(), nil
	}
	b := make([]byte, max(resp.ContentLength, 0))
	if _, err := io.ReadFull(resp.Body, b); err != nil {
		return "", err
	}
	return string(b), nil
}

// aroundModel returns json (an object) split around its top-level model
// m, the parts the client gets before and after model (a JSON string),
// when m is a string other than model: the answer is relayed without a
// copy made to edit it.
func aroundModel(json string, m gjson.Result, model []byte) (head, tail string, ok bool) {
	if m.Type != gjson.String || m.Raw == string(model) || m.Index <= 0 || m.Index+len(m.Raw) > len(json) {
		return "", "", false
	}
	return json[:m.Index], json[m.Index+len(m.Raw):], true
}

// isEventStream reports whether an answer is an event stream.
func isEventStream(h http.Header) bool {
	return strings.HasPrefix(h.Get("Content-Type"), "text/event-stream")
}

// errFraming is the error of an upstream that answered in another framing
// than asked (a stream for a whole answer, or the reverse): the lane
// relays, it does not convert.
func errFraming(status int) *adapters.Error {
	return &adapters.Error{Kind: adapters.KindUpstream, UpstreamStatus: status,
		Message: "the upstream answered a streamed request with a whole answer, or the reverse"}
}

// maxRelayLine bounds one line of a relayed stream, as the providers
// bound an event.
const maxRelayLine = 32 << 20

// relayStream relays an event stream: each read's complete lines go to
// the client and are flushed at once, data events looked at on the way
// (eventRelay.data).
func relayStream(w http.ResponseWriter, resp *http.Response, a *models.RawAnswer, model []byte, stripUsage bool) error {
	if !isEventStream(resp.Header) {
		return errFraming(resp.StatusCode)
	}
	bufs := relayBuffers.Get().(*relayBuf)
	r := &eventRelay{w: w, rc: http.NewResponseController(w), a: a, model: model, stripUsage: stripUsage, status: resp.StatusCode,
		buf: bufs.in, out: bufs.out[:0]}
	err := r.run(resp.Body)
	// What was written has been copied into the connection's buffer:
	// the buffers serve the next stream, unless one grew past the usual.
	if len(r.buf) <= maxPooledRelayBuf && cap(r.out) <= maxPooledRelayBuf {
		bufs.in, bufs.out = r.buf, r.out[:0]
		relayBuffers.Put(bufs)
	}
	return err
}

// relayBuf is a stream relay's input and output buffers, reused from
// stream to stream (relayBuffers): a fresh pair per stream was most of
// what a relayed stream allocated.
type relayBuf struct{ in, out []byte }

// maxPooledRelayBuf bounds the buffers kept for reuse: those a huge
// event grew are left to the collector.
const maxPooledRelayBuf = 64 << 10

var relayBuffers = sync.Pool{New: func() any { return &relayBuf{in: make([]byte, 4096), out: make([]byte, 0, 1024)} }}

// eventRelay is one stream on its way to the client.
type eventRelay struct {
	w          http.ResponseWriter
	rc         *http.ResponseController // flushes w after each read
	a          *models.RawAnswer
	model      []byte // the client's model, a JSON string; nil leaves the upstream's
	stripUsage bool   // the client did not ask for stream usage
	status     int

	// buf[start:end] is read input not yet looked at; out what goes to
	// the client at the end of this read.
	buf        []byte
	start, end int
	out        []byte
	// outData: out holds a data event. Until one has gone out, nothing
	// does (comments only), so a failure before it can still be retried.
	outData   bool
	skipBlank bool // the blank line ending a dropped event goes too
	wrote     bool // the response has begun
	finished  bool // a chunk gave a finish_reason
	done      bool
}

func (r *eventRelay) run(body io.Reader) error {
	for !r.done {
		if r.end == len(r.buf) {
			if err := r.makeRoom(); err != nil {
				return r.fail(err)
			}
		}
		n, rerr := body.Read(r.buf[r.end:])
		r.end += n
		if err := r.lines(rerr == io.EOF); err != nil {
			return err
		}
		if err := r.flush(); err != nil {
			return err
		}
		if rerr == io.EOF {
			return r.ended()
		}
		if rerr != nil {
			if r.finished {
				return r.finish() // only the trailer was lost, as Chat takes it
			}
			return r.fail(rerr)
		}
	}
	return nil
}

// lines looks at every complete line read (and, at the end of the input,
// the last one).
func (r *eventRelay) lines(atEnd bool) error {
	for r.start < r.end && !r.done {
		rest := r.buf[r.start:r.end]
		i, size := lineEnd(rest, atEnd)
		if i < 0 {
			return nil
		}
		r.start += i + size
		line, eol := rest[:i], rest[i:i+size]
		if size == 0 {
			// The input ended inside this line: a data line is an event
			// if it is whole (Chat takes it so), lost if it is cut off.
			if isData(line) && !validjson.Bytes(dataPayload(line)) && !isDone(dataPayload(line)) {
				return nil
			}
			eol = []byte("\n\n")
		}
		if err := r.line(line, eol); err != nil {
			return err
		}
	}
	return nil
}

// isData reports whether a line is an event's data.
func isData(line []byte) bool { return bytes.HasPrefix(line, []byte("data:")) }

// dataPayload is a data line's value.
func dataPayload(line []byte) []byte { return bytes.TrimPrefix(line[len("data:"):], []byte(" ")) }

// lineEnd finds the end of the first line of b: its length and its
// terminator's (CRLF, LF or CR), or -1 when b holds no whole line yet. A
// CR at the end of b may start a CRLF: it waits for more, unless atEnd.
func lineEnd(b []byte, atEnd bool) (int, int) {
	for i, c := range b {
		switch c {
		case '\n':
			return i, 1
		case '\r':
			if i+1 < len(b) {
				if b[i+1] == '\n' {
					return i, 2
				}
				return i, 1
			}
			if atEnd {
				return i, 1
			}
			return -1, 0
		}
	}
	if atEnd && len(b) > 0 {
		return len(b), 0
	}
	return -1, 0
}

// maxPreData bounds what the relay holds before the first data event
// (comments, an event's other fields), which nothing may go out before.
// An upstream that sends more is failing, not slow: a keep-alive comment
// every few seconds reaches it after hours. Failing the attempt rather
// than dropping lines keeps the first event whole and, the response not
// having begun, lets the call be retried.
const maxPreData = 64 << 10

// line deals with one line and its terminator.
func (r *eventRelay) line(line, eol []byte) error {
	switch {
	case len(line) == 0:
		if r.skipBlank {
			r.skipBlank = false
			return nil
		}
	case isData(line):
		return r.data(line, eol)
	}
	r.out = append(append(r.out, line...), eol...)
	if !r.wrote && !r.outData && len(r.out) > maxPreData {
		return r.fail(&adapters.Error{Kind: adapters.KindUpstream, UpstreamStatus: r.status,
			Message: "upstream sent more than 64 KiB before its first event"})
	}
	return nil
}

// data deals with a data line: [DONE] ends the relay, an error event ends
// it with the canonical path's error, usage is read, the usage chunk a
// client did not ask for is dropped, and the model is the client's.
func (r *eventRelay) data(line, eol []byte) error {
	payload := dataPayload(line)
	if isDone(payload) {
		r.done = true
		r.out = append(r.out, "data: [DONE]\n\n"...)
		r.outData = true
		return nil
	}
	if bytes.Contains(payload, []byte(`"error"`)) {
		if ev := gjson.GetBytes(payload, "error"); ev.Exists() && ev.Type != gjson.Null {
			msg := ev.Str
			if ev.IsObject() {
				msg = ev.Get("message").String()
			}
			return r.fail(adapters.UpstreamReported(msg, r.status))
		}
	}
	r.a.OutputBytes += generatedBytes(payload)
	if valueFollows(payload, `"finish_reason"`, '"') {
		r.finished = true
		if i, j := stringValue(payload, `"finish_reason"`); i >= 0 {
			r.a.Finish = gjson.ParseBytes(payload[i:j]).Str
		}
	}
	if valueFollows(payload, `"usage"`, '{') {
		if u, ok := jsonUsage(gjson.GetBytes(payload, "usage")); ok {
			r.a.Usage, r.a.HasUsage = u, true
			if r.stripUsage && !hasChoices(payload) {
				r.skipBlank = true
				return nil
			}
		}
	} else if bytes.Contains(payload, []byte(`"x_groq"`)) {
		if u, ok := jsonUsage(gjson.GetBytes(payload, "x_groq.usage")); ok {
			r.a.Usage, r.a.HasUsage = u, true
		}
	}
	r.outData = true
	i, j := stringValue(payload, `"model"`)
	if i < 0 {
		r.out = append(append(r.out, line...), eol...)
		return nil
	}
	if r.a.Model == "" {
		if m := gjson.ParseBytes(payload[i:j]); m.Type == gjson.String {
			r.a.Model = m.Str
		}
	}
	if r.model == nil || bytes.Equal(payload[i:j], r.model) {
		r.out = append(append(r.out, line...), eol...)
		return nil
	}
	// The client's model, in place of the upstream's.
	r.out = append(r.out, line[:len(line)-len(payload)+i]...)
	r.out = append(r.out, r.model...)
	r.out = append(r.out, payload[j:]...)
	r.out = append(r.out, eol...)
	return nil
}

// isDone reports whether a data value is the stream's end.
func isDone(payload []byte) bool { return bytes.Equal(bytes.TrimSpace(payload), []byte("[DONE]")) }

// valueFollows reports whether key (quoted) appears in payload followed
// by a colon and a value starting with first, spaces allowed between.
func valueFollows(payload []byte, key string, first byte) bool {
	for rest := payload; ; {
		i := bytes.Index(rest, []byte(key))
		if i < 0 {
			return false
		}
		rest = bytes.TrimLeft(rest[i+len(key):], " \t")
		if len(rest) > 0 && rest[0] == ':' {
			rest = bytes.TrimLeft(rest[1:], " \t")
			if len(rest) > 0 && rest[0] == first {
				return true
			}
		}
	}
}

// stringValue finds key (quoted) in payload with a string value, and
// returns where that value, quotes included, begins and ends; -1 when
// there is none. Keys inside strings cannot match: their quotes are
// escaped.
func stringValue(payload []byte, key string) (int, int) {
	i := bytes.Index(payload, []byte(key))
	if i < 0 {
		return -1, -1
	}
	k := i + len(key)
	for k < len(payload) && (payload[k] == ' ' || payload[k] == '\t') {
		k++
	}
	if k >= len(payload) || payload[k] != ':' {
		return -1, -1
	}
	k++
	for k < len(payload) && (payload[k] == ' ' || payload[k] == '\t') {
		k++
	}
	if k >= len(payload) || payload[k] != '"' {
		return -1, -1
	}
	for e := k + 1; e < len(payload); e++ {
		switch payload[e] {
		case '\\':
			e++
		case '"':
			return k, e + 1
		}
	}
	return -1, -1
}

// hasChoices reports whether a chunk carries a choice: the final usage
// chunk has none.
func hasChoices(payload []byte) bool {
	found := false
	gjson.GetBytes(payload, "choices").ForEach(func(_, _ gjson.Result) bool {
		found = true
		return false
	})
	return found
}

// generatedKeys are the string fields of a chunk that carry generated
// text.
var generatedKeys = [...][]byte{[]byte(`"content":"`), []byte(`"reasoning_content":"`), []byte(`"arguments":"`)}

// generatedBytes is the length of the generated text a chunk carries,
// escapes counted as written: the basis of an estimate when the upstream
// reports no usage.
func generatedBytes(payload []byte) int {
	n := 0
	for _, key := range generatedKeys {
		i := bytes.Index(payload, key)
		if i < 0 {
			continue
		}
		s := payload[i+len(key):]
		for j := 0; j < len(s); j++ {
			if s[j] == '\\' {
				j++
				continue
			}
			if s[j] == '"' {
				n += j
				break
			}
		}
	}
	return n
}

// makeRoom moves the input not yet looked at to the front of the buffer,
// or grows the buffer when a single line fills it.
func (r *eventRelay) makeRoom() error {
	if r.start > 0 {
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
		if r.end < len(r.buf) {
			return nil
		}
	}
	if len(r.buf) >= maxRelayLine {
		return &adapters.Error{Kind: adapters.KindUpstream, UpstreamStatus: r.status, Message: "upstream sent an oversized stream event"}
	}
	nb := make([]byte, 2*len(r.buf))
	copy(nb, r.buf[:r.end])
	r.buf = nb
	return nil
}

// flush sends out, once it holds a data event or the stream has begun,
// and flushes the connection.
func (r *eventRelay) flush() error {
	if len(r.out) == 0 || !r.wrote && !r.outData {
		return nil
	}
	if !r.wrote {
		r.wrote = true
		r.a.Commit()
		h := r.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache, no-transform")
		h.Set("X-Accel-Buffering", "no")
		r.w.WriteHeader(http.StatusOK)
	}
	_, err := r.w.Write(r.out)
	r.out = r.out[:0]
	if err == nil {
		err = r.rc.Flush()
	}
	if err != nil {
		r.a.EmitErr = err
	}
	return err
}

// ended finishes a stream whose input ended: complete once its answer
// finished (the [DONE] it lacked is added, as the canonical path ends
// every stream), a failure otherwise.
func (r *eventRelay) ended() error {
	if r.done {
		return nil
	}
	if r.finished {
		return r.finish()
	}
	if !r.wrote {
		return &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream returned an empty stream", UpstreamStatus: r.status}
	}
	return r.fail(&adapters.Error{Kind: adapters.KindUpstream, Message: "upstream stream ended before the answer was complete", UpstreamStatus: r.status})
}

// finish ends a finished answer whose [DONE] did not come.
func (r *eventRelay) finish() error {
	r.done = true
	r.out = append(r.out, "data: [DONE]\n\n"...)
	r.outData = true
	return r.flush()
}

// fail ends the relay with err. Once the stream has begun the client is
// told in-band, as the canonical path does: an event with an error
// object. Before, err is returned alone, to be retried or answered.
func (r *eventRelay) fail(err error) error {
	r.done = true
	var e *adapters.Error
	if !errors.As(err, &e) || r.a.EmitErr != nil {
		return err
	}
	if !r.wrote && !r.outData {
		r.out = r.out[:0]
		return err
	}
	r.out = append(r.out, "data: "...)
	r.out = AppendError(r.out, e)
	r.out = append(r.out, "\n\n"...)
	_ = r.flush()
	return err
}
