package egzora

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/dialecttest"
	"github.com/agentgate/agentgate/state"
)

// Tiny images for the golden cases (the JPEG is only a JFIF header: enough
// for content sniffing, which is all the dialect checks).
const (
	pngURL  = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAAEElEQVR4nGI6IScHCAAA//8CvgEHAOBnOAAAAABJRU5ErkJggg=="
	gifURL  = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
	jpegURL = "data:image/jpg;base64,/9j/4AAQSkZJRgABAQ=="
)

// Scripted upstream answers, as JSON lines of canonical events.
const (
	evText = `{"type":"start","model":"gpt-test-0001"}
{"type":"delta","text":"Hello"}
{"type":"delta","text":" world"}
{"type":"usage","usage":{"input_tokens":12,"output_tokens":2}}
{"type":"done","model":"gpt-test-0001","finish_reason":"stop"}`
	evThinking = `{"type":"start","model":"o-test-0001"}
{"type":"thinking","text":"144 has root 12."}
{"type":"thinking","text":" 12 + 56 = 68."}
{"type":"delta","text":"The answer"}
{"type":"delta","text":" is 68."}
{"type":"usage","usage":{"input_tokens":20,"output_tokens":30,"reasoning_tokens":24}}
{"type":"done","model":"o-test-0001","finish_reason":"stop"}`
	evThinkingOnly = `{"type":"start","model":"o-test-0001"}
{"type":"thinking","text":"Out of budget before answering."}
{"type":"usage","usage":{"input_tokens":20,"output_tokens":64,"reasoning_tokens":64}}
{"type":"done","model":"o-test-0001","finish_reason":"length"}`
	evUpstreamDown = `{"type":"error","error":{"kind":10,"message":"upstream unavailable: connection refused","code":"upstream_unavailable"}}`
	evRateLimited  = `{"type":"error","error":{"kind":7,"message":"upstream rate limit reached","code":"rate_limit_exceeded","retry_after":1500000}}`
	evMidstream    = `{"type":"start","model":"gpt-test-0001"}
{"type":"delta","text":"Hel"}
{"type":"error","error":{"kind":9,"message":"upstream connection lost","code":"upstream_error"}}`
	evTurn1 = `{"type":"start","model":"gpt-test-0001"}
{"type":"delta","text":"Nice to meet you, Ada."}
{"type":"usage","usage":{"input_tokens":15,"output_tokens":6}}
{"type":"done","finish_reason":"stop"}`
	evTurn2 = `{"type":"start","model":"gpt-test-0001"}
{"type":"delta","text":"Your name is Ada."}
{"type":"usage","usage":{"input_tokens":31,"output_tokens":5}}
{"type":"done","finish_reason":"stop"}`
)

func events(t testing.TB, jsonl string) []adapters.Event {
	t.Helper()
	var out []adapters.Event
	for _, line := range strings.Split(jsonl, "\n") {
		var ev adapters.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out = append(out, ev)
	}
	return out
}

// agents are the declared agents of every case: a plain one with tools, a
// reasoning one, and one private to tenant-a.
func agents() []*adapters.Agent {
	return []*adapters.Agent{
		{ID: "assistant", Name: "Assistant", Description: "General helper", SystemPrompt: "You are the agent.",
			Model: "gpt-test", Tools: []string{"web_search", "calculator"}, Status: adapters.StatusActive},
		{ID: "thinker", Name: "Thinker", SystemPrompt: "Think first.", Model: "o-test", Reasoning: true,
			ReasoningEffort: "high", HistoryTurns: 2, Status: adapters.StatusActive},
		{ID: "secret-a", Name: "Secret A", Tenant: "tenant-a", Model: "gpt-test"},
	}
}

// step is one request of a case; tenant "b" uses tenant B's key.
type step struct {
	method, path, tenant, body string
}

func chatStep(body string) step { return step{method: "POST", path: "/v1/chat", body: body} }

type goldenCase struct {
	name   string
	events []string // one script per upstream call; the last repeats
	setup  func(*dialecttest.Harness)
	steps  []step
}

