package tools

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// webhookServer records what each request brought and answers with the
// handler the test gives.
type webhookServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
}

type recorded struct {
	method, path, query string
	header              http.Header
	body                string
}

func newWebhookServer(t *testing.T, answer http.HandlerFunc) *webhookServer {
	t.Helper()
	s := &webhookServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(body)})
		s.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *webhookServer) received() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.requests...)
}

func answerWith(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func oneMethod(t *testing.T, mc HTTPMethodConfig, client *http.Client) *Method {
	t.Helper()
	tk, err := HTTPToolkit("Hooks", []HTTPMethodConfig{mc}, client)
	if err != nil {
		t.Fatal(err)
	}
	return tk.Methods[0]
}

func TestHTTPToolkitSendsArguments(t *testing.T) {
	s := newWebhookServer(t, answerWith(http.StatusOK, "application/json", `{"sent": true, "id": 7}`+"\n"))
	tk, err := HTTPToolkit("EmailToolkit", []HTTPMethodConfig{{
		Name:                 "send_email",
		Description:          "Sends an email.",
		URL:                  s.URL + "/hooks/email?tenant=ops",
		Parameters:           json.RawMessage(`{"type": "object", "properties": {"to": {"type": "string"}, "body": {"type": "string"}}, "required": ["to"]}`),
		RequiresConfirmation: true,
		Timeout:              5 * time.Second,
		Headers:              map[string]string{"Authorization": "Bearer hook-secret", "x-tenant": "ops"},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRegistry(tk)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := r.Method("EmailToolkit", "send_email")
	if !ok {
		t.Fatal("send_email not registered")
	}
	if !m.RequiresConfirmation || m.Timeout != 5*time.Second || m.Description != "Sends an email." ||
		string(m.Parameters) != `{"type":"object","properties":{"to":{"type":"string"},"body":{"type":"string"}},"required":["to"]}` {
		t.Errorf("method = %+v, parameters %s", m, m.Parameters)
	}

	args := `{"to": "a@example.com", "body": "hi \u00e9", "n": 12345678901234567890}`
	res, failed := Run(context.Background(), m, json.RawMessage(args))
	if failed || string(res) != `{"sent": true, "id": 7}` {
		t.Errorf("Run = %s, failed %v", res, failed)
	}
	got := s.received()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	req := got[0]
	if req.method != http.MethodPost || req.path != "/hooks/email" || req.query != "tenant=ops" || req.body != args {
		t.Errorf("request = %+v", req)
	}
	if req.header.Get("Content-Type") != "application/json" || req.header.Get("Authorization") != "Bearer hook-secret" ||
		req.header.Get("X-Tenant") != "ops" || req.header.Get("Accept") != "application/json" {
		t.Errorf("headers = %v", req.header)
	}
}

func TestHTTPToolkitResponses(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("é", 400) // 800 bytes: the excerpt must not split a rune
	for i, c := range []struct {
		answer http.HandlerFunc
		args   string
		want   string // the exact result, or a part of the error
		failed bool
	}{
		{answerWith(http.StatusOK, "application/json", `[1,2,3]`), `{}`, `[1,2,3]`, false},
		{answerWith(http.StatusOK, "text/plain", "queued\nfor later"), `{}`, `{"result":"queued\nfor later"}`, false},
		{answerWith(http.StatusOK, "application/json", `{"truncated": `), `{}`, `{"result":"{\"truncated\": "}`, false},
		{answerWith(http.StatusNoContent, "", ""), `{}`, `{"result":""}`, false},
		{answerWith(http.StatusCreated, "application/json", `{"id":"x"}`), `{}`, `{"id":"x"}`, false},
		{answerWith(http.StatusInternalServerError, "text/plain", "database\n  is down"), `{}`, `the webhook answered 500 Internal Server Error: database is down`, true},
		{answerWith(http.StatusNotFound, "", ""), `{}`, `"the webhook answered 404 Not Found"`, true},
		{answerWith(http.StatusBadGateway, "text/html", long), `{}`, strings.Repeat("é", 128) + "…", true},
		{answerWith(http.StatusOK, "application/json", `"`+strings.Repeat("x", MaxResultBytes)+`"`), `{}`, "larger than 1048576 bytes", true},
		{answerWith(http.StatusOK, "application/json", `{}`), `[1, 2]`, "must be a JSON object", true},
		{answerWith(http.StatusOK, "application/json", `{}`), `"to"`, "must be a JSON object", true},
		{answerWith(http.StatusOK, "application/json", `{}`), `{"a":`, "not valid JSON", true},
	} {
		s := newWebhookServer(t, c.answer)
		m := oneMethod(t, HTTPMethodConfig{Name: "hook", URL: s.URL}, nil)
		res, failed := Run(ctx, m, json.RawMessage(c.args))
		if failed != c.failed || (!c.failed && string(res) != c.want) || (c.failed && !strings.Contains(string(res), c.want)) {
			t.Errorf("case %d: Run = %s, failed %v; want %s", i, res, failed, c.want)
		}
		if c.failed && len(res) > 2*errorExcerptBytes+100 {
			t.Errorf("case %d: error of %d bytes", i, len(res))
		}
	}
}

func TestHTTPToolkitTimeout(t *testing.T) {
	release := make(chan struct{})
	s := newWebhookServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release) // before s.Close, which waits for the handler
	m := oneMethod(t, HTTPMethodConfig{Name: "hook", URL: s.URL, Timeout: 50 * time.Millisecond}, nil)
	res, failed := Run(context.Background(), m, nil)
	if !failed || string(res) != `{"error":"the tool did not answer within 50ms"}` {
		t.Errorf("Run = %s, failed %v", res, failed)
	}
	if got := s.received(); len(got) != 1 || got[0].body != "{}" {
		t.Errorf("requests = %+v", got)
	}
}

func TestHTTPToolkitStaysOnItsURL(t *testing.T) {
	elsewhere := newWebhookServer(t, answerWith(http.StatusOK, "application/json", `{"stolen":true}`))
	s := newWebhookServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL, http.StatusTemporaryRedirect)
	})
	// A caller's client that follows redirects is copied, not changed.
	client := &http.Client{}
	m := oneMethod(t, HTTPMethodConfig{Name: "hook", URL: s.URL}, client)
	if client.CheckRedirect != nil {
		t.Error("the caller's client was changed")
	}
	// Arguments naming a URL are only data.
	res, failed := Run(context.Background(), m, json.RawMessage(`{"url": "`+elsewhere.URL+`", "URL": "`+elsewhere.URL+`"}`))
	if !failed || !strings.Contains(string(res), "307 Temporary Redirect") {
		t.Errorf("Run = %s, failed %v", res, failed)
	}
	if n := len(elsewhere.received()); n != 0 {
		t.Errorf("the other server got %d requests", n)
	}

	// When the webhook is down, the error names no address.
	s.Close()
	res, failed = Run(context.Background(), m, nil)
	if !failed || string(res) != `{"error":"the webhook could not be reached (connection refused)"}` {
		t.Errorf("Run with the webhook down = %s, failed %v", res, failed)
	}
}

