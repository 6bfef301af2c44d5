package e2e

import (
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/agentgate/agentgate/internal/testgate"
)

// TestExampleFirstStartQuiet starts the example Caddyfile as an operator
// first does (./xcaddy.sh run: a bootstrap key, nothing else set, a fresh
// data directory): no WARN or ERROR line, and one INFO line listing the
// example's tools whose webhooks are not configured.
func TestExampleFirstStartQuiet(t *testing.T) {
	port, admin, data := testgate.FreePort(t), testgate.FreePort(t), t.TempDir()
	t.Setenv("AGENTGATE_LISTEN", "127.0.0.1:"+strconv.Itoa(port))
	t.Setenv("AGENTGATE_BIND", "127.0.0.1")
	t.Setenv("AGENTGATE_ADMIN", "127.0.0.1:"+strconv.Itoa(admin))
	t.Setenv("AGENTGATE_DATA", data)
	t.Setenv("AGENTGATE_API_KEY", testgate.KeyA)
	for _, m := range []string{"EMAIL", "CALENDAR", "WEB_SEARCH", "DOCUMENT_READER", "KNOWLEDGE_BASE", "TICKET", "ESCALATION", "SEARCH_DOCS", "CREATE_TICKET"} {
		unsetEnv(t, "AGENTGATE_"+m+"_WEBHOOK")
	}
	src, err := os.ReadFile("../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	logs := testgate.CaptureLog(t)
	testgate.StartCaddyfileLogged(t, src, "http://127.0.0.1:"+strconv.Itoa(port), "127.0.0.1:"+strconv.Itoa(admin), data, logs)

	entries := logs.Entries()
	if len(entries) == 0 {
		t.Fatal("nothing was logged")
	}
	for _, e := range entries {
		if lvl := e.Level(); lvl != "info" && lvl != "debug" {
			t.Errorf("%s: %s %v", lvl, e.Msg(), e)
		}
	}
	var toolLines []testgate.LogEntry
	for _, e := range entries {
		if _, ok := e["tools"]; ok && e.Logger() == "agentgate" {
			toolLines = append(toolLines, e)
		}
	}
	if len(toolLines) != 1 {
		t.Fatalf("%d lines about unconfigured tools, want 1:\n%s", len(toolLines), logs.Raw())
	}
	var got []string
	for _, v := range toolLines[0]["tools"].([]any) {
		got = append(got, v.(string))
	}
	want := []string{"EmailToolkit.send_email", "CalendarToolkit.list_events", "ResearchToolkit.web_search",
		"ResearchToolkit.document_reader", "SupportToolkit.knowledge_base", "SupportToolkit.ticket_creation",
		"SupportToolkit.escalation", "TenzroToolkit.search_docs", "TenzroToolkit.create_ticket"}
	if !slices.Equal(got, want) {
		t.Errorf("tools %v, want %v", got, want)
	}
}

// unsetEnv unsets key for the test, restoring it after.
func unsetEnv(t *testing.T, key string) {
	t.Setenv(key, "") // restores the old value when the test ends
	os.Unsetenv(key)
}
