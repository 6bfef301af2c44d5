package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters/dialects/egzora"
	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/tidwall/gjson"
)

// egzBlock declares an openai provider on up and three agents: a plain
// one shared by every tenant, a reasoning one (thinking on by default,
// effort high), and one private to tenant-a.
func egzBlock(up *fakeupstream.OpenAI) string {
	return `
		provider up openai {
			base_url ` + up.URL + `
			api_key sk-upstream
		}
		agent assistant {
			name "Assistant"
			description "A general assistant"
			system_prompt "You are the agent prompt."
			model gpt-test
			provider up
			tools current_time calculator
		}
		agent thinker {
			name "Thinker"
			system_prompt "Think first."
			model o-test
			provider up
			reasoning on
			reasoning_effort high
		}
		agent secret-a {
			name "Secret A"
			tenant tenant-a
			model gpt-test
			provider up
		}
`
}

// egzTierTokens is the monthly_tokens of testgate's "pro" tier, which
// both test keys are on.
const egzTierTokens = 1000000

// egzWords is how many tokens fakeupstream counts for text: one per word.
func egzWords(s string) int {
	if s == "" {
		return 0
	}
	return len(strings.SplitAfter(s, " "))
}

// egzChat posts body to /v1/chat and returns status and parsed body.
func egzChat(t *testing.T, g *testgate.Gateway, key string, body any) (int, gjson.Result) {
	t.Helper()
	status, out, _ := g.Do("POST", "/v1/chat", key, body)
	if !json.Valid(out) {
		t.Fatalf("response is not JSON: %d %s", status, out)
	}
	return status, gjson.ParseBytes(out)
}

// egzStream is a streamed /v1/chat response read event by event.
type egzStream struct {
	resp *http.Response
	r    *bufio.Reader
}

// egzOpenStream posts a streaming chat and checks the response began.
func egzOpenStream(t *testing.T, ctx context.Context, g *testgate.Gateway, key string, body map[string]any) *egzStream {
	t.Helper()
	body["stream"] = true
	js, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", g.URL+"/v1/chat", bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("stream: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return &egzStream{resp: resp, r: bufio.NewReader(resp.Body)}
}

// next returns the next event's JSON; every line must be a "data: " line
// holding JSON (the document's sample json-parses each) or blank.
func (s *egzStream) next() (gjson.Result, error) {
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return gjson.Result{}, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || !gjson.Valid(data) {
			return gjson.Result{}, fmt.Errorf("not a JSON data line: %q", line)
		}
		return gjson.Parse(data), nil
	}
}

// all reads the rest of the stream: the chunks and the final event.
func (s *egzStream) all(t *testing.T) (chunks []string, final gjson.Result) {
	t.Helper()
	defer s.resp.Body.Close()
	for {
		ev, err := s.next()
		if err == io.EOF {
			return chunks, final
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case ev.Get("chunk").Exists():
			if final.Exists() {
				t.Fatalf("chunk after the final event: %s", ev.Raw)
			}
			chunks = append(chunks, ev.Get("chunk").String())
		case ev.Get("done").Bool() || ev.Get("error").Exists():
			if final.Exists() {
				t.Fatalf("two final events: %s, %s", final.Raw, ev.Raw)
			}
			final = ev
		default:
			t.Fatalf("unexpected event %s", ev.Raw)
		}
	}
}

func egzStreamChat(t *testing.T, g *testgate.Gateway, key string, body map[string]any) (string, []string, gjson.Result) {
	t.Helper()
	chunks, final := egzOpenStream(t, context.Background(), g, key, body).all(t)
	if !final.Get("done").Bool() {
		t.Fatalf("stream ended without a done event (final: %s)", final.Raw)
	}
	return strings.Join(chunks, ""), chunks, final
}

// egzJPEG is a real 1×1 JPEG as a data URL.
func egzJPEG(t *testing.T) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 1, 1))
	img.Set(0, 0, color.RGBA{R: 200, G: 30, B: 30, A: 255})
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(b.Bytes())
}

