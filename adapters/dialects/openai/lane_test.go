package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/agentgate/agentgate/adapters"
	openaiprovider "github.com/agentgate/agentgate/adapters/providers/openai"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/internal/dialecttest"
)

// laneUpstream is an OpenAI-compatible upstream that records the bodies
// it is sent and answers each with one fixture: upstream.json (a whole
// answer), upstream.sse (a stream) or upstream.error.json (a 400).
type laneUpstream struct {
	mu     sync.Mutex
	bodies [][]byte
	status int
	ctype  string
	answer []byte
}

func (u *laneUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.bodies = append(u.bodies, body)
	u.mu.Unlock()
	w.Header().Set("Content-Type", u.ctype)
	w.WriteHeader(u.status)
	_, _ = w.Write(u.answer)
}

func (u *laneUpstream) last(t *testing.T) []byte {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.bodies) != 1 {
		t.Fatalf("the upstream was called %d times, want once", len(u.bodies))
	}
	return u.bodies[0]
}

func loadAnswer(t *testing.T, dir string) *laneUpstream {
	t.Helper()
	for _, f := range []struct {
		name, ctype string
		status      int
	}{
		{"upstream.json", "application/json", http.StatusOK},
		{"upstream.sse", "text/event-stream", http.StatusOK},
		{"upstream.error.json", "application/json", http.StatusBadRequest},
	} {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if err == nil {
			return &laneUpstream{status: f.status, ctype: f.ctype, answer: b}
		}
	}
	t.Fatalf("%s has no upstream answer", dir)
	return nil
}

// oneByte is the openai provider with its answers read one byte at a
// time: the lane must relay events whatever pieces their bytes come in.
type oneByte struct{ *openaiprovider.Provider }

func (p oneByte) RelayChat(ctx context.Context, body []byte, stream bool) (*http.Response, error) {
	resp, err := p.Provider.RelayChat(ctx, body, stream)
	if err == nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{iotest.OneByteReader(resp.Body), resp.Body}
	}
	return resp, err
}

// canonicalOnly is the openai provider without its lane: Chat only.
type canonicalOnly struct{ p adapters.Provider }

func (c canonicalOnly) Chat(ctx context.Context, req *adapters.Request, emit adapters.Emit) error {
	return c.p.Chat(ctx, req, emit)
}

// laneHarness runs the OpenAI dialect on the real openai provider against
// up, on the raw lane, or, with canonical, on the canonical path only.
func laneHarness(t *testing.T, up *laneUpstream, canonical bool) *dialecttest.Harness {
	t.Helper()
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	p, err := openaiprovider.NewProvider(adapters.ProviderConfig{Name: "up", BaseURL: srv.URL + "/v1", APIKey: "sk-upstream"})
	if err != nil {
		t.Fatal(err)
	}
	var provider adapters.Provider = oneByte{p}
	if canonical {
		provider = canonicalOnly{p}
	}
	a := &adapters.Agent{ID: "assistant", Name: "Assistant", SystemPrompt: "You are the agent.", Model: "gpt-test", Provider: "up"}
	return dialecttest.NewWith(t, Name, &dialecttest.Script{Events: [][]adapters.Event{nil}}, dialecttest.Options{
		Providers: map[string]adapters.Provider{"up": provider},
		Routes:    []models.Route{{Pattern: "gpt-*", Provider: "up"}},
	}, a)
}

// flushes records a response as the client receives it: each flush ends
// a segment.
type flushes struct {
	header   http.Header
	status   int
	segments [][]byte
	cur      []byte
}

func (f *flushes) Header() http.Header {
	if f.header == nil {
		f.header = http.Header{}
	}
	return f.header
}
func (f *flushes) WriteHeader(code int) {
	if f.status == 0 {
		f.status = code
	}
}
func (f *flushes) Write(b []byte) (int, error) {
	if f.status == 0 {
		f.status = http.StatusOK
	}
	f.cur = append(f.cur, b...)
	return len(b), nil
}
func (f *flushes) Flush() {
	if len(f.cur) > 0 {
		f.segments = append(f.segments, f.cur)
		f.cur = nil
	}
}
func (f *flushes) body() []byte {
	return append(bytes.Join(f.segments, nil), f.cur...)
}

// arrival shows the segments, one per flush.
func (f *flushes) arrival() []byte {
	var b bytes.Buffer
	for i, s := range append(f.segments, f.cur) {
		if len(s) == 0 {
			continue
		}
		if i > 0 {
			b.WriteString("--- flush\n")
		}
		b.Write(s)
	}
	return b.Bytes()
}

