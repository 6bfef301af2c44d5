package openai

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

func readAllEvents(r io.Reader) ([]string, error) {
	sr := newSSEReader(r)
	var out []string
	for {
		data, err := sr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, string(data))
	}
}

func TestSSEReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"lf", "data: a\n\ndata: b\n\n", []string{"a", "b"}},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", []string{"a", "b"}},
		{"cr", "data: a\r\rdata: b\r\r", []string{"a", "b"}},
		{"mixed", "data: a\r\n\ndata: b\r\rdata: c\n\r\n", []string{"a", "b", "c"}},
		{"multi-line", "data: {\"a\":\ndata: 1}\n\n", []string{"{\"a\":\n1}"}},
		{"no space", "data:x\n\n", []string{"x"}},
		{"two spaces", "data:  x\n\n", []string{" x"}},
		{"comments and fields", ": hi\nevent: e\nid: 7\nretry: 10\ndata: x\nfoo\n\n", []string{"x"}},
		{"empty data line", "data\n\n", []string{""}},
		{"blank lines only", "\n\n\r\n", nil},
		{"no final blank line", "data: a\n\ndata: b", []string{"a", "b"}},
		{"no final newline after blank", "data: a\n", []string{"a"}},
		{"bom", "\xEF\xBB\xBFdata: a\n\n", []string{"a"}},
		{"done", "data: [DONE]\n\n", []string{"[DONE]"}},
		{"long line", "data: " + strings.Repeat("x", 100000) + "\n\n", []string{strings.Repeat("x", 100000)}},
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
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: partial"), iotest.ErrReader(boom))
	got, err := readAllEvents(r)
	if !errors.Is(err, boom) || !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("got %q %v: a partial event must be dropped on a read error", got, err)
	}
}

// FuzzStream feeds arbitrary bytes to the stream parser: it must never
// panic, must keep the event contract, and must not depend on how the
// input is split into reads.
func FuzzStream(f *testing.F) {
	files, _ := filepath.Glob("testdata/responses/*.sse")
	for _, name := range files {
		if raw, err := os.ReadFile(name); err == nil {
			f.Add(raw)
		}
	}
	for _, s := range []string{
		"", "data:", "data: [DONE]", "data: {}\n\n", "data: null\n\n", "data: []\n\n", "\r\r\r",
		"data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":-1},{\"index\":99999999999}]}}]}\n\n",
		"data: {\"choices\":[{\"delta\":{\"tool_calls\":[{}, 1, \"x\", {\"function\":{\"arguments\":{\"a\":1}}}]},\"finish_reason\":\"stop\"}]}\n\n",
		"data: {\"error\":\"x\"}\n\n", "data: {\"usage\":{\"prompt_tokens\":\"many\"}}\n\n",
		"data: {\"choices\":\"nope\",\"model\":7}\n\ndata: [DONE]\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var whole, bytewise []adapters.Event
		errWhole := readStream(context.Background(), bytes.NewReader(data), "m", 200, DefaultTimeout, collect(&whole))
		errByte := readStream(context.Background(), iotest.OneByteReader(bytes.NewReader(data)), "m", 200, DefaultTimeout, collect(&bytewise))
		checkOrder(t, whole, errWhole)
		if (errWhole == nil) != (errByte == nil) || !reflect.DeepEqual(whole, bytewise) {
			t.Fatalf("split reads differ:\n%+v %v\n%+v %v", whole, errWhole, bytewise, errByte)
		}
		var ae *adapters.Error
		if errWhole != nil && !errors.As(errWhole, &ae) {
			t.Fatalf("non-canonical error %v", errWhole)
		}
		// The non-stream parser must cope with the same bytes.
		var evs []adapters.Event
		err := readResponse(string(data), "m", 200, collect(&evs))
		checkOrder(t, evs, err)
	})
}
