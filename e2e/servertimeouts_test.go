package e2e

// The server timeouts of the example Caddyfile, and what Caddy's
// read_header, read_body and idle do to agentgate's traffic: a request
// body that trickles in is cut after read_body, while a stream whose
// every pause is longer than every server timeout runs to its end (Caddy
// clears the read deadline once the body has been read, and write_idle
// bounds only a write in flight).

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/tidwall/gjson"
)

// TestExampleServerTimeouts: the example Caddyfile bounds headers, bodies
// and idle connections, and sets no write timeout (a hard ceiling that
// would cut long streams).
func TestExampleServerTimeouts(t *testing.T) {
	src, err := os.ReadFile("../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	js, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting the example Caddyfile: %v", err)
	}
	servers := gjson.GetBytes(js, "apps.http.servers")
	if len(servers.Map()) == 0 {
		t.Fatalf("no servers in %s", js)
	}
	for name, srv := range servers.Map() {
		for _, f := range []string{"read_header_timeout", "read_timeout", "idle_timeout"} {
			if srv.Get(f).Int() <= 0 {
				t.Errorf("server %s: %s is not set", name, f)
			}
		}
		for _, f := range []string{"write_timeout", "read_idle_timeout", "write_idle_timeout"} {
			if v := srv.Get(f); v.Exists() {
				t.Errorf("server %s: %s is %s; a write timeout cuts long streams, and the idle ones keep Caddy's defaults", name, f, v.Raw)
			}
		}
	}
}

func TestServerTimeouts(t *testing.T) {
	// Every pause of the stream (before each token) is longer than every
	// server timeout below, and so is the whole stream.
	up := (&fakeupstream.OpenAI{Reply: "slow but complete", TokenDelay: 1500 * time.Millisecond}).Start()
	t.Cleanup(up.Close)
	g := testgate.Start(t, testgate.Config{
		Global: `servers {
		timeouts {
			read_header 1s
			read_body 1s
			read_body_idle 1s
			write_idle 1s
			idle 1s
		}
	}`,
		Block: `
		provider up openai {
			base_url ` + up.URL + `
		}
		agent slow {
			model gpt-slow
			provider up
		}
`})

	t.Run("a trickling body is cut after read_body", func(t *testing.T) {
		body := `{"model":"slow","messages":[{"role":"user","content":"` + strings.Repeat("x", 200) + `"}]}`
		conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", testgate.KeyA, len(body))
		// One byte every 100ms: never idle for read_body_idle, but the
		// whole body would take over 20s.
		var sent atomic.Int64
		go func() {
			for i := range len(body) {
				if _, err := conn.Write([]byte{body[i]}); err != nil {
					return
				}
				sent.Store(int64(i + 1))
				time.Sleep(100 * time.Millisecond)
			}
		}()
		_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		elapsed, n := time.Since(start), sent.Load()
		switch {
		case err != nil:
			t.Logf("the connection was closed (%v) after %s, %d of %d body bytes sent", err, elapsed.Round(time.Millisecond), n, len(body))
		default:
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("answered %d %s after %s, %d of %d body bytes sent", resp.StatusCode, b, elapsed.Round(time.Millisecond), n, len(body))
			if resp.StatusCode != http.StatusBadRequest || gjson.GetBytes(b, "error.code").String() != "request_timeout" {
				t.Errorf("a trickled body was answered %d %s, want 400 request_timeout", resp.StatusCode, b)
			}
		}
		if n >= int64(len(body)) {
			t.Errorf("the whole trickled body was read: read_body did not cut it")
		}
	})

	t.Run("a stream longer than every server timeout survives", func(t *testing.T) {
		start := time.Now()
		req, _ := http.NewRequest("POST", g.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"slow","messages":[{"role":"user","content":"Take your time."}],"stream":true}`))
		req.Header.Set("Authorization", "Bearer "+testgate.KeyA)
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var text strings.Builder
		done := false
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			if data == "[DONE]" {
				done = true
				break
			}
			var chunk struct {
				Choices []struct {
					Delta struct{ Content string }
				}
				Error json.RawMessage
			}
			if err := json.Unmarshal([]byte(data), &chunk); err != nil || chunk.Error != nil {
				t.Fatalf("chunk %s: %v", data, err)
			}
			if len(chunk.Choices) > 0 {
				text.WriteString(chunk.Choices[0].Delta.Content)
			}
		}
		t.Logf("streamed %q in %s", text.String(), time.Since(start).Round(time.Millisecond))
		if err := sc.Err(); err != nil || !done || text.String() != "slow but complete" {
			t.Errorf("stream ended with %v, [DONE] %v, text %q; want the whole answer", err, done, text.String())
		}
	})
}
