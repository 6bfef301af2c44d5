package wire

import (
	"bytes"
	"errors"
	"io"
)

// MaxEventSize bounds one SSE line and one event's data, so a misbehaving
// upstream cannot make the gateway buffer without limit. Providers use it
// to bound what they accumulate across events too.
const MaxEventSize = 32 << 20

// MaxEventName bounds an event: value; longer names are clipped.
// Upstreams use short words.
const MaxEventName = 256

// ErrEventTooLarge is returned by SSEReader.Next for an event or line over
// MaxEventSize.
var ErrEventTooLarge = errors.New("SSE event too large")

// SSEReader splits a text/event-stream into events (name and data),
// following the WHATWG rules: lines end in CRLF, LF or CR; lines starting
// with ':' are comments; "data" lines of one event are joined with LF;
// "event" sets the event's name; other fields are ignored; a blank line
// dispatches an event that has data (an event without data is dropped,
// name included). Unlike browsers it also dispatches an event left
// unterminated at EOF, so a stream whose last "data:" line lacks the final
// blank line is not lost.
type SSEReader struct {
	rd         io.Reader
	buf        []byte // unread input is buf[start:end]
	start, end int
	skipLF     bool // the last line ended in CR: a leading LF belongs to it
	bomChecked bool
	eof        bool
	err        error // read error, reported once buffered input is used up

	name    []byte // event: value of the event being built
	data    []byte // data of the event being built
	hasData bool
	// unterminated is set when Next returned an event cut off by EOF
	// (no blank line after it).
	unterminated bool
}

// NewSSEReader returns a reader of r's events.
func NewSSEReader(r io.Reader) *SSEReader {
	return &SSEReader{rd: r, buf: make([]byte, 4096)}
}

// Unterminated reports whether the last event Next returned was cut off by
// EOF (no blank line after it): its last line may be partial.
func (s *SSEReader) Unterminated() bool { return s.unterminated }

// Next returns the name (empty without an event: line) and data of the
// next event. Both slices are valid until the following call. At the end of
// the input it returns io.EOF, or the read error that ended it.
func (s *SSEReader) Next() (name, data []byte, err error) {
	for {
		line, err := s.readLine()
		if err != nil {
			if err == io.EOF && s.hasData {
				s.hasData = false
				s.unterminated = true
				return s.name, s.data, nil
			}
			return nil, nil, err
		}
		if len(line) == 0 {
			if s.hasData {
				s.hasData = false
				name, data := s.name, s.data
				s.name = s.name[:0] // overwritten only by the next call
				return name, data, nil
			}
			s.name = s.name[:0]
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "event":
			if len(value) > MaxEventName {
				value = value[:MaxEventName]
			}
			s.name = append(s.name[:0], value...)
		case "data":
			if !s.hasData {
				s.data = s.data[:0]
				s.hasData = true
			} else {
				s.data = append(s.data, '\n')
			}
			if len(s.data)+len(value) > MaxEventSize {
				return nil, nil, ErrEventTooLarge
			}
			s.data = append(s.data, value...)
		}
	}
}

// readLine returns the next line without its terminator. The slice points
// into the read buffer and is valid until the next call. A final line
// without a terminator is returned before io.EOF.
func (s *SSEReader) readLine() ([]byte, error) {
	scanned := 0 // bytes of buf[start:end] known to hold no terminator
	for {
		if s.skipLF && s.start < s.end {
			if s.buf[s.start] == '\n' {
				s.start++
			}
			s.skipLF = false
		}
		if !s.bomChecked && (s.end-s.start >= 3 || s.eof) {
			s.bomChecked = true
			if bytes.HasPrefix(s.buf[s.start:s.end], []byte("\xEF\xBB\xBF")) {
				s.start += 3
			}
		}
		if s.bomChecked {
			chunk := s.buf[s.start+scanned : s.end]
			if i := indexEOL(chunk); i >= 0 {
				i += s.start + scanned
				line := s.buf[s.start:i]
				if s.buf[i] == '\r' {
					if i+1 < s.end {
						if s.buf[i+1] == '\n' {
							i++
						}
					} else {
						s.skipLF = true
					}
				}
				s.start = i + 1
				return line, nil
			}
			scanned = s.end - s.start
		}
		if s.eof {
			if s.start < s.end {
				line := s.buf[s.start:s.end]
				s.start = s.end
				return line, nil
			}
			if s.err != nil {
				return nil, s.err
			}
			return nil, io.EOF
		}
		if err := s.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads more input, compacting or growing the buffer as needed.
func (s *SSEReader) fill() error {
	if s.start > 0 && s.start == s.end {
		s.start, s.end = 0, 0
	}
	if s.end == len(s.buf) {
		if s.start > 0 {
			n := copy(s.buf, s.buf[s.start:s.end])
			s.start, s.end = 0, n
		} else {
			if len(s.buf) >= MaxEventSize {
				return ErrEventTooLarge
			}
			nb := make([]byte, 2*len(s.buf))
			copy(nb, s.buf[:s.end])
			s.buf = nb
		}
	}
	for range 100 {
		n, err := s.rd.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.eof = true
			if err != io.EOF {
				s.err = err
			}
			return nil
		}
		if n > 0 {
			return nil
		}
	}
	return io.ErrNoProgress
}

// indexEOL returns the index of the first CR or LF in b, or -1.
func indexEOL(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	limit := b
	if i >= 0 {
		limit = b[:i]
	}
	if j := bytes.IndexByte(limit, '\r'); j >= 0 {
		return j
	}
	return i
}
