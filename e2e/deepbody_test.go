package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
)

// TestDeeplyNestedBodies: a body of about 7 MiB that is mostly '[' — under
// the default max_body_bytes — sent to every route that reads a JSON body,
// passthrough included, is a 4xx in the dialect's shape. A parser that
// recursed once per level would overflow the goroutine's stack: a fatal
// error that ends the process (and this test binary), not a panic a
// handler can recover.
func TestDeeplyNestedBodies(t *testing.T) {
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: mockBlock + `
		provider up openai {
			base_url ` + up.URL + `/v1
		}
`})
	deep := strings.Repeat("[", 7<<20)
	bodies := map[string]string{
		"open object": `{"model":"demo","messages":` + deep,
		"in a field":  `{"model":"demo","messages":[{"role":"user","content":"hi"}],"x":` + deep + `}`,
	}
	routes := []struct{ method, path string }{
		{http.MethodPost, "/v1/chat/completions"},
		{http.MethodPost, "/v1/embeddings"},
		{http.MethodPost, "/v1/messages"},
		{http.MethodPost, "/v1/messages/count_tokens"},
		{http.MethodPost, "/v1beta/models/demo:generateContent"},
		{http.MethodPost, "/v1/models/demo:generateContent"},
		{http.MethodPost, "/v1/responses"},
		{http.MethodPost, "/v1/conversations"},
		{http.MethodPost, "/api/client/v1/responses"},
		{http.MethodPost, "/api/client/v1/agents/responses"},
		{http.MethodPost, "/v1/chat"},
		{http.MethodPost, "/api/v1/agents"},
		{http.MethodPost, "/api/v1/agents/demo/chat"},
		{http.MethodPost, "/api/v1/agents/demo/memory"},
		{http.MethodPost, "/agent/agents"},
		{http.MethodPost, "/agent/agents/demo/chat"},
		{http.MethodPatch, "/agent/agents/demo"},
		{http.MethodPost, "/v2/agents"},
		{http.MethodPost, "/v2/agents/batch"},
		{http.MethodPost, "/v2/agents/demo/chat"},
		{http.MethodPost, "/v1/moderations"}, // passed through
	}
	for name, body := range bodies {
		for _, rt := range routes {
			req, err := http.NewRequest(rt.method, g.URL+rt.path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+testgate.KeyA)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Project-ID", "proj_deep") // Tenzro's
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s, %s: %v", rt.method, rt.path, name, err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 400 || resp.StatusCode >= 500 || !strings.Contains(string(out), "JSON") {
				t.Errorf("%s %s, %s: %d %.300s", rt.method, rt.path, name, resp.StatusCode, out)
			}
		}
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("%d requests went upstream", n)
	}
}
