package openai

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/providertest"
)

// Finished streams leave their connection in the pool: sequential calls
// share one connection.
func TestConnectionReuse(t *testing.T) {
	raw, err := os.ReadFile("testdata/responses/stream_text_usage_final.sse")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		if r.Header.Get("Accept") == "text/event-stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write(raw)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"model":"m","choices":[{"message":{"content":"x"},"finish_reason":"stop"}]}`)
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
		if err := p.Chat(context.Background(), textRequest(i%2 == 0), func(adapters.Event) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 6 sequential calls, want 1", n)
	}
}

func BenchmarkBuildChatBody(b *testing.B) {
	req := providertest.LoadRequest(&testing.T{}, "testdata/requests/tools.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := buildChatBody(make([]byte, 0, bodySize(req)), req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadStream(b *testing.B) {
	raw, err := os.ReadFile("testdata/responses/stream_text_usage_final.sse")
	if err != nil {
		b.Fatal(err)
	}
	emit := func(adapters.Event) error { return nil }
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if err := readStream(context.Background(), bytes.NewReader(raw), "m", 200, DefaultTimeout, emit); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChatStreamHTTP(b *testing.B) {
	raw, err := os.ReadFile("testdata/responses/stream_text_usage_final.sse")
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(raw)
	}))
	defer srv.Close()
	p, err := NewProvider(adapters.ProviderConfig{BaseURL: srv.URL, APIKey: "k"})
	if err != nil {
		b.Fatal(err)
	}
	defer p.CloseIdleConnections()
	req := textRequest(true)
	emit := func(adapters.Event) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Chat(context.Background(), req, emit); err != nil {
			b.Fatal(err)
		}
	}
}
