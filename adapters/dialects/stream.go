package dialects

import "net/http"

// streamMarker is implemented by response writers that follow streams
// (the Caddy handler counts them as active streams and in its
// placeholders). text/event-stream answers are recognised by their
// Content-Type; a stream in another framing says so with MarkStream.
type streamMarker interface {
	MarkStream()
}

// MarkStream tells w, before the headers go out, that the answer is a
// stream although it is not text/event-stream (Gemini's streamed JSON
// array). Writers that do not follow streams ignore it.
func MarkStream(w http.ResponseWriter) {
	if m, ok := w.(streamMarker); ok {
		m.MarkStream()
	}
}
