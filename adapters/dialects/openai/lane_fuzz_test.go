package openai

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
)

// pieces reads data in pieces whose sizes cycle through sizes (a zero
// size means one byte).
type pieces struct {
	data  []byte
	sizes []byte
	i     int
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.data) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(p.sizes) > 0 {
		n = max(int(p.sizes[p.i%len(p.sizes)]), 1)
		p.i++
	}
	n = min(n, len(b), len(p.data))
	copy(b, p.data[:n])
	p.data = p.data[n:]
	return n, nil
}

// relayOnce relays the stream body as the lane relays an upstream's
// event stream to a client that named the model "assistant" and did not
// ask for usage.
func relayOnce(body io.Reader) ([]byte, *models.RawAnswer, error) {
	rec := httptest.NewRecorder()
	a := models.NewRawAnswer(func() time.Time { return time.Time{} })
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body: io.NopCloser(body)}
	err := relayStream(rec, resp, a, []byte(`"assistant"`), true)
	return rec.Body.Bytes(), a, err
}

// FuzzLaneRelay feeds arbitrary upstream streams, in arbitrary pieces, to
// the lane's event relay: it must never panic, fail only with an
// *adapters.Error, send the same bytes however the input is cut, and end
// every stream it relays without error with [DONE].
func FuzzLaneRelay(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/lane/*/upstream.sse")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b, []byte{1})
			f.Add(b, []byte{7, 200, 3})
		}
	}
	f.Add([]byte("data: {\"model\":\"x\",\"choices\":[]}\r\rdata: [DONE]\r\r"), []byte{2})
	f.Add([]byte("data: {\"usage\":{\"prompt_tokens\":1}}\n\n:c\n\ndata: {\"finish_reason\":\"stop\"}"), []byte{5})
	f.Add([]byte("data: {\"error\":\"boom\"}\n\n"), []byte{0})
	f.Fuzz(func(t *testing.T, stream, sizes []byte) {
		whole, wa, werr := relayOnce(bytes.NewReader(stream))
		cut, ca, cerr := relayOnce(&pieces{data: stream, sizes: sizes})
		for _, err := range []error{werr, cerr} {
			var e *adapters.Error
			if err != nil && !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *adapters.Error", err, err)
			}
		}
		if !bytes.Equal(whole, cut) || (werr == nil) != (cerr == nil) || wa.Usage != ca.Usage || wa.Model != ca.Model {
			t.Fatalf("the relay depends on how its input is cut:\n whole: %q %v %+v\n cut:   %q %v %+v", whole, werr, wa, cut, cerr, ca)
		}
		if werr == nil && !bytes.HasSuffix(whole, []byte("data: [DONE]\n\n")) {
			t.Fatalf("a relayed stream does not end with [DONE]: %q", whole)
		}
	})
}