func chat(agent string, stream bool, reasoning string) step {
	b := `{"agent_id":"` + agent + `","message":"Compute the square root of 144 plus 56"`
	if stream {
		b += `,"stream":true`
	}
	if reasoning != "" {
		b += `,"reasoning_enabled":` + reasoning
	}
	return chatStep(b + "}")
}

var goldenCases = []goldenCase{
	{name: "text", events: []string{evText}, steps: []step{chatStep(`{"agent_id":"assistant","message":"Hi"}`)}},
	{name: "text_stream", events: []string{evText}, steps: []step{chatStep(`{"agent_id":"assistant","message":"Hi","stream":true}`)}},
	{name: "by_name", events: []string{evText}, steps: []step{chatStep(`{"agent_id":"Assistant","message":"Hi","stream":false,"session_id":null,"reasoning_enabled":null,"images":null}`)}},

	// Reasoning: explicit on, explicit off and omitted (agent default),
	// each streamed and not. The scripted model thinks in every case, so
	// "off" also shows that thinking the model did unasked is not shown.
	{name: "reasoning_on", events: []string{evThinking}, steps: []step{chat("assistant", false, "true")}},
	{name: "reasoning_on_stream", events: []string{evThinking}, steps: []step{chat("assistant", true, "true")}},
	{name: "reasoning_off", events: []string{evThinking}, steps: []step{chat("thinker", false, "false")}},
	{name: "reasoning_off_stream", events: []string{evThinking}, steps: []step{chat("thinker", true, "false")}},
	{name: "reasoning_default_on", events: []string{evThinking}, steps: []step{chat("thinker", false, "")}},
	{name: "reasoning_default_on_stream", events: []string{evThinking}, steps: []step{chat("thinker", true, "")}},
	{name: "reasoning_default_off", events: []string{evThinking}, steps: []step{chat("assistant", false, "")}},
	{name: "reasoning_default_off_stream", events: []string{evThinking}, steps: []step{chat("assistant", true, "")}},
	{name: "thinking_only", events: []string{evThinkingOnly}, steps: []step{chat("thinker", false, "")}},
	{name: "thinking_only_stream", events: []string{evThinkingOnly}, steps: []step{chat("thinker", true, "")}},

	{name: "images", events: []string{evText}, steps: []step{chatStep(`{"agent_id":"assistant","message":"What is in these?","images":["` +
		pngURL + `","` + jpegURL + `","` + gifURL + `"]}`)}},
	{name: "image_errors", events: []string{evText},
		setup: func(h *dialecttest.Harness) { h.Env.Limits.MaxImageBytes = 128 },
		steps: []step{
			imageStep(`"https://example.com/cat.png"`),
			imageStep(`"data:image/jpeg;base64,..."`),
			imageStep(`"data:text/plain;base64,aGVsbG8="`),
			imageStep(`"data:image/bmp;base64,Qk0="`),
			imageStep(`"data:image/png,rawbytes"`),
			imageStep(`"data:image/png;base64"`),
			imageStep(`"data:image/png;base64,"`),
			imageStep(`"data:image/png;base64,aGVsbG8gd29ybGQ="`),
			imageStep(`"data:image/jpeg;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"`),
			imageStep(`"data:image/png;base64,` + strings.Repeat("AAAA", 60) + `"`),
			imageStep(`42`),
			chatStep(`{"agent_id":"assistant","message":"Two","images":["` + pngURL + `","data:image/png;base64,%%%"]}`),
			chatStep(`{"agent_id":"assistant","message":"One","images":"` + pngURL + `"}`),
		}},

	{name: "bad_requests", events: []string{evText},
		setup: func(h *dialecttest.Harness) { h.Env.Limits.MaxBodyBytes = 1024 },
		steps: []step{
			chatStep(`{"agent_id":"assistant",`),
			chatStep(`[1,2]`),
			chatStep(``),
			chatStep(`{"message":"Hi"}`),
			chatStep(`{"agent_id":"","message":"Hi"}`),
			chatStep(`{"agent_id":7,"message":"Hi"}`),
			chatStep(`{"agent_id":"assistant"}`),
			chatStep(`{"agent_id":"assistant","message":"   "}`),
			chatStep(`{"agent_id":"assistant","message":["Hi"]}`),
			chatStep(`{"agent_id":"assistant","message":"Hi","stream":"yes"}`),
			chatStep(`{"agent_id":"assistant","message":"Hi","reasoning_enabled":"on"}`),
			chatStep(`{"agent_id":"assistant","message":"Hi","session_id":12}`),
			chatStep(`{"agent_id":"assistant","message":"Hi","session_id":"a\u0000b"}`),
			chatStep(`{"agent_id":"assistant","message":"Hi","session_id":"` + strings.Repeat("s", 300) + `"}`),
			chatStep(`{"agent_id":"assistant","message":"Hi","temperature":3}`),
			chatStep(`{"agent_id":"assistant","message":"` + strings.Repeat("x", 2048) + `"}`),
		}},
	{name: "unknown_agent", events: []string{evText}, steps: []step{
		chatStep(`{"agent_id":"nobody","message":"Hi"}`),
		{method: "POST", path: "/v1/chat", tenant: "b", body: `{"agent_id":"secret-a","message":"Hi"}`},
		{method: "POST", path: "/v1/chat", tenant: "b", body: `{"agent_id":"Secret A","message":"Hi","stream":true}`},
		chatStep(`{"agent_id":"drafty","message":"Hi"}`),
	}},
	{name: "upstream_down", events: []string{evUpstreamDown}, steps: []step{
		chatStep(`{"agent_id":"assistant","message":"Hi"}`),
		chatStep(`{"agent_id":"assistant","message":"Hi","stream":true}`),
	}},
	{name: "upstream_rate_limited", events: []string{evRateLimited}, steps: []step{
		chatStep(`{"agent_id":"assistant","message":"Hi","stream":true}`),
	}},
	{name: "midstream_error_stream", events: []string{evMidstream}, steps: []step{
		chatStep(`{"agent_id":"assistant","message":"Hi","stream":true}`),
	}},

	// Sessions: the second turn replays the first; tenant B's same id is
	// a fresh session of its own, and so is another agent's.
	{name: "session", events: []string{evTurn1, evTurn2, evTurn1}, steps: []step{
		chatStep(`{"agent_id":"assistant","message":"My name is Ada.","session_id":"s-123"}`),
		chatStep(`{"agent_id":"assistant","message":"What is my name?","session_id":"s-123","stream":true}`),
		{method: "POST", path: "/v1/chat", tenant: "b", body: `{"agent_id":"assistant","message":"What is my name?","session_id":"s-123"}`},
		chatStep(`{"agent_id":"thinker","message":"What is my name?","session_id":"s-123"}`),
	}},

	{name: "agents", steps: []step{
		{method: "GET", path: "/v1/agents"},
		{method: "GET", path: "/v1/agents", tenant: "b"},
	}},
	{name: "profile", events: []string{evText, evThinking}, steps: []step{
		{method: "GET", path: "/v1/auth/profile"},
		chatStep(`{"agent_id":"assistant","message":"Hi"}`),
		chat("thinker", true, ""),
		{method: "GET", path: "/v1/auth/profile"},
		{method: "POST", path: "/v1/chat", tenant: "b", body: `{"agent_id":"assistant","message":"Hi"}`},
		{method: "GET", path: "/v1/auth/profile", tenant: "b"},
	}},
	{name: "logs", events: []string{evText, evThinking, evText, evMidstream}, steps: []step{
		{method: "GET", path: "/v1/logs"},
		chatStep(`{"agent_id":"assistant","message":"Hi","session_id":"s-log"}`),
		chat("thinker", false, ""),
		{method: "POST", path: "/v1/chat", tenant: "b", body: `{"agent_id":"assistant","message":"Hi"}`},
		chatStep(`{"agent_id":"assistant","message":"Hi","stream":true}`),
		{method: "GET", path: "/v1/logs"},
		{method: "GET", path: "/v1/logs?limit=1"},
		{method: "GET", path: "/v1/logs?limit=5000", tenant: "b"},
		{method: "GET", path: "/v1/logs?limit=abc"},
		{method: "GET", path: "/v1/logs?limit=0"},
		{method: "GET", path: "/v1/logs?limit=-3"},
		{method: "GET", path: "/v1/logs?limit="},
	}},
}

