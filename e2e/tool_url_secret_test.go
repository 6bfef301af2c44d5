package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
)

// TestToolURLSecretsNotLogged: an MCP endpoint or webhook URL carrying a
// token (in its query, user info or path) is never logged nor quoted in
// a config-load error: the retry warnings of an MCP server that is down
// name its scheme and host only.
func TestToolURLSecretsNotLogged(t *testing.T) {
	up := (&fakeupstream.OpenAI{}).Start()
	t.Cleanup(up.Close)
	// Nothing listens on the refused port once the gateway runs.
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := held.Addr().String()
	provider := fmt.Sprintf(`
		provider up openai {
			base_url %s
			api_key sk-upstream
		}
		route gpt-* up
`, up.URL)
	capture := testgate.CaptureLog(t)
	g := testgate.Start(t, testgate.Config{Global: capture.Global("DEBUG"), Block: provider + fmt.Sprintf(`
		mcp Query http://%[1]s/mcp?token=SECRET
		mcp UserInfo http://user:SECRET@%[1]s/mcp
		mcp PathToken http://%[1]s/SECRET/mcp
`, refused)})
	held.Close()

	// The connections are attempted in the background; wait for the
	// first warning of each server.
	warned := map[string]testgate.LogEntry{}
	for deadline := time.Now().Add(30 * time.Second); len(warned) < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("warnings of %d of 3 MCP servers:\n%s", len(warned), capture.Raw())
		}
		for _, e := range capture.Entries() {
			if strings.HasPrefix(e.Msg(), "MCP server not reachable") {
				warned[e.String("mcp")] = e
			}
		}
	}
	for name, e := range warned {
		if got, want := e.String("endpoint"), "http://"+refused; got != want {
			t.Errorf("%s: endpoint %q logged, want %q", name, got, want)
		}
		if e.String("error") == "" {
			t.Errorf("%s: the warning has no cause: %v", name, e)
		}
	}

	for _, url := range []string{
		"ftp://user:SECRET@hooks.example/x?token=SECRET",
		"http://hooks.example:SECRET/x",
		"https://hooks.example/x?token=SECRET#SECRET",
	} {
		err := g.TryLoad(testgate.Config{Global: capture.Global("DEBUG"), Block: provider + `
		toolkit Hooks http {
			method send ` + url + `
		}
`})
		if err == nil || !strings.Contains(err.Error(), `toolkits[0] "Hooks"`) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("loading a webhook %s: %v; want an error naming the toolkit, without the secret", url, err)
		}
	}
	if raw := capture.Raw(); strings.Contains(raw, "SECRET") {
		t.Errorf("a secret was logged:\n%s", raw)
	}
}
