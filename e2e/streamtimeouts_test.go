package e2e

// Stream timeouts through a real Caddy: upstreams that never answer, that
// send their headers and then nothing, and that stall after a first token
// (fakeupstream's Stall modes), behind providers with 200ms stream bounds.
// Every dialect's streamed call gets a clean error in its own shape (an
// error status before its stream began, its in-stream error event after),
// attempts that sent nothing to the client are retried, and the key's one
// concurrency slot is free again afterwards.

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/tidwall/gjson"
)

// stKey is on a tier of one request in flight: a slot a stalled stream
// kept would refuse every later request.
const stKey = "agk_test_one_slot_key_0000000000"

// stEvent is one Server-Sent Event: its event: name and data.
type stEvent struct {
	name string
	data gjson.Result
}

// stAnswer is what a streamed call answered: the status and, for an
// event stream, its events (else the JSON body).
type stAnswer struct {
	status int
	events []stEvent
	body   gjson.Result
}

// streamed reports whether the answer is an event stream.
func (a stAnswer) streamed() bool { return a.events != nil }

// stDialect is one dialect's streamed call and how it reports errors.
type stDialect struct {
	name string
	// request builds the streamed call to agent.
	request func(g *testgate.Gateway, agent string) *http.Request
	// earlyStatus is the status of an error before the stream began.
	earlyStatus int
	// early returns the code and message of an error answered before the
	// stream began; late the text streamed, and the code and message of
	// the error that ended a stream after it began (none: "", "").
	// Agents v2 errors have no code: only a message, its "detail".
	early func(body gjson.Result) (code, msg string)
	late  func(t *testing.T, evs []stEvent) (text, code, msg string)
}

