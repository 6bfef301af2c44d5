package caddymodule_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/testgate"
)

// panicProvider answers "ok", or, to a prompt saying "panic", begins its
// answer and then hits a bug (a nil map).
type panicProvider struct{}

func (panicProvider) Chat(_ context.Context, req *adapters.Request, emit adapters.Emit) error {
	if err := emit(adapters.Event{Type: adapters.EventStart}); err != nil {
		return err
	}
	if strings.Contains(req.Messages[len(req.Messages)-1].Text(), "panic") {
		if err := emit(adapters.Event{Type: adapters.EventDelta, Text: "Hel"}); err != nil {
			return err
		}
		panic("a bug after the stream began")
	}
	if err := emit(adapters.Event{Type: adapters.EventDelta, Text: "ok"}); err != nil {
		return err
	}
	return emit(adapters.Event{Type: adapters.EventDone, FinishReason: "stop"})
}

func init() {
	adapters.RegisterProvider("panicky", func(adapters.ProviderConfig) (adapters.Provider, error) { return panicProvider{}, nil })
}

// TestPanicMidStream: a bug that panics after a stream began is logged
// and recovered, the response is aborted so the client sees a broken
// stream, and the request's concurrency slot is given back (the next
// request of the key is served). Found in review: the frame's recover
// wrote the dialect's JSON error object ({"error":…}, no "data:" prefix)
// into the text/event-stream that had begun; SSE readers ignore that
// line, so the client took the truncated answer "Hel" as complete.
func TestPanicMidStream(t *testing.T) {
	freeze(t)
	g := testgate.Start(t, testgate.Config{Block: `
		provider buggy panicky {
			base_url http://127.0.0.1:1
		}
		agent assistant {
			model gpt-test
			provider buggy
		}
		tier pro {
			concurrent 1
		}
`})
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("POST", g.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"assistant","stream":true,"messages":[{"role":"user","content":"panic"}]}`))
		req.Header.Set("Authorization", "Bearer "+testgate.KeyA)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %d %s", i, resp.StatusCode, body)
		}
		// The client is told the stream failed: it breaks off (as an
		// upstream connection that drops), never a clean end.
		if err == nil {
			t.Errorf("stream %d ended cleanly after a panic:\n%s", i, body)
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			line := sc.Text()
			if line != "" && !strings.HasPrefix(line, "data: ") && !strings.HasPrefix(line, ":") && !strings.HasPrefix(line, "event: ") {
				t.Errorf("stream %d: a line an SSE reader drops: %q", i, line)
			}
		}
	}
	// The slot of concurrency 1 was given back each time.
	if status, body, _ := chat(g, testgate.KeyA, ""); status != http.StatusOK {
		t.Fatalf("after the panics: %d %s", status, body)
	}
}