func imageStep(item string) step {
	return chatStep(`{"agent_id":"assistant","message":"Look","images":[` + item + `]}`)
}

// newHarness builds the harness of a case: the declared agents, a stored
// draft agent of tenant-a, and a "pro" tier of 1000 monthly tokens and a
// monthly budget of $0.001
// (tenant B's "free" tier is not configured: unlimited).
func newHarness(t *testing.T, scripts []string) *dialecttest.Harness {
	t.Helper()
	script := &dialecttest.Script{}
	for _, s := range scripts {
		script.Events = append(script.Events, events(t, s))
	}
	if len(script.Events) == 0 {
		script.Events = [][]adapters.Event{events(t, evText)}
	}
	h := dialecttest.New(t, Name, script, agents()...)
	err := h.Store.CreateAgent(t.Context(), &adapters.Agent{ID: "drafty", Tenant: "tenant-a", Name: "Draft Helper",
		Description: "Not published yet", Model: "gpt-test", Provider: "script", Status: adapters.StatusDraft,
		CreatedAt: dialecttest.Clock.Add(-time.Hour), UpdatedAt: dialecttest.Clock.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Engine.Tiers().Put(t.Context(), h.Store, state.Tier{Name: "pro", MonthlyTokens: 1000, MonthlyBudgetUSD: 1_000}); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestGolden runs each case's requests in order and compares what the
// client got (testdata/<case>/response.golden: request, status, headers
// that matter, body) and what the scripted provider was sent
// (upstream.golden.json) with the golden files. Run with -update to
// rewrite them.
func TestGolden(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range goldenCases {
		if seen[c.name] {
			t.Fatalf("duplicate case %s", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.events)
			if c.setup != nil {
				c.setup(h)
			}
			var out bytes.Buffer
			for i, s := range c.steps {
				if i > 0 {
					out.WriteString("\n")
				}
				writeExchange(&out, s, do(h, s))
			}
			dir := filepath.Join("testdata", c.name)
			dialecttest.Golden(t, filepath.Join(dir, "response.golden"), out.Bytes())
			reqs := h.Script.Requests()
			up := []byte("null")
			if len(reqs) > 0 {
				up, _ = json.MarshalIndent(reqs, "", "  ")
			}
			dialecttest.Golden(t, filepath.Join(dir, "upstream.golden.json"), append(up, '\n'))
		})
	}
	// Every golden directory belongs to a case, so a renamed case leaves
	// no stale files behind.
	dirs, _ := filepath.Glob("testdata/*/response.golden")
	for _, d := range dirs {
		if name := filepath.Base(filepath.Dir(d)); !seen[name] && name != "errors" {
			t.Errorf("testdata/%s belongs to no case", name)
		}
	}
}

func do(h *dialecttest.Harness, s step) *httptest.ResponseRecorder {
	var hdr []string
	if s.tenant == "b" {
		hdr = []string{"X-Test-Tenant", "b"}
	}
	if s.body != "" {
		hdr = append(hdr, "Content-Type", "application/json")
	}
	return h.Do(s.method, s.path, []byte(s.body), hdr...)
}

func writeExchange(out *bytes.Buffer, s step, rec *httptest.ResponseRecorder) {
	who := "tenant-a"
	if s.tenant == "b" {
		who = "tenant-b"
	}
	fmt.Fprintf(out, ">>> %s %s (%s)\n", s.method, s.path, who)
	if s.body != "" {
		body := s.body
		if len(body) > 200 {
			body = body[:200] + fmt.Sprintf("… (%d bytes)", len(s.body))
		}
		out.WriteString(body + "\n")
	}
	fmt.Fprintf(out, "<<< %d\n", rec.Code)
	hdrs := []string{"Content-Type", "Retry-After", "Cache-Control"}
	sort.Strings(hdrs)
	for _, k := range hdrs {
		if v := rec.Header().Get(k); v != "" {
			fmt.Fprintf(out, "%s: %s\n", k, v)
		}
	}
	out.WriteString("\n")
	body := rec.Body.Bytes()
	if rec.Header().Get("Content-Type") == "application/json" {
		body = dialecttest.Indent(body)
	}
	out.Write(body)
}

// TestGoldenErrors renders every kind of error in the dialect's shape,
// including those only the Caddy handler raises (401, 429 from limits).
func TestGoldenErrors(t *testing.T) {
	d := &Dialect{}
	errs := []*adapters.Error{
		adapters.BadField("images[1]", "image data is not valid base64"),
		{Kind: adapters.KindUnauthenticated, Code: "missing_api_key", Message: "missing API key: send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"},
		{Kind: adapters.KindUnauthenticated, Code: "invalid_api_key", Message: "invalid API key"},
		{Kind: adapters.KindForbidden, Message: "this key may not use project p"},
		{Kind: adapters.KindNotFound, Code: "agent_not_found", Param: "agent", Message: "agent 'a' not found"},
		{Kind: adapters.KindTooLarge, Code: "request_too_large", Message: "request body is larger than the limit of 1024 bytes"},
		{Kind: adapters.KindRateLimited, Message: "rate limit of 20 requests per minute reached", RetryAfter: 1500 * time.Millisecond},
		{Kind: adapters.KindQuotaExceeded, Message: "monthly token quota exhausted", RetryAfter: 72 * time.Hour},
		{Kind: adapters.KindUpstream, Message: "upstream returned an invalid response"},
		{Kind: adapters.KindUnavailable, Message: "upstream unavailable"},
		{Kind: adapters.KindTimeout, Message: "upstream timed out"},
		adapters.AsError(fmt.Errorf("disk on fire")),
	}
	var out bytes.Buffer
	for _, e := range errs {
		rec := httptest.NewRecorder()
		d.WriteError(rec, e)
		fmt.Fprintf(&out, "<<< %d", rec.Code)
		if ra := rec.Header().Get("Retry-After"); ra != "" {
			fmt.Fprintf(&out, " Retry-After: %s", ra)
		}
		fmt.Fprintf(&out, "\n%s\n", rec.Body.Bytes())
		if rec.Code != e.Status() || rec.Header().Get("Content-Type") != "application/json" || !json.Valid(rec.Body.Bytes()) {
			t.Errorf("%v: status %d, content type %q, body %s", e, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes())
		}
	}
	dialecttest.Golden(t, "testdata/errors/response.golden", out.Bytes())
}

// TestStreamMatchesResponse checks, for every script and reasoning
// setting, that the chunks of a stream concatenate to exactly the
// non-streamed response, and that every data line is JSON.
func TestStreamMatchesResponse(t *testing.T) {
	for _, script := range []string{evText, evThinking, evThinkingOnly} {
		for _, agent := range []string{"assistant", "thinker"} {
			for _, reasoning := range []string{"", "true", "false"} {
				h := newHarness(t, []string{script})
				plain := do(h, chat(agent, false, reasoning))
				var res struct{ Response string }
				if err := json.Unmarshal(plain.Body.Bytes(), &res); err != nil || plain.Code != http.StatusOK {
					t.Fatalf("%d %s", plain.Code, plain.Body)
				}
				streamed := do(h, chat(agent, true, reasoning))
				var text strings.Builder
				done := 0
				for _, line := range strings.Split(streamed.Body.String(), "\n") {
					if line == "" {
						continue
					}
					data, ok := strings.CutPrefix(line, "data: ")
					if !ok {
						t.Fatalf("not a data line: %q", line)
					}
					var ev struct {
						Chunk *string
						Done  bool
					}
					if err := json.Unmarshal([]byte(data), &ev); err != nil {
						t.Fatalf("data line is not JSON: %q", data)
					}
					if ev.Chunk != nil {
						text.WriteString(*ev.Chunk)
					}
					if ev.Done {
						done++
					}
				}
				if text.String() != res.Response || done != 1 {
					t.Errorf("agent %s reasoning %q: stream %q (%d done events) != response %q", agent, reasoning, text.String(), done, res.Response)
				}
				showBlock := reasoning == "true" || (reasoning == "" && agent == "thinker")
				if got := strings.HasPrefix(res.Response, ThinkingHeader); got != (showBlock && script != evText) {
					t.Errorf("agent %s reasoning %q: block shown = %v in %q", agent, reasoning, got, res.Response)
				}
			}
		}
	}
}