// egzPython runs the document's sample e2e/testdata/egzora/<name> with
// python3 after filling in the gateway's URL, key and, for the chat
// samples, agent id (and any extra literal replacements, old then new). It returns stdout, stderr and
// the run error.
func egzPython(t *testing.T, g *testgate.Gateway, name, key, agent string, extra ...string) (string, string, error) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed to run the document's samples: %v", err)
	}
	src, err := os.ReadFile(filepath.Join("testdata", "egzora", name))
	if err != nil {
		t.Fatal(err)
	}
	repl := []string{"http://127.0.0.1:8000", g.URL, "your_developer_key_here", key}
	if agent != "" {
		repl = append(repl, "your-agent-uuid-here", agent)
	}
	repl = append(repl, extra...)
	script := string(src)
	for i := 0; i+1 < len(repl); i += 2 {
		if !strings.Contains(script, repl[i]) {
			t.Fatalf("%s has no %q to fill in", name, repl[i])
		}
		script = strings.ReplaceAll(script, repl[i], repl[i+1])
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, path)
	// The answers hold "💭": make the child print UTF-8 whatever the locale.
	cmd.Env = append(os.Environ(), "PYTHONUTF8=1", "PYTHONIOENCODING=utf-8", "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	return stdout.String(), stderr.String(), err
}

func egzThinking(reasoning, answer string) string {
	return egzora.ThinkingHeader + reasoning + egzora.ThinkingSeparator + answer
}

// TestEgzoraPythonSamples runs every urllib sample of the Egzora document
// against a real Caddy and checks what each prints. The OpenAI-compatible
// samples need the openai pip package, which cannot be installed here;
// TestChatCompletionsWithOpenAISDK (e2e/openai_test.go) makes the same
// calls with the official OpenAI Go SDK.
func TestEgzoraPythonSamples(t *testing.T) {
	const reply, thinking = "The answer is 68.", "Root of 144 is 12; 12 plus 56 is 68."
	up := (&fakeupstream.OpenAI{Reply: reply, Reasoning: thinking}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: egzBlock(up)})
	key := testgate.KeyA
	var spent []int // total tokens of each chat, oldest first

	t.Run("chat", func(t *testing.T) {
		// As written, the sample sends "data:image/jpeg;base64,..." with a
		// literal "..." standing for the user's image: that is not base64,
		// so the sample as written gets a 400 naming images[0]...
		stdout, stderr, err := egzPython(t, g, "chat.py", key, "assistant")
		if err == nil || !strings.Contains(stderr, "HTTP Error 400") || stdout != "" {
			t.Fatalf("sample with the literal placeholder image: err %v, stdout %q, stderr %s", err, stdout, stderr)
		}
		status, res := egzChat(t, g, key, map[string]any{"agent_id": "assistant", "message": "Compute the square root of 144 plus 56",
			"stream": false, "reasoning_enabled": true, "images": []string{"data:image/jpeg;base64,..."}})
		if status != 400 || res.Get("error.param").String() != "images[0]" || res.Get("error.type").String() != "invalid_request_error" ||
			!strings.Contains(res.Get("error.message").String(), "not valid base64") {
			t.Fatalf("literal placeholder image: %d %s", status, res.Raw)
		}
		if n := len(up.Requests()); n != 0 {
			t.Fatalf("a rejected request reached the upstream (%d calls)", n)
		}

		// ...so the test fills in a real (tiny) JPEG for the "...", as a
		// user would, and the sample works.
		img := egzJPEG(t)
		stdout, stderr, err = egzPython(t, g, "chat.py", key, "assistant", "data:image/jpeg;base64,...", img)
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		if want := "Agent Response: " + egzThinking(thinking, reply) + "\n"; stdout != want {
			t.Errorf("printed %q, want %q", stdout, want)
		}
		sent := up.LastRequest()
		if sent.Get("reasoning_effort").String() != "medium" || sent.Get("stream").Bool() {
			t.Errorf("upstream request: %s", sent.Raw)
		}
		user := sent.Get("messages.@reverse.0")
		if user.Get("role").String() != "user" || user.Get("content.0.text").String() != "Compute the square root of 144 plus 56" ||
			user.Get("content.1.type").String() != "image_url" || user.Get("content.1.image_url.url").String() != img {
			t.Errorf("user message sent upstream: %s", user.Raw)
		}
		spent = append(spent, fakeupstream.PromptTokens(2)+egzWords(reply)+egzWords(thinking))
	})

	t.Run("stream", func(t *testing.T) {
		stdout, stderr, err := egzPython(t, g, "stream.py", key, "assistant")
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		if stdout != reply {
			t.Errorf("printed %q, want %q", stdout, reply)
		}
		sent := up.LastRequest()
		if sent.Get("reasoning_effort").Exists() || !sent.Get("stream").Bool() ||
			sent.Get("messages.@reverse.0.content").String() != "What are my external mysql metrics?" {
			t.Errorf("upstream request: %s", sent.Raw)
		}
		spent = append(spent, fakeupstream.PromptTokens(2)+egzWords(reply))
	})

	t.Run("agents", func(t *testing.T) {
		stdout, stderr, err := egzPython(t, g, "agents.py", key, "")
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		want := "Agent Name: Assistant | ID: assistant\nAgent Name: Thinker | ID: thinker\nAgent Name: Secret A | ID: secret-a\n"
		if stdout != want {
			t.Errorf("printed %q, want %q", stdout, want)
		}
	})

	t.Run("profile", func(t *testing.T) {
		stdout, stderr, err := egzPython(t, g, "profile.py", key, "")
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		used := 0
		for _, n := range spent {
			used += n
		}
		want := fmt.Sprintf("Email: a@example.com\nSubscription Tier: pro\nRemaining Tokens: %d\n", egzTierTokens-used)
		if stdout != want {
			t.Errorf("printed %q, want %q", stdout, want)
		}
	})

	t.Run("logs", func(t *testing.T) {
		stdout, stderr, err := egzPython(t, g, "logs.py", key, "")
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		if len(lines) != len(spent) {
			t.Fatalf("printed %d records, want %d:\n%s", len(lines), len(spent), stdout)
		}
		re := regexp.MustCompile(`^Time: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) \| Model: gpt-test \| Tokens: (\d+)$`)
		for i, line := range lines {
			m := re.FindStringSubmatch(line)
			// Newest first: the last chat is printed first.
			if m == nil || m[2] != fmt.Sprint(spent[len(spent)-1-i]) {
				t.Errorf("line %d = %q, want %d tokens", i, line, spent[len(spent)-1-i])
				continue
			}
			if _, err := time.Parse(time.RFC3339, m[1]); err != nil {
				t.Errorf("created_at %q is not RFC 3339: %v", m[1], err)
			}
		}
	})
}