func TestHTTPToolkitConfig(t *testing.T) {
	ok := HTTPMethodConfig{Name: "hook", URL: "https://hooks.example.com/x"}
	with := func(f func(*HTTPMethodConfig)) HTTPMethodConfig {
		mc := ok
		f(&mc)
		return mc
	}
	for i, c := range []struct {
		name    string
		methods []HTTPMethodConfig
		err     string
	}{
		{"", []HTTPMethodConfig{ok}, "a name is required"},
		{"Hooks", nil, "at least one method"},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.Name = "" })}, "has no name"},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.Name = "send email" })}, "1 to 64 letters"},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.Name = "Hooks.send" })}, "1 to 64 letters"},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.Name = strings.Repeat("a", 65) })}, "1 to 64 letters"},
		{"Hooks", []HTTPMethodConfig{ok, ok}, `"hook" declared twice`},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.URL = "" })}, "a URL is required"},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.URL = "/relative" })}, "absolute http or https"},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.URL = "hooks.example.com/x" })}, "absolute http or https"},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.URL = "file:///etc/passwd" })}, "absolute http or https"},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.URL = "https:///x" })}, "absolute http or https"},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.URL = "http://a b/" })}, "invalid URL"},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.URL = "https://h.example/x#frag" })}, "fragment"},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.Parameters = json.RawMessage(`{"type":`) })}, "JSON Schema object"},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.Parameters = json.RawMessage(`[]`) })}, "JSON Schema object"},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.Parameters = json.RawMessage(`null`) })}, "JSON Schema object"},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.Parameters = json.RawMessage(`{"type":"string"}`) })}, `"type" must be "object"`},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.Parameters = json.RawMessage(`{"properties":[]}`) })}, `"properties" must be an object`},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.Parameters = json.RawMessage(`{"properties":{"a":1}}`) })}, `property "a"`},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.Parameters = json.RawMessage(`{"required":"a"}`) })}, `"required" must be a list`},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.Headers = map[string]string{"X-Bad": "a\r\nInjected: 1"} })}, "invalid header"},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.Headers = map[string]string{"Bad Name": "x"} })}, "invalid header"},
		{"Hooks", []HTTPMethodConfig{with(func(m *HTTPMethodConfig) { m.Timeout = -time.Second })}, "negative timeout"},
	} {
		tk, err := HTTPToolkit(c.name, c.methods, nil)
		if err == nil || !strings.Contains(err.Error(), c.err) || tk != nil {
			t.Errorf("case %d: HTTPToolkit = %v, %v; want error %q", i, tk, err, c.err)
		}
	}

	// Empty parameters become an empty object schema.
	tk, err := HTTPToolkit("Hooks", []HTTPMethodConfig{ok, with(func(m *HTTPMethodConfig) {
		m.Name, m.URL, m.Parameters = "other", "http://127.0.0.1:9/x", json.RawMessage(" {\n} ")
	})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := string(tk.Methods[0].Parameters); p != `{"type":"object","properties":{}}` {
		t.Errorf("default parameters = %s", p)
	}
	if p := string(tk.Methods[1].Parameters); p != `{}` {
		t.Errorf("compacted parameters = %s", p)
	}
}

// TestURLErrorsNameNoSecret: a webhook's or MCP endpoint's URL may carry
// a token (user info, path, query); the errors of a bad or unreachable
// one, which are logged, never quote it, and RedactURL keeps only the
// scheme and host.
func TestURLErrorsNameNoSecret(t *testing.T) {
	// A port nothing listens on: held, then closed.
	held := httptest.NewServer(http.NotFoundHandler())
	refused := strings.TrimPrefix(held.URL, "http://")
	held.Close()
	for _, c := range []struct{ url, want string }{
		{"http://h.example:SECRET/x", "invalid URL: invalid port"},
		{"http://SECRET host/x", "invalid URL: invalid character"},
		{"http://h.example/%zzSECRET", "invalid URL"},
		{"ftp://user:SECRET@h.example/x?token=SECRET", "absolute http or https"},
		{"SECRET", "absolute http or https"},
		{"https://h.example/x?token=SECRET#SECRET", "fragment"},
	} {
		_, err := HTTPToolkit("Hooks", []HTTPMethodConfig{{Name: "hook", URL: c.url}}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("webhook %s: %v; want %q without the secret", c.url, err, c.want)
		}
		_, _, err = MCPToolkit(context.Background(), "Docs", c.url, MCPOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("MCP endpoint %s: %v; want %q without the secret", c.url, err, c.want)
		}
	}
	for _, endpoint := range []string{
		"http://" + refused + "/mcp?token=SECRET",
		"http://user:SECRET@" + refused + "/mcp",
		"http://" + refused + "/SECRET/mcp",
	} {
		_, _, err := MCPToolkit(context.Background(), "Docs", endpoint, MCPOptions{})
		if err == nil || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("MCP endpoint %s refused: %v; want an error without the secret", endpoint, err)
		}
	}
	for raw, want := range map[string]string{
		"https://user:SECRET@h.example:8443/SECRET/x?token=SECRET#SECRET": "https://h.example:8443",
		"http://h.example":   "http://h.example",
		"http://h.example:x": "",
	} {
		if got := RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
	if got := scrubURL(`Post "http://user:***@h.example/SECRET?token=SECRET": refused`, "http://user:SECRET@h.example/SECRET?token=SECRET"); strings.Contains(got, "SECRET") {
		t.Errorf("scrubURL left the secret: %s", got)
	}
}
