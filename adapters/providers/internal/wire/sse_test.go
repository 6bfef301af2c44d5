package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// readAllEvents returns "name|data" for every event.
func readAllEvents(r io.Reader) ([]string, error) {
	sr := NewSSEReader(r)
	var out []string
	for {
		name, data, err := sr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, string(name)+"|"+string(data))
	}
}

func TestSSEReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"lf", "data: a\n\ndata: b\n\n", []string{"|a", "|b"}},
		{"named", "event: ping\ndata: {}\n\nevent: message_stop\ndata: x\n\n", []string{"ping|{}", "message_stop|x"}},
		{"unnamed", "data: a\n\n", []string{"|a"}},
		{"name does not leak", "event: a\ndata: 1\n\ndata: 2\n\n", []string{"a|1", "|2"}},
		{"name without data dropped", "event: a\n\ndata: 2\n\n", []string{"|2"}},
		{"data before name", "data: 1\nevent: e\n\n", []string{"e|1"}},
		{"last name wins", "event: a\nevent: b\ndata: 1\n\n", []string{"b|1"}},
		{"crlf", "event: e\r\ndata: a\r\n\r\ndata: b\r\n\r\n", []string{"e|a", "|b"}},
		{"cr", "event: e\rdata: a\r\rdata: b\r\r", []string{"e|a", "|b"}},
		{"mixed", "data: a\r\n\ndata: b\r\rdata: c\n\r\n", []string{"|a", "|b", "|c"}},
		{"multi-line", "event: x\ndata: {\"a\":\ndata: 1}\n\n", []string{"x|{\"a\":\n1}"}},
		{"no space", "event:e\ndata:x\n\n", []string{"e|x"}},
		{"two spaces", "data:  x\n\n", []string{"| x"}},
		{"comments and fields", ": hi\nid: 7\nretry: 10\nevent: e\ndata: x\nfoo\n\n", []string{"e|x"}},
		{"empty data line", "data\n\n", []string{"|"}},
		{"blank lines only", "\n\n\r\n", nil},
		{"no final blank line", "data: a\n\nevent: z\ndata: b", []string{"|a", "z|b"}},
		{"no final newline after blank", "data: a\n", []string{"|a"}},
		{"bom", "\xEF\xBB\xBFevent: e\ndata: a\n\n", []string{"e|a"}},
		{"done", "data: [DONE]\n\n", []string{"|[DONE]"}},
		{"long line", "data: " + strings.Repeat("x", 100000) + "\n\n", []string{"|" + strings.Repeat("x", 100000)}},
		{"long name clipped", "event: " + strings.Repeat("n", 1000) + "\ndata: 1\n\n", []string{strings.Repeat("n", MaxEventName) + "|1"}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{
				strings.NewReader(tt.in),
				iotest.OneByteReader(strings.NewReader(tt.in)),
				iotest.HalfReader(strings.NewReader(tt.in)),
				iotest.DataErrReader(strings.NewReader(tt.in)),
			} {
				got, err := readAllEvents(r)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestSSEReaderError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("event: a\ndata: a\n\ndata: partial"), iotest.ErrReader(boom))
	got, err := readAllEvents(r)
	if !errors.Is(err, boom) || !reflect.DeepEqual(got, []string{"a|a"}) {
		t.Fatalf("got %q %v: a partial event must be dropped on a read error", got, err)
	}
}

func TestSSEReaderUnterminated(t *testing.T) {
	sr := NewSSEReader(strings.NewReader("data: a\n\ndata: b"))
	if _, data, err := sr.Next(); err != nil || string(data) != "a" || sr.Unterminated() {
		t.Fatalf("first: %q %v unterminated=%v", data, err, sr.Unterminated())
	}
	if _, data, err := sr.Next(); err != nil || string(data) != "b" || !sr.Unterminated() {
		t.Fatalf("second: %q %v unterminated=%v", data, err, sr.Unterminated())
	}
	if _, _, err := sr.Next(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

// xs reads as n bytes of 'x'.
type xs int

func (n *xs) Read(p []byte) (int, error) {
	if *n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(len(p), int(*n))]
	for i := range p {
		p[i] = 'x'
	}
	*n -= xs(len(p))
	return len(p), nil
}

func TestSSEReaderTooLarge(t *testing.T) {
	half, over := xs(MaxEventSize/2), xs(MaxEventSize/2)
	long := xs(MaxEventSize + 1)
	for name, r := range map[string]io.Reader{
		"event": io.MultiReader(strings.NewReader("data: "), &half, strings.NewReader("\ndata: "), &over, strings.NewReader("\n\n")),
		"line":  io.MultiReader(strings.NewReader("data: "), &long),
	} {
		if _, err := readAllEvents(r); !errors.Is(err, ErrEventTooLarge) {
			t.Errorf("%s: got %v, want ErrEventTooLarge", name, err)
		}
	}
}

// FuzzSSEReader feeds arbitrary bytes to the reader: it must never panic,
// must not depend on how the input is split into reads, and never returns
// an event over the limits.
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{
		"", "data:", "data: [DONE]", "data: {}\n\n", "\r\r\r", "\xEF\xBB", "\xEF\xBB\xBFdata: a",
		"event: message_stop\ndata: {}\n\n", "event: error\ndata: {\"error\":\"x\"}\n\n",
		": c\r\nid: 1\r\nevent: e\r\ndata: 1\r\ndata: 2\r\n\r\ndata: 3\r",
		"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, errWhole := readAllEvents(bytes.NewReader(data))
		bytewise, errByte := readAllEvents(iotest.OneByteReader(bytes.NewReader(data)))
		if errWhole != nil || errByte != nil || !reflect.DeepEqual(whole, bytewise) {
			t.Fatalf("split reads differ:\n%q %v\n%q %v", whole, errWhole, bytewise, errByte)
		}
		for _, ev := range whole {
			name, _, _ := strings.Cut(ev, "|")
			if len(name) > MaxEventName || len(ev) > MaxEventName+1+MaxEventSize {
				t.Fatalf("event over the limits: %d bytes", len(ev))
			}
		}
	})
}