// TestEgzoraStreaming checks that chunks reach the client while the
// upstream is still generating, and that a client going away cancels the
// upstream request.
func TestEgzoraStreaming(t *testing.T) {
	const reply = "one two three four five six seven eight"
	up := (&fakeupstream.OpenAI{Reply: reply, TokenDelay: 50 * time.Millisecond}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: egzBlock(up)})
	total := egzWords(reply)

	t.Run("chunks as they are generated", func(t *testing.T) {
		// The upstream sends a token every 50ms and then holds its last
		// token until released: the first chunk can only reach the client
		// before the end if the gateway streams it through. The deadline
		// only turns a buffering gateway into a failure instead of a hang.
		hold := make(chan struct{})
		up.HoldLast = hold
		base := up.Sent()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s := egzOpenStream(t, ctx, g, testgate.KeyA, map[string]any{"agent_id": "assistant", "message": "Count"})
		first, err := s.next()
		if err != nil {
			t.Fatalf("no chunk arrived while the upstream was still generating: %v", err)
		}
		if first.Get("chunk").String() != "one " {
			t.Fatalf("first event = %s", first.Raw)
		}
		if sent := up.Sent() - base; sent >= total {
			t.Fatalf("upstream had sent %d of %d tokens when the first chunk arrived", sent, total)
		}
		close(hold)
		chunks, final := s.all(t)
		chunks = append([]string{"one "}, chunks...)
		if strings.Join(chunks, "") != reply || len(chunks) != total {
			t.Errorf("chunks = %q, want one per token of %q", chunks, reply)
		}
		if !final.Get("done").Bool() || final.Get("usage.output_tokens").Int() != int64(total) ||
			final.Get("usage.input_tokens").Int() != int64(fakeupstream.PromptTokens(2)) || !strings.HasPrefix(final.Get("run_id").String(), "run-") {
			t.Errorf("final event = %s", final.Raw)
		}
	})

	t.Run("client disconnect cancels upstream", func(t *testing.T) {
		// The upstream holds its last token until released, which this
		// test never does: its request can only end by being canceled.
		hold := make(chan struct{})
		defer close(hold)
		up.HoldLast = hold
		before := up.Canceled()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s := egzOpenStream(t, ctx, g, testgate.KeyA, map[string]any{"agent_id": "assistant", "message": "Count", "session_id": "gone"})
		if ev, err := s.next(); err != nil || !ev.Get("chunk").Exists() {
			t.Fatalf("first chunk: %s %v", ev.Raw, err)
		}
		cancel()
		s.resp.Body.Close()
		deadline := time.Now().Add(15 * time.Second)
		for up.Canceled() == before {
			if time.Now().After(deadline) {
				t.Fatal("the upstream request was not canceled after the client went away")
			}
			time.Sleep(10 * time.Millisecond)
		}
		// The abandoned call is logged as such, with what it produced.
		for {
			_, body, _ := g.Do("GET", "/v1/logs?limit=1", testgate.KeyA, nil)
			if rec := gjson.GetBytes(body, "0"); rec.Get("session_id").String() == "gone" {
				if rec.Get("status").String() != "client_closed" || rec.Get("output_tokens").Int() < 1 {
					t.Errorf("record of the abandoned stream: %s", rec.Raw)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no usage record of the abandoned stream: %s", body)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// egzHistory lists the upstream request's messages as role:content.
func egzHistory(req gjson.Result) []string {
	var out []string
	for _, m := range req.Get("messages").Array() {
		out = append(out, m.Get("role").String()+":"+m.Get("content").String())
	}
	return out
}

func TestEgzoraSessions(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: "Noted."}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: egzBlock(up)})
	const sid = "sess-e2e-1"
	sys := "system:You are the agent prompt."

	status, res := egzChat(t, g, testgate.KeyA, map[string]any{"agent_id": "assistant", "message": "My name is Ada.", "session_id": sid})
	if status != 200 || res.Get("session_id").String() != sid || res.Get("response").String() != "Noted." {
		t.Fatalf("turn 1: %d %s", status, res.Raw)
	}
	// The second turn, streamed, sees the first.
	_, _, final := egzStreamChat(t, g, testgate.KeyA, map[string]any{"agent_id": "assistant", "message": "What is my name?", "session_id": sid})
	if final.Get("session_id").String() != sid {
		t.Errorf("final event = %s", final.Raw)
	}
	want := []string{sys, "user:My name is Ada.", "assistant:Noted.", "user:What is my name?"}
	if got := egzHistory(up.LastRequest()); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("turn 2 sent upstream %q, want %q", got, want)
	}

	// Tenant B with the same session id gets a fresh session of its own.
	status, res = egzChat(t, g, testgate.KeyB, map[string]any{"agent_id": "assistant", "message": "What is my name?", "session_id": sid})
	if status != 200 || res.Get("session_id").String() != sid {
		t.Fatalf("tenant B: %d %s", status, res.Raw)
	}
	if got := egzHistory(up.LastRequest()); strings.Join(got, "|") != sys+"|user:What is my name?" {
		t.Errorf("tenant B's request carried history: %q", got)
	}
	// ...and tenant A's session did not see B's turn.
	egzChat(t, g, testgate.KeyA, map[string]any{"agent_id": "assistant", "message": "Again?", "session_id": sid})
	want = append(want, "assistant:Noted.", "user:Again?")
	if got := egzHistory(up.LastRequest()); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("turn 3 sent upstream %q, want %q", got, want)
	}

	// A session belongs to one agent: the id is new to another agent,
	// which starts a conversation of its own on it.
	status, res = egzChat(t, g, testgate.KeyA, map[string]any{"agent_id": "thinker", "message": "Hi", "session_id": sid})
	if status != 200 || res.Get("session_id").String() != sid {
		t.Errorf("another agent with the id: %d %s", status, res.Raw)
	}
	if got := egzHistory(up.LastRequest()); strings.Join(got, "|") != "system:Think first.|user:Hi" {
		t.Errorf("another agent with the id sent upstream %q", got)
	}

	// Without a session id: a one-off exchange, still logged.
	status, res = egzChat(t, g, testgate.KeyA, map[string]any{"agent_id": "assistant", "message": "One-off"})
	if status != 200 || res.Get("session_id").Type != gjson.Null {
		t.Fatalf("one-off: %d %s", status, res.Raw)
	}
	if got := egzHistory(up.LastRequest()); strings.Join(got, "|") != sys+"|user:One-off" {
		t.Errorf("one-off sent upstream %q", got)
	}
	_, body, _ := g.Do("GET", "/v1/logs?limit=1", testgate.KeyA, nil)
	if rec := gjson.GetBytes(body, "0"); rec.Get("run_id").String() != res.Get("run_id").String() || rec.Get("session_id").Type != gjson.Null {
		t.Errorf("one-off not logged: %s", body)
	}
}

