package gemini

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/dialecttest"
	"github.com/tidwall/gjson"
)

func agent() *adapters.Agent {
	return &adapters.Agent{ID: "assistant", Name: "Assistant", SystemPrompt: "You are the agent.", Model: "gemini-test"}
}

// goldenCase is one testdata/<case>: path names the route (POST), the
// body is request.json, and the scripted provider replays events.jsonl.
type goldenCase struct {
	dir, path string
	body      []byte
	events    []adapters.Event
}

func loadCases(t *testing.T) []goldenCase {
	t.Helper()
	paths, _ := filepath.Glob("testdata/*/path")
	if len(paths) == 0 {
		t.Fatal("no golden cases")
	}
	var out []goldenCase
	for _, p := range paths {
		dir := filepath.Dir(p)
		route, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		body, err := os.ReadFile(filepath.Join(dir, "request.json"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, goldenCase{dir: dir, path: strings.TrimSpace(string(route)), body: body,
			events: dialecttest.LoadEvents(t, filepath.Join(dir, "events.jsonl"))})
	}
	return out
}

// TestGolden runs each case: the canonical request the provider received
// is compared with upstream.golden.json and the client's response with
// response.golden. A streamed response is also read back one byte at a
// time in its framing, and its chunks must add up to the non-streamed
// answer of the same events.
func TestGolden(t *testing.T) {
	for _, c := range loadCases(t) {
		t.Run(filepath.Base(c.dir), func(t *testing.T) {
			script := &dialecttest.Script{Events: [][]adapters.Event{c.events}}
			h := dialecttest.New(t, Name, script, agent())
			rec := h.Do("POST", c.path, c.body)
			got := rec.Body.Bytes()
			stream := strings.Contains(c.path, ":streamGenerateContent") && rec.Code == 200
			if !stream {
				got = dialecttest.Indent(got)
			}
			dialecttest.Golden(t, filepath.Join(c.dir, "response.golden"), append([]byte(rec.Header().Get("Content-Type")+" "+strconv.Itoa(rec.Code)+"\n"), got...))
			up := []byte("null\n")
			if reqs := script.Requests(); len(reqs) > 0 {
				up, _ = json.MarshalIndent(reqs[0], "", "  ")
				up = append(up, '\n')
			}
			dialecttest.Golden(t, filepath.Join(c.dir, "upstream.golden.json"), up)
			if !stream {
				return
			}
			var chunks []gjson.Result
			if strings.Contains(c.path, "alt=sse") {
				chunks = readSSE(t, rec.Body.Bytes())
			} else {
				chunks = readArray(t, rec.Body.Bytes())
			}
			if len(chunks) == 0 {
				t.Fatal("no chunks")
			}
			if chunks[len(chunks)-1].Get("error").Exists() {
				return // a failed stream has no whole answer to add up to
			}
			whole := h.Do("POST", strings.Replace(strings.Split(c.path, "?")[0], ":streamGenerateContent", ":generateContent", 1), c.body)
			if whole.Code != 200 {
				t.Fatalf("non-streamed: %d %s", whole.Code, whole.Body)
			}
			if got, want := fold(chunks), fold([]gjson.Result{gjson.ParseBytes(whole.Body.Bytes())}); got != want {
				t.Errorf("the stream does not add up to the non-streamed answer:\n stream: %s\n  whole: %s", got, want)
			}
		})
	}
}

// readSSE parses Server-Sent Events as google.golang.org/genai does (it
// rejects any line but "data: <JSON>"), reading one byte at a time.
func readSSE(t *testing.T, body []byte) []gjson.Result {
	t.Helper()
	sc := bufio.NewScanner(iotest.OneByteReader(bytes.NewReader(body)))
	var out []gjson.Result
	blank := true
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			blank = true
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || !blank || !gjson.Valid(data) {
			t.Fatalf("not a lone data line of JSON: %q", line)
		}
		blank = false
		out = append(out, gjson.Parse(data))
	}
	if !bytes.HasSuffix(body, []byte("\n\n")) {
		t.Fatal("the last event is not terminated")
	}
	return out
}

// readArray reads a streamed JSON array element by element, one byte at
// a time, as a client reading it incrementally does.
func readArray(t *testing.T, body []byte) []gjson.Result {
	t.Helper()
	dec := json.NewDecoder(iotest.OneByteReader(bytes.NewReader(body)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		t.Fatalf("stream does not open an array: %v %v", tok, err)
	}
	var out []gjson.Result
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		out = append(out, gjson.ParseBytes(raw))
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		t.Fatalf("stream does not close its array: %v %v", tok, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("bytes after the array: %v", err)
	}
	return out
}

// fold merges responses into one: parts in order, adjacent text (or
// thought) parts joined as the non-streamed answer joins them, empty
// text parts without a signature dropped; the last finish reason, usage
// and model.
func fold(responses []gjson.Result) string {
	type part map[string]any
	var parts []part
	var finish, model, id string
	var usage any
	for _, r := range responses {
		for _, p := range r.Get("candidates.0.content.parts").Array() {
			var m part
			_ = json.Unmarshal([]byte(p.Raw), &m)
			text, isText := m["text"].(string)
			if isText && text == "" && m["thoughtSignature"] == nil {
				continue
			}
			if n := len(parts); isText && n > 0 && m["thoughtSignature"] == nil {
				last := parts[n-1]
				if lt, ok := last["text"].(string); ok && last["thought"] == m["thought"] && last["thoughtSignature"] == nil {
					last["text"] = lt + text
					continue
				}
			}
			parts = append(parts, m)
		}
		if f := r.Get("candidates.0.finishReason"); f.Exists() {
			finish = f.Str
		}
		if u := r.Get("usageMetadata"); u.Exists() {
			usage = json.RawMessage(u.Raw)
		}
		model, id = r.Get("modelVersion").Str, r.Get("responseId").Str
	}
	b, _ := json.Marshal(map[string]any{"parts": parts, "finish": finish, "usage": usage, "model": model, "id": id != ""})
	return string(b)
}