func stPost(g *testgate.Gateway, path, body string, header ...string) *http.Request {
	req, _ := http.NewRequest("POST", g.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+stKey)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

// stDialects are the six dialects' streamed calls.
func stDialects() []stDialect {
	errorObject := func(b gjson.Result) (string, string) {
		return b.Get("error.code").String(), b.Get("error.message").String()
	}
	// dataEvents reads a data-only stream: its text, the textField of
	// its events, and the {"error": {...}} event that ends it.
	dataEvents := func(textField string) func(t *testing.T, evs []stEvent) (string, string, string) {
		return func(t *testing.T, evs []stEvent) (string, string, string) {
			var text strings.Builder
			for i, ev := range evs {
				if e := ev.data.Get("error"); e.Exists() {
					if i != len(evs)-1 {
						t.Errorf("error event %d of %d", i, len(evs))
					}
					return text.String(), e.Get("code").String(), e.Get("message").String()
				}
				text.WriteString(ev.data.Get(textField).String())
			}
			return text.String(), "", ""
		}
	}
	return []stDialect{
		{
			name: "openai",
			request: func(g *testgate.Gateway, agent string) *http.Request {
				return stPost(g, "/v1/chat/completions", `{"model":"`+agent+`","messages":[{"role":"user","content":"Hello?"}],"stream":true}`)
			},
			earlyStatus: http.StatusGatewayTimeout, early: errorObject,
			late: dataEvents("choices.0.delta.content"),
		},
		{
			name: "egzora",
			request: func(g *testgate.Gateway, agent string) *http.Request {
				return stPost(g, "/v1/chat", `{"agent_id":"`+agent+`","message":"Hello?","stream":true}`)
			},
			earlyStatus: http.StatusGatewayTimeout, early: errorObject,
			late: dataEvents("chunk"),
		},
		{
			name: "engrami",
			request: func(g *testgate.Gateway, agent string) *http.Request {
				return stPost(g, "/api/v1/agents/"+agent+"/chat/stream", `{"message":"Hello?"}`)
			},
			earlyStatus: http.StatusGatewayTimeout, early: errorObject,
			late: dataEvents("content"),
		},
		{
			name: "agentsv2",
			request: func(g *testgate.Gateway, agent string) *http.Request {
				return stPost(g, "/v2/agents/"+agent+"/chat",
					`{"message":"Hello?","stream":true,"user_id":"user-1","session_id":"stall","timezone":"UTC","locale":"en-US"}`)
			},
			earlyStatus: http.StatusGatewayTimeout,
			early:       func(b gjson.Result) (string, string) { return "", b.Get("detail").String() },
			late: func(t *testing.T, evs []stEvent) (string, string, string) {
				var text strings.Builder
				for i, ev := range evs {
					if ev.name == "error" {
						if i != len(evs)-1 || ev.data.Get("status").String() != "error" {
							t.Errorf("error event %d of %d: %s", i, len(evs), ev.data.Raw)
						}
						return text.String(), "", ev.data.Get("detail").String()
					}
					text.WriteString(ev.data.Get("content").String())
				}
				return text.String(), "", ""
			},
		},
		{
			name: "responses",
			request: func(g *testgate.Gateway, agent string) *http.Request {
				return stPost(g, "/v1/responses", `{"model":"`+agent+`","input":"Hello?","stream":true}`)
			},
			// The document makes every failure of a running agent a 500.
			earlyStatus: http.StatusInternalServerError, early: errorObject,
			late: func(t *testing.T, evs []stEvent) (string, string, string) {
				var text strings.Builder
				for i, ev := range evs {
					switch ev.name {
					case "response.output_text.delta":
						text.WriteString(ev.data.Get("delta").String())
					case "response.failed":
						if i != len(evs)-1 {
							t.Errorf("response.failed is event %d of %d", i, len(evs))
						}
						return text.String(), ev.data.Get("response.error.code").String(), ev.data.Get("response.error.message").String()
					}
				}
				return text.String(), "", ""
			},
		},
		{
			name: "tenzro",
			request: func(g *testgate.Gateway, agent string) *http.Request {
				return stPost(g, "/agent/agents/"+agent+"/chat", `{"message":"Hello?","stream":true}`, "X-Project-ID", "proj_stall")
			},
			earlyStatus: http.StatusGatewayTimeout, early: errorObject,
			late: dataEvents("content"),
		},
	}
}

// stClient gives up on a call long after any bound the test configures:
// a stall the gateway does not bound fails the test instead of hanging it.
var stClient = &http.Client{Timeout: time.Minute}

// stCall sends req, waiting while the key's one slot is still taken by
// the previous call (a 429 the moment after it ended is that call's
// handler still returning; a slot that is never given back fails).
func stCall(t *testing.T, req func() *http.Request) stAnswer {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := stClient.Do(req())
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusTooManyRequests && time.Now().Before(deadline) {
			resp.Body.Close()
			time.Sleep(20 * time.Millisecond)
			continue
		}
		defer resp.Body.Close()
		a := stAnswer{status: resp.StatusCode}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			b, _ := io.ReadAll(resp.Body)
			if !gjson.ValidBytes(b) {
				t.Fatalf("%d answer is neither a stream nor JSON: %s", resp.StatusCode, b)
			}
			a.body = gjson.ParseBytes(b)
			return a
		}
		a.events = []stEvent{}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		var name string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				name = ""
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case line == "data: [DONE]":
				a.events = append(a.events, stEvent{name: "[DONE]"})
			case strings.HasPrefix(line, "data: "):
				data := strings.TrimPrefix(line, "data: ")
				if !gjson.Valid(data) {
					t.Fatalf("event data is not JSON: %q", data)
				}
				a.events = append(a.events, stEvent{name: name, data: gjson.Parse(data)})
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		return a
	}
}

// stUpstream is one stalling upstream behind its own provider, whose
// name is also the name of the agent on it.
type stUpstream struct {
	agent string
	// streams counts the streamed requests it received; abandoned those
	// of its stalled streams the gateway gave up on.
	streams, abandoned func() int
}