func TestEgzoraReasoning(t *testing.T) {
	const reply, thinking = "Answer here.", "Thinking hard about it."
	up := (&fakeupstream.OpenAI{Reply: reply, Reasoning: thinking}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: egzBlock(up)})
	for _, agent := range []string{"assistant", "thinker"} { // default off, default on (effort high)
		for _, setting := range []string{"on", "off", "omitted"} {
			for _, stream := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/stream=%v", agent, setting, stream)
				body := map[string]any{"agent_id": agent, "message": "Think?"}
				switch setting {
				case "on":
					body["reasoning_enabled"] = true
				case "off":
					body["reasoning_enabled"] = false
				}
				on := setting == "on" || (setting == "omitted" && agent == "thinker")
				want := reply
				if on {
					want = egzThinking(thinking, reply)
				}
				var got string
				var usage gjson.Result
				if stream {
					var chunks []string
					var final gjson.Result
					got, chunks, final = egzStreamChat(t, g, testgate.KeyA, body)
					usage = final.Get("usage")
					// The heading and the separator are chunks of their own.
					if on && (chunks[0] != egzora.ThinkingHeader || chunks[len(chunks)-egzWords(reply)-1] != egzora.ThinkingSeparator) {
						t.Errorf("%s: chunks %q", name, chunks)
					}
				} else {
					body["stream"] = false
					status, res := egzChat(t, g, testgate.KeyA, body)
					if status != 200 {
						t.Fatalf("%s: %d %s", name, status, res.Raw)
					}
					got, usage = res.Get("response").String(), res.Get("usage")
				}
				if got != want {
					t.Errorf("%s: response %q, want %q", name, got, want)
				}
				sent := up.LastRequest()
				effort := sent.Get("reasoning_effort")
				switch {
				case !on && effort.Exists():
					t.Errorf("%s: upstream asked to reason: %s", name, sent.Raw)
				case on && agent == "thinker" && effort.String() != "high", on && agent == "assistant" && effort.String() != "medium":
					t.Errorf("%s: reasoning_effort = %s", name, effort.Raw)
				}
				wantReasoning := 0
				if on {
					wantReasoning = egzWords(thinking)
				}
				if usage.Get("reasoning_tokens").Int() != int64(wantReasoning) ||
					usage.Get("output_tokens").Int() != int64(egzWords(reply)+wantReasoning) {
					t.Errorf("%s: usage %s", name, usage.Raw)
				}
			}
		}
	}
}

