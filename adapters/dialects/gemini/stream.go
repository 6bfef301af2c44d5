package gemini

import (
	"net/http"

	"github.com/agentgate/agentgate/adapters/dialects"
)

// framing writes the chunks of a streamed answer. Gemini streams in two
// framings: Server-Sent Events (?alt=sse, what the Gen AI SDKs ask for),
// data lines only, no comments, no terminator, which the Go SDK's strict
// parser requires; or, by default, one JSON array written element by
// element (what older clients read).
type framing interface {
	// start sends the headers, once; later failures are reported in the
	// stream.
	start() error
	started() bool
	chunk(b []byte) error
	// end closes the stream.
	end() error
}

type sseFraming struct{ sse *dialects.SSE }

func (f sseFraming) start() error         { return f.sse.Start() }
func (f sseFraming) started() bool        { return f.sse.Started() }
func (f sseFraming) chunk(b []byte) error { return f.sse.Event("", b) }
func (f sseFraming) end() error           { return nil }

// arrayFraming writes "[", the chunks separated by ",\r\n" (as Google
// does), then "]", flushing each.
type arrayFraming struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	begun  bool
	chunks int
	buf    []byte
}

func newArrayFraming(w http.ResponseWriter) *arrayFraming {
	return &arrayFraming{w: w, rc: http.NewResponseController(w)}
}

func (f *arrayFraming) started() bool { return f.begun }

func (f *arrayFraming) start() error {
	if f.begun {
		return nil
	}
	f.begun = true
	h := f.w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	dialects.MarkStream(f.w)
	f.w.WriteHeader(http.StatusOK)
	if _, err := f.w.Write([]byte{'['}); err != nil {
		return err
	}
	return f.rc.Flush()
}

func (f *arrayFraming) chunk(b []byte) error {
	if err := f.start(); err != nil {
		return err
	}
	out := f.buf[:0]
	if f.chunks > 0 {
		out = append(out, ",\r\n"...)
	}
	f.chunks++
	out = append(out, b...)
	f.buf = out
	if _, err := f.w.Write(out); err != nil {
		return err
	}
	return f.rc.Flush()
}

func (f *arrayFraming) end() error {
	if err := f.start(); err != nil {
		return err
	}
	if _, err := f.w.Write([]byte{']'}); err != nil {
		return err
	}
	return f.rc.Flush()
}
