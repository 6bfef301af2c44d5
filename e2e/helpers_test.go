package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/testgate"
)

// adminDo sends a request to g's admin API.
func adminDo(t *testing.T, g *testgate.Gateway, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+g.Admin+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
