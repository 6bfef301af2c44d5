package openai

import (
	"bytes"

	"github.com/agentgate/agentgate/adapters"
	"github.com/tidwall/gjson"
)

// sseUsage watches a passed-through event stream go by for the usage its
// events report (the last one wins: OpenAI sends it in the final chunk).
// It is pushed the stream in whatever pieces the upstream's reads return,
// so it splits lines as the WHATWG rules do across those pieces: a line
// ends in CRLF, LF or CR (a CR ending one piece may be followed by the LF
// beginning the next); an event's data lines are joined with LF and the
// event is dispatched at a blank line, or at the end (finish). It is the
// push-shaped twin of the providers' wire.SSEReader, which reads an
// io.Reader and sits under adapters/providers/internal where dialects
// cannot import it.
type sseUsage struct {
	line     []byte
	long     bool // the current line is over maxSSELine: it is skipped
	skipLF   bool // the last piece ended in CR: a leading LF belongs to it
	started  bool // a line has ended (a BOM can only begin the first)
	data     []byte
	hasData  bool
	longData bool // the current event's data is over maxSSELine: it is skipped

	usage adapters.Usage
	found bool
}

// maxSSELine bounds the line, and the event data, sseUsage keeps; a longer
// one is skipped (usage chunks are small).
const maxSSELine = 1 << 20

// observe takes the next piece of the stream.
func (s *sseUsage) observe(p []byte) {
	for len(p) > 0 {
		if s.skipLF {
			s.skipLF = false
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		i := indexEOL(p)
		if i < 0 {
			s.appendLine(p)
			return
		}
		s.appendLine(p[:i])
		s.endLine()
		if p[i] == '\r' {
			if i+1 == len(p) {
				s.skipLF = true
			} else if p[i+1] == '\n' {
				i++
			}
		}
		p = p[i+1:]
	}
}

// finish ends the stream: an event left without its blank line (or a last
// line without its terminator) still counts.
func (s *sseUsage) finish() {
	if len(s.line) > 0 || s.long {
		s.endLine()
	}
	s.dispatch()
}

func (s *sseUsage) appendLine(b []byte) {
	if s.long {
		return
	}
	if len(s.line)+len(b) > maxSSELine {
		s.long, s.line = true, s.line[:0]
		return
	}
	s.line = append(s.line, b...)
}

func (s *sseUsage) endLine() {
	line, long := s.line, s.long
	s.line, s.long = s.line[:0], false
	if !s.started {
		s.started = true
		line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
	}
	switch {
	case long:
		// An overlong line may be a data line: its event is dropped
		// whole rather than read without it.
		s.hasData, s.longData, s.data = true, true, s.data[:0]
	case len(line) == 0:
		s.dispatch()
	case line[0] == ':':
		// A comment.
	default:
		field, value, _ := bytes.Cut(line, []byte(":"))
		if string(field) != "data" {
			return
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		if s.hasData && !s.longData {
			s.data = append(s.data, '\n')
		}
		s.hasData = true
		if s.longData || len(s.data)+len(value) > maxSSELine {
			s.longData, s.data = true, s.data[:0]
			return
		}
		s.data = append(s.data, value...)
	}
}

// dispatch reads the usage of the event built so far, if it reports one.
func (s *sseUsage) dispatch() {
	data, ok := s.data, s.hasData && !s.longData
	s.data, s.hasData, s.longData = s.data[:0], false, false
	if !ok || !bytes.Contains(data, []byte(`"usage"`)) {
		return
	}
	for _, path := range [...]string{"usage", "response.usage"} {
		if u, ok := jsonUsage(gjson.GetBytes(data, path)); ok {
			s.usage, s.found = u, true
			return
		}
	}
}

// indexEOL returns the index of the first CR or LF in b, or -1.
func indexEOL(b []byte) int {
	return bytes.IndexAny(b, "\r\n")
}