func TestEgzoraProfileAndLogs(t *testing.T) {
	const reply, thinking = "Fine thanks.", "Let me see."
	up := (&fakeupstream.OpenAI{Reply: reply, Reasoning: thinking}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: egzBlock(up)})

	profile := func(key string) gjson.Result {
		t.Helper()
		status, body, _ := g.Do("GET", "/v1/auth/profile", key, nil)
		if status != 200 {
			t.Fatalf("profile: %d %s", status, body)
		}
		return gjson.ParseBytes(body)
	}
	p := profile(testgate.KeyA)
	if p.Get("email").String() != "a@example.com" || p.Get("subscription_tier").String() != "pro" ||
		p.Get("total_monthly_tokens").Int() != egzTierTokens || p.Get("used_monthly_tokens").Int() != 0 ||
		p.Get("remaining_monthly_tokens").Int() != egzTierTokens {
		t.Fatalf("fresh profile: %s", p.Raw)
	}

	type chatRec struct {
		runID, agent, model, session string
		in, out, reasoning           int
	}
	var made []chatRec
	check := func(res gjson.Result, agent, model, session string, in, out, reasoning int) {
		t.Helper()
		u := res.Get("usage")
		if u.Get("input_tokens").Int() != int64(in) || u.Get("output_tokens").Int() != int64(out) ||
			u.Get("reasoning_tokens").Int() != int64(reasoning) || u.Get("total_tokens").Int() != int64(in+out) {
			t.Errorf("usage of %s chat = %s, want %d in, %d out, %d reasoning", agent, u.Raw, in, out, reasoning)
		}
		if res.Get("model_id").String() != model || res.Get("agent_id").String() != agent {
			t.Errorf("chat summary = %s", res.Raw)
		}
		made = append(made, chatRec{res.Get("run_id").String(), agent, model, session, in, out, reasoning})
	}
	_, res := egzChat(t, g, testgate.KeyA, map[string]any{"agent_id": "assistant", "message": "How are you?"})
	check(res, "assistant", "gpt-test", "", fakeupstream.PromptTokens(2), egzWords(reply), 0)
	_, _, final := egzStreamChat(t, g, testgate.KeyA, map[string]any{"agent_id": "thinker", "message": "How are you?", "session_id": "p-1"})
	check(final, "thinker", "o-test", "p-1", fakeupstream.PromptTokens(2), egzWords(reply)+egzWords(thinking), egzWords(thinking))
	_, res = egzChat(t, g, testgate.KeyA, map[string]any{"agent_id": "thinker", "message": "And now?", "session_id": "p-1"})
	check(res, "thinker", "o-test", "p-1", fakeupstream.PromptTokens(4), egzWords(reply)+egzWords(thinking), egzWords(thinking))
	// Tenant B's chat counts for B only.
	_, resB := egzChat(t, g, testgate.KeyB, map[string]any{"agent_id": "assistant", "message": "Hi"})

	used := 0
	for _, c := range made {
		used += c.in + c.out
	}
	p = profile(testgate.KeyA)
	if p.Get("used_monthly_tokens").Int() != int64(used) || p.Get("remaining_monthly_tokens").Int() != int64(egzTierTokens-used) ||
		p.Get("total_monthly_tokens").Int() != egzTierTokens {
		t.Errorf("profile after chats of %d tokens: %s", used, p.Raw)
	}
	start, err := time.Parse(time.RFC3339, p.Get("period_start").String())
	if err != nil || start.Day() != 1 || p.Get("reset_at").String() != p.Get("period_end").String() {
		t.Errorf("profile period: %s", p.Raw)
	}
	pB := profile(testgate.KeyB)
	if pB.Get("used_monthly_tokens").Int() != resB.Get("usage.total_tokens").Int() || pB.Get("email").String() != "b@example.com" {
		t.Errorf("tenant B's profile: %s (B's chat: %s)", pB.Raw, resB.Get("usage").Raw)
	}

	status, body, _ := g.Do("GET", "/v1/logs", testgate.KeyA, nil)
	logs := gjson.ParseBytes(body).Array()
	if status != 200 || len(logs) != len(made) {
		t.Fatalf("logs: %d, %d records, want %d: %s", status, len(logs), len(made), body)
	}
	for i, rec := range logs {
		c := made[len(made)-1-i] // newest first
		session := rec.Get("session_id").String()
		if rec.Get("run_id").String() != c.runID || rec.Get("agent_id").String() != c.agent || rec.Get("model_id").String() != c.model ||
			session != c.session || rec.Get("input_tokens").Int() != int64(c.in) || rec.Get("output_tokens").Int() != int64(c.out) ||
			rec.Get("reasoning_tokens").Int() != int64(c.reasoning) || rec.Get("total_tokens").Int() != int64(c.in+c.out) ||
			rec.Get("provider").String() != "up" || rec.Get("status").String() != "ok" || rec.Get("dialect").String() != "egzora" ||
			rec.Get("estimated").Bool() || !rec.Get("latency_ms").Exists() {
			t.Errorf("log %d = %s, want %+v", i, rec.Raw, c)
		}
		if _, err := time.Parse(time.RFC3339, rec.Get("created_at").String()); err != nil {
			t.Errorf("log %d created_at: %v", i, err)
		}
	}
	// Chats through another dialect are logged and counted too.
	status, body, _ = g.Do("POST", "/v1/chat/completions", testgate.KeyA,
		`{"model":"assistant","messages":[{"role":"user","content":"Hi"}]}`)
	if status != 200 {
		t.Fatalf("chat completions: %d %s", status, body)
	}
	oai := gjson.GetBytes(body, "usage.total_tokens").Int()
	_, body, _ = g.Do("GET", "/v1/logs?limit=1", testgate.KeyA, nil)
	if rec := gjson.GetBytes(body, "0"); rec.Get("dialect").String() != "openai" || rec.Get("total_tokens").Int() != oai {
		t.Errorf("OpenAI-dialect chat in the logs: %s", body)
	}
	if p = profile(testgate.KeyA); p.Get("used_monthly_tokens").Int() != int64(used)+oai {
		t.Errorf("profile after an OpenAI-dialect chat of %d tokens: %s", oai, p.Raw)
	}
}