// TestLaneGolden runs each testdata/lane/<case>: request.json is posted to
// /v1/chat/completions once on the raw lane and once on the canonical path
// (the same provider, its lane hidden), each against an upstream answering
// the case's fixture, read one byte at a time on the lane. The lane's
// upstream body and client response are the goldens lane.upstream.json
// and lane.response (lane.arrival shows what each flush sent); the
// canonical path's must be the same — the upstream bodies equal as JSON
// (the lane keeps the client's own bytes, field order and all, where
// the canonical path writes its own; patched bodies are not byte-equal),
// the responses byte for byte once generated ids are normalized — unless
// the case's differs.txt says why the lane answers otherwise on purpose
// ("upstream:" or "response:" lines); its canonical.response golden then
// shows the canonical answer.
func TestLaneGolden(t *testing.T) {
	reqs, _ := filepath.Glob("testdata/lane/*/request.json")
	if len(reqs) < 10 {
		t.Fatalf("found %d lane cases", len(reqs))
	}
	for _, reqPath := range reqs {
		dir := filepath.Dir(reqPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			body, err := os.ReadFile(reqPath)
			if err != nil {
				t.Fatal(err)
			}
			differs, _ := os.ReadFile(filepath.Join(dir, "differs.txt"))
			upLane, upCanon := loadAnswer(t, dir), loadAnswer(t, dir)

			lane := &flushes{}
			laneHarness(t, upLane, false).ServeHTTP(lane, httptest.NewRequest("POST", "/v1/chat/completions", bytes.NewReader(body)))
			canon := httptest.NewRecorder()
			laneHarness(t, upCanon, true).ServeHTTP(canon, httptest.NewRequest("POST", "/v1/chat/completions", bytes.NewReader(body)))

			sentLane, sentCanon := upLane.last(t), upCanon.last(t)
			dialecttest.Golden(t, filepath.Join(dir, "lane.upstream.json"), dialecttest.Indent(bytes.TrimSpace(sentLane)))
			if !bytes.Contains(differs, []byte("upstream:")) && !jsonEqual(sentLane, sentCanon) {
				t.Errorf("upstream bodies differ:\n lane:      %s\n canonical: %s", sentLane, sentCanon)
			}

			if lane.status != canon.Code {
				t.Errorf("status: lane %d, canonical %d", lane.status, canon.Code)
			}
			for _, h := range []string{"Content-Type", "Cache-Control", "X-Accel-Buffering"} {
				if lane.Header().Get(h) != canon.Header().Get(h) {
					t.Errorf("%s: lane %q, canonical %q", h, lane.Header().Get(h), canon.Header().Get(h))
				}
			}
			got := lane.body()
			dialecttest.Golden(t, filepath.Join(dir, "lane.response"), got)
			if strings.HasPrefix(lane.Header().Get("Content-Type"), "text/event-stream") {
				dialecttest.Golden(t, filepath.Join(dir, "lane.arrival"), lane.arrival())
			}
			if bytes.Contains(differs, []byte("response:")) {
				dialecttest.Golden(t, filepath.Join(dir, "canonical.response"), canon.Body.Bytes())
				if bytes.Equal(dialecttest.Normalize(got), dialecttest.Normalize(canon.Body.Bytes())) {
					t.Error("differs.txt says the responses differ, and they do not")
				}
			} else if !bytes.Equal(dialecttest.Normalize(got), dialecttest.Normalize(canon.Body.Bytes())) {
				t.Errorf("responses differ:\n lane:      %s\n canonical: %s", got, canon.Body.Bytes())
			}
		})
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// TestLaneBody: what the upstream gets is the client's body with only the
// model, the system prompt and stream usage changed, whatever shape its
// stream_options has; stream usage is asked with one include_usage that
// every upstream reads as true.
func TestLaneBody(t *testing.T) {
	for _, c := range []struct {
		name, body, system, model, want string
		// strip: the client did not ask for the usage chunk it gets.
		strip bool
	}{
		{"nothing to do", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "", "m",
			`{"model":"m","messages":[{"role":"user","content":"hi"}]}`, false},
		{"model and prompt", ` { "messages" : [ {"role":"user","content":"hi"} ], "model" : "agent" } `, "Be \"kind\".", "gpt-x",
			`{"messages":[{"role":"system","content":"Be \"kind\"."},{"role":"user","content":"hi"}],"model":"gpt-x"}`, false},
		{"stream without options", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "", "m",
			`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}`, true},
		{"stream options null", `{"model":"m","stream":true,"stream_options":null,"messages":[{"role":"user","content":"hi"}]}`, "", "m",
			`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, true},
		{"stream options empty", `{"model":"m","stream":true,"stream_options":{ },"messages":[{"role":"user","content":"hi"}]}`, "", "m",
			`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, true},
		{"stream options other", `{"model":"m","stream":true,"stream_options":{"include_obfuscation":false},"messages":[{"role":"user","content":"hi"}]}`, "", "m",
			`{"model":"m","stream":true,"stream_options":{"include_usage":true,"include_obfuscation":false},"messages":[{"role":"user","content":"hi"}]}`, true},
		{"usage refused", `{"model":"a","stream":true,"stream_options":{"include_usage":false},"messages":[{"role":"user","content":"hi"}]}`, "S", "m",
			`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"S"},{"role":"user","content":"hi"}]}`, true},
		{"usage asked", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, "", "m",
			`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, false},
		{"usage asked twice", `{"model":"m","stream":true,"stream_options":{"include_usage":true,"include_usage":false},"messages":[{"role":"user","content":"hi"}]}`, "", "m",
			`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, true},
		{"usage asked in another case", `{"model":"m","stream":true,"stream_options":{"x":1,"Include_Usage":true},"messages":[{"role":"user","content":"hi"}]}`, "", "m",
			`{"model":"m","stream":true,"stream_options":{"include_usage":true,"x":1},"messages":[{"role":"user","content":"hi"}]}`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := decodeChat([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			got, strip, err := laneBody([]byte(c.body), req, c.system, c.model)
			if err != nil {
				t.Fatal(err)
			}
			if strip != c.strip {
				t.Errorf("strip %v, want %v", strip, c.strip)
			}
			if !json.Valid(got) || !jsonEqual(got, []byte(c.want)) || bytes.Count(bytes.ToLower(got), []byte("include_usage")) > 1 {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
			if c.system == "" && c.model == req.model && !req.call.Stream && string(got) != c.body {
				t.Errorf("an unchanged body was rewritten: %s", got)
			}
		})
	}
}

// commentStream is an upstream's stream of n keep-alive comments, then
// tail, made as it is read; read counts the comments' bytes read.
type commentStream struct {
	n, read int
	tail    io.Reader
}

const keepAlive = ": OPENROUTER PROCESSING\n\n"

func (c *commentStream) Read(p []byte) (int, error) {
	if c.read == c.n*len(keepAlive) {
		return c.tail.Read(p)
	}
	k := 0
	for k < len(p) && c.read < c.n*len(keepAlive) {
		at := c.read % len(keepAlive)
		m := copy(p[k:], keepAlive[at:])
		k += m
		c.read += m
	}
	return k, nil
}

// What a stream sends before its first data event is held (it may still
// be retried) but bounded: the comments of an upstream that is merely
// slow go out with its first event; one that sends more than maxPreData
// without an event fails the attempt before anything reached the client
// (so it can be retried), having read little more than the bound.
func TestLaneRelayBoundsWhatPrecedesTheFirstEvent(t *testing.T) {
	const data = `data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n"
	for _, tc := range []struct {
		name     string
		comments int
		fails    bool
	}{
		{"a slow upstream's comments", 2000, false},
		{"comments without end", 2_000_000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			body := &commentStream{n: tc.comments, tail: strings.NewReader(data)}
			resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(body)}
			a := models.NewRawAnswer(func() time.Time { return time.Time{} })
			err := relayStream(rec, resp, a, []byte(`"m"`), false)
			if !tc.fails {
				want := strings.Repeat(keepAlive, tc.comments) + data
				if err != nil || rec.Body.String() != want {
					t.Fatalf("%v; the client got %d bytes, want the %d sent", err, rec.Body.Len(), len(want))
				}
				return
			}
			var e *adapters.Error
			if !errors.As(err, &e) || e.Kind != adapters.KindUpstream {
				t.Fatalf("error %v, want the upstream's failure", err)
			}
			if a.Committed() || rec.Body.Len() != 0 || rec.Code != 200 || len(rec.Header()) != 0 {
				t.Fatalf("the response began (%d bytes, headers %v): no retry possible", rec.Body.Len(), rec.Header())
			}
			if body.read > 2*maxPreData {
				t.Fatalf("read %d bytes of comments before failing", body.read)
			}
		})
	}
}
