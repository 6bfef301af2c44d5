package anthropic

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/agentgate/agentgate/adapters"
)

// readAllEvents returns "name|data" for every event.
func readAllEvents(r io.Reader) ([]string, error) {
	sr := newSSEReader(r)
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
		{"bom", "\xEF\xBB\xBFevent: e\ndata: a\n\n", []string{"e|a"}},
		{"long line", "data: " + strings.Repeat("x", 100000) + "\n\n", []string{"|" + strings.Repeat("x", 100000)}},
		{"long name clipped", "event: " + strings.Repeat("n", 1000) + "\ndata: 1\n\n", []string{strings.Repeat("n", maxEventName) + "|1"}},
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

// FuzzStream feeds arbitrary bytes to the stream parser: it must never
// panic, must keep the event contract, must not depend on how the input is
// split into reads, and must report only canonical errors.
func FuzzStream(f *testing.F) {
	files, _ := filepath.Glob("testdata/responses/*.sse")
	for _, name := range files {
		if raw, err := os.ReadFile(name); err == nil {
			f.Add(raw)
		}
	}
	for _, s := range []string{
		"", "data:", "event: message_stop", "event: message_stop\ndata: {}\n\n", "data: null\n\n", "data: []\n\n", "\r\r\r",
		"event: error\ndata: {}\n\n", "event: error\ndata: {\"error\":\"x\"}\n\n",
		"data: {\"type\":\"content_block_start\",\"index\":-1,\"content_block\":{\"type\":\"tool_use\"}}\n\ndata: {\"type\":\"message_stop\"}\n\n",
		"data: {\"type\":\"content_block_delta\",\"index\":99999999999,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":7}}\n\n",
		"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":\"many\",\"input_tokens\":-5}}\n\n",
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"t\",\"signature\":\"s\"}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\"}}\n\n",
		"event: ping\ndata: {\"type\":\"message_start\",\"message\":7}\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var whole, bytewise []adapters.Event
		errWhole := readStream(context.Background(), bytes.NewReader(data), "m", 200, DefaultTimeout, collect(&whole))
		errByte := readStream(context.Background(), iotest.OneByteReader(bytes.NewReader(data)), "m", 200, DefaultTimeout, collect(&bytewise))
		checkOrder(t, whole, errWhole)
		if a, b := eventLines(t, whole, errWhole), eventLines(t, bytewise, errByte); !bytes.Equal(a, b) {
			t.Fatalf("split reads differ:\n%s\n%s", a, b)
		}
		var ae *adapters.Error
		if errWhole != nil && !errors.As(errWhole, &ae) {
			t.Fatalf("non-canonical error %v", errWhole)
		}
		// The non-stream parser must cope with the same bytes.
		var evs []adapters.Event
		err := readResponse(string(data), "m", 200, collect(&evs))
		checkOrder(t, evs, err)
		if err != nil && !errors.As(err, &ae) {
			t.Fatalf("non-canonical error %v", err)
		}
	})
}
