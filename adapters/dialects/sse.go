package dialects

import (
	"net/http"
)

// SSE writes a Server-Sent Events response. Headers go out with the first
// event, not before, so a failure before anything was generated can still
// be answered with a proper status code. Every event is flushed at once
// through http.ResponseController, which reaches through Caddy's response
// writer wrappers (they do not implement http.Flusher).
type SSE struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
	buf     []byte
}

// NewSSE returns an SSE writer on w.
func NewSSE(w http.ResponseWriter) *SSE {
	return &SSE{w: w, rc: http.NewResponseController(w)}
}

// Started reports whether the response has begun.
func (s *SSE) Started() bool { return s.started }

// Start sends the stream's headers, once.
func (s *SSE) Start() error {
	if s.started {
		return nil
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	// no-transform keeps Caddy's encode handler from compressing the
	// stream; X-Accel-Buffering stops nginx in front from buffering it.
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
	return s.rc.Flush()
}

// Event writes one event: an optional "event:" line, then data on a single
// "data:" line (data must hold no newline: compact JSON), and flushes.
func (s *SSE) Event(name string, data []byte) error {
	if err := s.Start(); err != nil {
		return err
	}
	b := s.buf[:0]
	if name != "" {
		b = append(b, "event: "...)
		b = append(b, name...)
		b = append(b, '\n')
	}
	b = append(b, "data: "...)
	b = append(b, data...)
	b = append(b, "\n\n"...)
	s.buf = b
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.rc.Flush()
}
