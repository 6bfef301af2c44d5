package gemini

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/providertest"
)

// Finished calls leave their connection in the pool: sequential calls,
// streamed or not, share one connection.
func TestConnectionReuse(t *testing.T) {
	sse, err := os.ReadFile("testdata/responses/stream_text.sse")
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile("testdata/responses/text.json")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		if r.URL.Query().Get("alt") == "sse" {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write(sse)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(js)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	p := newTestProvider(t, srv.URL)
	for i := range 6 {
		if err := p.Chat(context.Background(), textRequest(i%2 == 0), providertest.Collect(new([]adapters.Event))); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 6 sequential calls", n)
	}
}

// One provider serves concurrent calls (run with -race).
func TestConcurrentCalls(t *testing.T) {
	raw, err := os.ReadFile("testdata/responses/stream_tool_call.sse")
	if err != nil {
		t.Fatal(err)
	}
	srv := replayServer(t, raw, true, 64)
	p, err := NewProvider(adapters.ProviderConfig{BaseURL: srv.URL, APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer p.CloseIdleConnections()
	want := ""
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[string]bool{}
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var evs []adapters.Event
			err := p.Chat(context.Background(), textRequest(true), providertest.Collect(&evs))
			checkOrder(t, evs, err)
			mu.Lock()
			defer mu.Unlock()
			for _, ev := range evs {
				if ev.Type == adapters.EventToolCall {
					if ids[ev.ToolCall.ID] {
						t.Errorf("duplicate generated id %s", ev.ToolCall.ID)
					}
					ids[ev.ToolCall.ID] = true
					if want == "" {
						want = ev.ToolCall.Arguments
					} else if ev.ToolCall.Arguments != want {
						t.Errorf("arguments %s, want %s", ev.ToolCall.Arguments, want)
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(ids) != 32 {
		t.Errorf("%d tool calls", len(ids))
	}
}

// BenchmarkChatStream measures a streamed call over loopback, SDK
// encoding and parsing included.
func BenchmarkChatStream(b *testing.B) {
	raw, err := os.ReadFile("testdata/responses/stream_thinking.sse")
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(raw)
	}))
	defer srv.Close()
	p := newTestProvider(b, srv.URL)
	req := textRequest(true)
	req.System = "You are a helpful assistant."
	req.Messages = append(req.Messages, adapters.TextMessage(adapters.RoleAssistant, string(bytes.Repeat([]byte("history "), 200))),
		adapters.TextMessage(adapters.RoleUser, "and now?"))
	emit := func(adapters.Event) error { return nil }
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := p.Chat(context.Background(), req, emit); err != nil {
			b.Fatal(err)
		}
	}
}