func TestEgzoraAuthAndIsolation(t *testing.T) {
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: egzBlock(up)})

	for _, ep := range []struct{ method, path, body string }{
		{"POST", "/v1/chat", `{"agent_id":"assistant","message":"Hi"}`},
		{"GET", "/v1/agents", ""},
		{"GET", "/v1/auth/profile", ""},
		{"GET", "/v1/logs", ""},
	} {
		for _, c := range []struct{ key, code string }{{"", "missing_api_key"}, {"agk_wrong_wrong_wrong_wrong", "invalid_api_key"}} {
			var body any
			if ep.body != "" {
				body = ep.body
			}
			status, out, _ := g.Do(ep.method, ep.path, c.key, body)
			e := gjson.GetBytes(out, "error")
			if status != 401 || e.Get("type").String() != "authentication_error" || e.Get("code").String() != c.code ||
				e.Get("message").String() == "" || !e.Get("param").Exists() {
				t.Errorf("%s %s with key %q: %d %s", ep.method, ep.path, c.key, status, out)
			}
		}
	}

	agentIDs := func(key string) string {
		_, out, _ := g.Do("GET", "/v1/agents", key, nil)
		var ids []string
		for _, a := range gjson.ParseBytes(out).Array() {
			ids = append(ids, a.Get("id").String())
		}
		return strings.Join(ids, ",")
	}
	if got := agentIDs(testgate.KeyA); got != "assistant,thinker,secret-a" {
		t.Errorf("tenant A's agents: %s", got)
	}
	if got := agentIDs(testgate.KeyB); got != "assistant,thinker" {
		t.Errorf("tenant B's agents: %s", got)
	}
	for _, id := range []string{"secret-a", "Secret A"} {
		status, res := egzChat(t, g, testgate.KeyB, map[string]any{"agent_id": id, "message": "Hi"})
		if status != 404 || res.Get("error.param").String() != "agent_id" || res.Get("error.code").String() != "agent_not_found" {
			t.Errorf("tenant B chatting with %q: %d %s", id, status, res.Raw)
		}
	}
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("rejected requests reached the upstream (%d calls)", n)
	}

	_, resA := egzChat(t, g, testgate.KeyA, map[string]any{"agent_id": "secret-a", "message": "Private", "session_id": "shared-id"})
	_, resB := egzChat(t, g, testgate.KeyB, map[string]any{"agent_id": "assistant", "message": "Mine", "session_id": "shared-id"})
	runs := func(key string) string {
		_, out, _ := g.Do("GET", "/v1/logs", key, nil)
		var ids []string
		for _, r := range gjson.ParseBytes(out).Array() {
			ids = append(ids, r.Get("run_id").String())
		}
		return strings.Join(ids, ",")
	}
	if got, want := runs(testgate.KeyA), resA.Get("run_id").String(); got != want || want == "" {
		t.Errorf("tenant A's logs: %s, want %s", got, want)
	}
	if got, want := runs(testgate.KeyB), resB.Get("run_id").String(); got != want || want == "" {
		t.Errorf("tenant B's logs: %s, want %s", got, want)
	}
}