// stWait waits until cond holds (the fakes see a cancelled request go a
// moment after the gateway answered).
func stWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStreamTimeouts(t *testing.T) {
	stalls := []struct {
		name  string
		stall fakeupstream.Stall
		// msg is the error the client gets; early: before its stream began
		// (and so after a retry).
		msg   string
		early bool
	}{
		{"never answers", fakeupstream.StallBeforeHeaders, "upstream sent no response headers within 200ms", true},
		{"headers then nothing", fakeupstream.StallAfterHeaders, "upstream stream was silent for 200ms", true},
		{"stalls after the first token", fakeupstream.StallAfterFirstToken, "upstream stream was silent for 200ms", false},
	}
	const reply = "First then nothing."
	var block strings.Builder
	provider := func(typ, name, url string) {
		block.WriteString(`
		provider ` + name + ` ` + typ + ` {
			base_url ` + url + `
			api_key sk-upstream
			stream_header_timeout 200ms
			stream_idle_timeout 200ms
		}
		route ` + name + ` ` + name + `
		agent ` + name + ` {
			model ` + name + `
		}`)
	}
	ups := map[string][]stUpstream{} // by provider type, one per stall
	for i, s := range stalls {
		n := strconv.Itoa(i)
		o := (&fakeupstream.OpenAI{Reply: reply, Stall: s.stall}).Start()
		a := (&fakeupstream.Anthropic{Reply: reply, Stall: s.stall}).Start()
		gm := (&fakeupstream.Gemini{Reply: reply, Stall: s.stall}).Start()
		t.Cleanup(o.Close)
		t.Cleanup(a.Close)
		t.Cleanup(gm.Close)
		provider("openai", "gpt-stall-"+n, o.URL)
		provider("anthropic", "claude-stall-"+n, a.URL)
		provider("gemini", "gemini-stall-"+n, gm.URL)
		ups["openai"] = append(ups["openai"], stUpstream{"gpt-stall-" + n, func() int { return stStreams(o.Requests()) }, o.Abandoned})
		ups["anthropic"] = append(ups["anthropic"], stUpstream{"claude-stall-" + n, func() int { return stStreams(a.Requests()) }, a.Abandoned})
		ups["gemini"] = append(ups["gemini"], stUpstream{"gemini-stall-" + n, func() int { return len(gm.Requests()) }, gm.Abandoned})
	}
	// once stalls on its first stream only: the retry answers.
	once := (&fakeupstream.OpenAI{Reply: "Answered on the retry.", Stall: fakeupstream.StallAfterHeaders, StallCount: 1}).Start()
	t.Cleanup(once.Close)
	provider("openai", "gpt-stall-once", once.URL)
	g := testgate.Start(t, testgate.Config{Block: block.String() + `
		retries {
			max 1
			backoff 1ms
			max_backoff 2ms
		}
		tier one-slot {
			concurrent 1
		}
		key ` + stKey + ` {
			tenant tenant-a
			tier one-slot
		}
`})

	run := func(t *testing.T, d stDialect, u stUpstream, stall int) {
		s := stalls[stall]
		streams0, abandoned0 := u.streams(), u.abandoned()
		a := stCall(t, func() *http.Request { return d.request(g, u.agent) })
		attempts := 1
		if s.early {
			attempts = 2 // nothing reached the client: retried once
			if a.status != d.earlyStatus || a.streamed() {
				t.Fatalf("answered %d (stream: %v) %s, want a %d error", a.status, a.streamed(), a.body.Raw, d.earlyStatus)
			}
			code, msg := d.early(a.body)
			if msg != s.msg || (code != "upstream_timeout" && d.name != "agentsv2") {
				t.Errorf("error %s, want code upstream_timeout and message %q", a.body.Raw, s.msg)
			}
		} else {
			if a.status != http.StatusOK || !a.streamed() {
				t.Fatalf("answered %d %s, want a stream", a.status, a.body.Raw)
			}
			text, code, msg := d.late(t, a.events)
			if text != "First " || msg != s.msg || (code != "upstream_timeout" && d.name != "agentsv2") {
				t.Errorf("streamed %q, then error %q %q; want %q, then upstream_timeout %q", text, code, msg, "First ", s.msg)
			}
			if last := a.events[len(a.events)-1]; last.name == "[DONE]" {
				t.Errorf("a failed stream ends with [DONE]")
			}
		}
		if n := u.streams() - streams0; n != attempts {
			t.Errorf("upstream saw %d streams, want %d", n, attempts)
		}
		stWait(t, "the upstream to see every stalled stream go", func() bool { return u.abandoned()-abandoned0 == attempts })
	}
	for _, d := range stDialects() {
		for i, s := range stalls {
			t.Run(d.name+"/openai/"+s.name, func(t *testing.T) { run(t, d, ups["openai"][i], i) })
		}
	}
	for _, typ := range []string{"anthropic", "gemini"} {
		for i, s := range stalls {
			t.Run("openai/"+typ+"/"+s.name, func(t *testing.T) { run(t, stDialects()[0], ups[typ][i], i) })
		}
	}
	t.Run("retried after a stall", func(t *testing.T) {
		a := stCall(t, func() *http.Request { return stDialects()[0].request(g, "gpt-stall-once") })
		text, code, _ := stDialects()[0].late(t, a.events)
		if a.status != http.StatusOK || text != "Answered on the retry." || code != "" {
			t.Errorf("answered %d %q %q, want the retry's answer", a.status, text, code)
		}
		if n := stStreams(once.Requests()); n != 2 || once.Abandoned() != 1 {
			t.Errorf("upstream saw %d streams, %d abandoned; want 2, 1", n, once.Abandoned())
		}
	})
}

// stStreams counts the streamed requests among bodies.
func stStreams(bodies [][]byte) int {
	n := 0
	for _, b := range bodies {
		if gjson.GetBytes(b, "stream").Bool() {
			n++
		}
	}
	return n
}
