package e2e

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
)

// promptMarker is in every prompt the logging tests send: no log line may
// repeat it.
const promptMarker = "PROMPT-MARKER-5e1f0c"

// upstreamKey is the key of the logging tests' upstreams: no log line may
// repeat it either.
const upstreamKey = "sk-upstream-secret-0123456789"

// TestFailuresLogged: an upstream that refuses connections, one that
// answers 503 and one that times out each leave one log line per failed
// request, with the cause, the model, the provider and the attempts, at
// WARN; each failed attempt a DEBUG line; no key, header or prompt text
// anywhere in the log.
func TestFailuresLogged(t *testing.T) {
	unavailable := (&fakeupstream.OpenAI{Status: 503}).Start()
	t.Cleanup(unavailable.Close)
	hung := (&fakeupstream.OpenAI{Stall: fakeupstream.StallBeforeHeaders}).Start()
	t.Cleanup(hung.Close)
	// Nothing listens on the refused port once the gateway runs; it is
	// held until then, so the gateway's own ports cannot be it.
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := fmt.Sprintf("http://%s/v1", held.Addr())

	capture := testgate.CaptureLog(t)
	g := testgate.Start(t, testgate.Config{Global: capture.Global("DEBUG"), Site: `log {
		output file ` + capture.Path + `.access
		format json
	}
	log_append error {http.agentgate.error}`, Block: fmt.Sprintf(`
		provider refused openai {
			base_url %s
			api_key %s
		}
		provider unavailable openai {
			base_url %s
			api_key %s
		}
		provider hung openai {
			base_url %s
			api_key %s
			timeout 300ms
		}
		route refused-* refused
		route unavailable-* unavailable
		route hung-* hung
		retries {
			max 1
			backoff 10ms
			max_backoff 20ms
		}`, refusedURL, upstreamKey, unavailable.URL, upstreamKey, hung.URL, upstreamKey)})

	held.Close()

	cases := []struct {
		model, provider string
		stream          bool
		status          int
		upstreamStatus  string
		cause           string
	}{
		{"refused-1", "refused", false, 503, "", "connection refused"},
		{"refused-1", "refused", true, 503, "", "connection refused"},
		{"unavailable-1", "unavailable", false, 503, "503", "upstream said: fake upstream failure 503"},
		{"hung-1", "hung", true, 504, "", "upstream call timed out"}, // the fake hangs streams only
	}
	for _, c := range cases {
		body := fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":"hello %s"}]}`, c.model, c.stream, promptMarker)
		status, out, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA, body)
		if status != c.status {
			t.Fatalf("%s stream=%v: %d %s", c.model, c.stream, status, out)
		}
	}

	entries := capture.Entries()
	failed := testgate.Filter(entries, func(e testgate.LogEntry) bool { return e.Msg() == "request failed" })
	if len(failed) != len(cases) {
		t.Fatalf("%d request lines, want %d (one per failed request):\n%s", len(failed), len(cases), capture.Raw())
	}
	for i, c := range cases {
		e := failed[i]
		for field, want := range map[string]string{
			"level": "warn", "logger": "http.handlers.agentgate", "dialect": "openai", "path": "/v1/chat/completions",
			"model": c.model, "provider": c.provider, "outcome": "upstream_error", "attempts": "2",
			"tenant": "tenant-a", "upstream_status": c.upstreamStatus,
		} {
			if got := e.String(field); got != want {
				t.Errorf("%s: %s = %q, want %q", c.model, field, got, want)
			}
		}
		if !strings.Contains(e.String("cause"), c.cause) || e.String("error") == "" || e.String("latency") == "" {
			t.Errorf("%s: error %q, cause %q, want %q in it", c.model, e.String("error"), e.String("cause"), c.cause)
		}
	}
	attempts := testgate.Filter(entries, func(e testgate.LogEntry) bool { return e.Msg() == "upstream attempt failed" })
	if len(attempts) != 2*len(cases) {
		t.Errorf("%d attempt lines, want %d", len(attempts), 2*len(cases))
	}
	for _, a := range attempts {
		if a.Level() != "debug" || a.String("cause") == "" || a.String("provider") == "" {
			t.Errorf("attempt line: %v", a)
		}
	}
	access := testgate.ParseLog(t, []byte(readFile(t, capture.Path+".access")))
	if len(access) != len(cases) {
		t.Fatalf("%d access log lines", len(access))
	}
	for i, a := range access {
		want := failed[i].String("error") + ": " + failed[i].String("cause")
		if got := a.String("error"); got != want {
			t.Errorf("access log error %q, want %q", got, want)
		}
	}
	// The usage records of the failed calls say why, in the admin view.
	status, usage := adminDo(t, g, "GET", "/agentgate/usage?tenant=tenant-a&limit=100", "")
	if status != 200 {
		t.Fatalf("usage: %d %s", status, usage)
	}
	for _, c := range cases {
		found := false
		for _, rec := range gjson.Get(usage, "records").Array() {
			if rec.Get("model_id").Str == c.model && rec.Get("status").Str != "ok" &&
				strings.Contains(rec.Get("error").Str, c.cause) {
				found = true
			}
		}
		if !found {
			t.Errorf("no usage record of %s says %q: %s", c.model, c.cause, usage)
		}
	}
	all := capture.Raw() + readFile(t, capture.Path+".access") + usage
	for _, secret := range []string{testgate.KeyA, upstreamKey, promptMarker} {
		if strings.Contains(all, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}

// readFile returns the file at path, "" when there is none.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}