func TestEgzoraBadInput(t *testing.T) {
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: egzBlock(up) + "\t\tmax_body_bytes 2048\n\t\tmax_image_bytes 1024\n"})
	big := "data:image/png;base64," + strings.Repeat("AAAA", 400)
	cases := []struct {
		name, method, path, body string
		status                   int
		param, code              string
	}{
		{"placeholder image", "POST", "/v1/chat", `{"agent_id":"assistant","message":"Hi","images":["data:image/jpeg;base64,..."]}`, 400, "images[0]", "invalid_image"},
		{"remote image", "POST", "/v1/chat", `{"agent_id":"assistant","message":"Hi","images":["` + egzJPEG(t) + `","https://x.test/a.png"]}`, 400, "images[1]", "invalid_image"},
		{"text as image", "POST", "/v1/chat", `{"agent_id":"assistant","message":"Hi","images":["data:text/plain;base64,aGk="]}`, 400, "images[0]", "invalid_image"},
		{"image too large", "POST", "/v1/chat", `{"agent_id":"assistant","message":"Hi","images":["` + big + `"]}`, 400, "images[0]", "image_too_large"},
		{"malformed json", "POST", "/v1/chat", `{"agent_id":`, 400, "", "invalid_json"},
		{"missing message", "POST", "/v1/chat", `{"agent_id":"assistant"}`, 400, "message", ""},
		{"wrong type", "POST", "/v1/chat", `{"agent_id":"assistant","message":"Hi","stream":"yes"}`, 400, "stream", "invalid_type"},
		{"unknown agent", "POST", "/v1/chat", `{"agent_id":"nope","message":"Hi"}`, 404, "agent_id", "agent_not_found"},
		{"oversized", "POST", "/v1/chat", `{"agent_id":"assistant","message":"` + strings.Repeat("x", 4096) + `"}`, 413, "", "request_too_large"},
		{"limit not a number", "GET", "/v1/logs?limit=ten", "", 400, "limit", ""},
		{"limit zero", "GET", "/v1/logs?limit=0", "", 400, "limit", ""},
		{"limit negative", "GET", "/v1/logs?limit=-1", "", 400, "limit", ""},
	}
	for _, c := range cases {
		var body any
		if c.body != "" {
			body = c.body
		}
		status, out, _ := g.Do(c.method, c.path, testgate.KeyA, body)
		e := gjson.GetBytes(out, "error")
		if status != c.status || e.Get("message").String() == "" || !e.Get("type").Exists() || !e.Get("param").Exists() ||
			e.Get("param").String() != c.param || (c.code != "" && e.Get("code").String() != c.code) {
			t.Errorf("%s: %d %s", c.name, status, out)
		}
	}
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("bad requests reached the upstream (%d calls)", n)
	}
	status, out, _ := g.Do("GET", "/v1/logs?limit=100000", testgate.KeyA, nil)
	if status != 200 || !gjson.ValidBytes(out) || !gjson.ParseBytes(out).IsArray() {
		t.Errorf("large limit is capped, not refused: %d %s", status, out)
	}

	// Upstream failures map to the documented statuses, in the same shape.
	up.Status = 429
	status, out, hdr := g.Do("POST", "/v1/chat", testgate.KeyA, `{"agent_id":"assistant","message":"Hi"}`)
	if status != 429 || hdr.Get("Retry-After") == "" || gjson.GetBytes(out, "error.type").String() != "rate_limit_error" {
		t.Errorf("upstream 429: %d %v %s", status, hdr, out)
	}
	up.Status = 500
	status, out, _ = g.Do("POST", "/v1/chat", testgate.KeyA, `{"agent_id":"assistant","message":"Hi","stream":true}`)
	if status != 502 || gjson.GetBytes(out, "error.type").String() != "upstream_error" {
		t.Errorf("upstream 500: %d %s", status, out)
	}
}
