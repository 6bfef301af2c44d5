package anthropic

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"
	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/internal/dialecttest"
)

// gatedProvider emits before, then waits for its gate to open (an
// upstream slow to answer, or to go on), then emits after.
type gatedProvider struct {
	before, after []adapters.Event
	gate          chan struct{}
}

func (g *gatedProvider) Chat(ctx context.Context, _ *adapters.Request, emit adapters.Emit) error {
	for _, ev := range g.before {
		if err := emit(ev); err != nil {
			return err
		}
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, ev := range g.after {
		if err := emit(ev); err != nil {
			return err
		}
	}
	return nil
}

// A silent stream gets ping events: before the answer began (message_start
// then goes first) and in the middle of it. Pings are whole events of
// their own, and none follows message_stop. The interval is short and the
// silence is a closed gate, so nothing depends on how fast the machine is.
func TestKeepalivePings(t *testing.T) {
	start := adapters.Event{Type: adapters.EventStart, Model: "gpt-test"}
	done := []adapters.Event{{Type: adapters.EventUsage, Usage: &adapters.Usage{InputTokens: 3, OutputTokens: 2}},
		{Type: adapters.EventDone, FinishReason: "stop"}}
	tests := []struct {
		name          string
		before, after []adapters.Event
		// want are the events the client gets, pings left out; silentAfter
		// is how many of them come before the silence.
		want        []string
		silentAfter int
	}{
		{"slow first token", nil, append([]adapters.Event{start, {Type: adapters.EventDelta, Text: "Hello"}}, done...),
			[]string{"message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}, 1},
		{"silent mid-answer", []adapters.Event{start, {Type: adapters.EventDelta, Text: "Hel"}}, append([]adapters.Event{{Type: adapters.EventDelta, Text: "lo"}}, done...),
			[]string{"message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &gatedProvider{before: tt.before, after: tt.after, gate: make(chan struct{})}
			a := agent()
			a.Provider = "gated"
			h := dialecttest.NewWith(t, Name, &dialecttest.Script{}, dialecttest.Options{
				Providers: map[string]adapters.Provider{"gated": g}}, a)
			d := &Dialect{env: h.Env, pingInterval: time.Millisecond}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := d.messages(w, r, &exchange.Exchange{Principal: dialecttest.TenantA, Dialect: Name}); err != nil {
					d.WriteError(w, adapters.AsError(err))
				}
			}))
			defer srv.Close()
			body := `{"model":"assistant","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
			// Without pings the gate never opens: the deadline turns the
			// hang into a failure (it measures nothing).
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL, strings.NewReader(body))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var raw bytes.Buffer
			r := bufio.NewReader(io.TeeReader(res.Body, &raw))
			var got []string
			opened, pingsInSilence := false, 0
			for {
				name, ok := nextEvent(t, r)
				if !ok {
					break
				}
				if name != "ping" {
					got = append(got, name)
					continue
				}
				if !opened && len(got) == tt.silentAfter {
					// Two pings in the silence show they repeat; then the
					// upstream goes on.
					if pingsInSilence++; pingsInSilence == 2 {
						opened = true
						close(g.gate)
					}
				}
				if slices.Contains(got, "message_stop") {
					t.Fatalf("ping after message_stop")
				}
			}
			if !opened {
				t.Fatalf("no two pings in the silence after %v; stream:\n%s", tt.want[:tt.silentAfter], raw.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("events (pings left out) %v, want %v", got, tt.want)
			}
			// The official SDK reads the stream, pings and all, to the answer.
			sres := &http.Response{StatusCode: 200, Header: res.Header, Body: io.NopCloser(bytes.NewReader(raw.Bytes())),
				Request: httptest.NewRequest("POST", "/v1/messages", nil)}
			stream := ssestream.NewStream[sdk.MessageStreamEventUnion](ssestream.NewDecoder(sres), nil)
			var acc sdk.Message
			for stream.Next() {
				if err := acc.Accumulate(stream.Current()); err != nil {
					t.Fatal(err)
				}
			}
			if err := stream.Err(); err != nil || len(acc.Content) != 1 || acc.Content[0].Text != "Hello" || acc.StopReason != "end_turn" {
				t.Fatalf("SDK read %+v, %v", acc, err)
			}
		})
	}
}

// nextEvent reads one SSE event and checks it is whole: an event line,
// then a data line holding JSON of the same type. ok is false at the end
// of the stream.
func nextEvent(t *testing.T, r *bufio.Reader) (name string, ok bool) {
	t.Helper()
	line, err := r.ReadString('\n')
	if err == io.EOF && line == "" {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	name, found := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "event: ")
	data, _ := r.ReadString('\n')
	blank, _ := r.ReadString('\n')
	payload, isData := strings.CutPrefix(strings.TrimSuffix(data, "\n"), "data: ")
	if !found || !isData || blank != "\n" || gjson.Get(payload, "type").String() != name {
		t.Fatalf("not a whole event: %q %q %q", line, data, blank)
	}
	return name, true
}

// panicProvider is a bug in the run: it panics once the stream has begun.
type panicProvider struct{}

func (panicProvider) Chat(_ context.Context, _ *adapters.Request, emit adapters.Emit) error {
	if err := emit(adapters.Event{Type: adapters.EventStart, Model: "gpt-test"}); err != nil {
		return err
	}
	panic("bug")
}

// lateWriter counts the writes made after the handler returned.
type lateWriter struct {
	http.ResponseWriter
	returned atomic.Bool
	late     atomic.Int32
}

func (w *lateWriter) Write(b []byte) (int, error) {
	if w.returned.Load() {
		w.late.Add(1)
	}
	return w.ResponseWriter.Write(b)
}

func (w *lateWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// A panic in the run (recovered by caddymodule, which then ends the
// response) stops the pings before it leaves the handler: nothing writes
// to the response afterwards. Unfixed, the pinger runs on for good, which
// the wait for it to end turns into a failure (the deadline only bounds a
// hang); -race also sees its writes racing the read of the body.
func TestKeepaliveStopsOnPanic(t *testing.T) {
	a := agent()
	a.Provider = "panics"
	h := dialecttest.NewWith(t, Name, &dialecttest.Script{}, dialecttest.Options{
		Providers: map[string]adapters.Provider{"panics": panicProvider{}}}, a)
	d := &Dialect{env: h.Env, pingInterval: time.Nanosecond}
	rec := httptest.NewRecorder()
	w := &lateWriter{ResponseWriter: rec}
	body := `{"model":"assistant","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
	r := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(body))
	func() {
		defer func() {
			if v := recover(); v != "bug" {
				t.Fatalf("recovered %v, want the provider's panic", v)
			}
		}()
		_ = d.messages(w, r, &exchange.Exchange{Principal: dialecttest.TenantA, Dialect: Name})
	}()
	w.returned.Store(true)
	if !strings.HasPrefix(rec.Body.String(), "event: message_start\n") {
		t.Fatalf("the stream did not begin: %q", rec.Body.String())
	}
	for deadline := time.Now().Add(time.Minute); pinging(); {
		if time.Now().After(deadline) {
			t.Fatal("the pings go on after the handler returned")
		}
		runtime.Gosched()
	}
	if n := w.late.Load(); n > 0 {
		t.Fatalf("%d writes after the handler returned", n)
	}
}

// pinging tells whether a keepalive's pinger is running.
func pinging() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), ".(*keepalive).run(")
}

// fakeTimer is a timer on a pretend clock the test moves, with
// time.Timer's answers to Stop and Reset (false once it fired).
type fakeTimer struct {
	now, due time.Duration
	running  bool
}

func (f *fakeTimer) Stop() bool {
	was := f.running
	f.running = false
	return was
}

func (f *fakeTimer) Reset(d time.Duration) bool {
	was := f.running
	f.running, f.due = true, f.now+d
	return was
}

// advance moves the clock to t and tells whether the timer fired.
func (f *fakeTimer) advance(t time.Duration) bool {
	f.now = t
	if f.running && f.due <= t {
		f.running = false
		return true
	}
	return false
}

// A ping comes exactly one interval after the last event, whenever in
// the interval that event came; none comes after message_stop. The time
// is the fake timer's: at each instant, the events of that instant take
// the lock before the pinger handles a fire of that instant.
func TestKeepaliveSilenceBound(t *testing.T) {
	const interval = 10
	delta := adapters.Event{Type: adapters.EventDelta, Text: "x"}
	done := adapters.Event{Type: adapters.EventDone, FinishReason: "stop"}
	tests := []struct {
		name   string
		events map[time.Duration]adapters.Event
		end    time.Duration
		// want is every event sent, as name@time.
		want []string
	}{
		{"silent from the start", nil, 35,
			[]string{"message_start@10", "ping@10", "ping@20", "ping@30"}},
		{"an event just after a ping", map[time.Duration]adapters.Event{0: delta, 11: delta}, 35,
			[]string{"message_start@0", "content_block_start@0", "ping@0", "content_block_delta@0",
				"ping@10", "content_block_delta@11", "ping@21", "ping@31"}},
		{"events closer than the interval", map[time.Duration]adapters.Event{0: delta, 9: delta, 18: delta, 27: delta}, 40,
			[]string{"message_start@0", "content_block_start@0", "ping@0", "content_block_delta@0",
				"content_block_delta@9", "content_block_delta@18", "content_block_delta@27", "ping@37"}},
		{"an event as the timer fires", map[time.Duration]adapters.Event{0: delta, 10: delta}, 25,
			[]string{"message_start@0", "content_block_start@0", "ping@0", "content_block_delta@0",
				"content_block_delta@10", "ping@20"}},
		{"none after the answer", map[time.Duration]adapters.Event{3: done}, 40,
			[]string{"message_start@3", "ping@3", "message_delta@3", "message_stop@3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTimer{running: true, due: interval}
			var got []string
			enc := newEncoder("msg_1", "m", func(name string, _ []byte) error {
				got = append(got, name+"@"+strconv.Itoa(int(f.now)))
				return nil
			})
			k := newKeepalive(enc, interval, f)
			for now := time.Duration(0); now <= tt.end; now++ {
				fired := f.advance(now)
				if ev, ok := tt.events[now]; ok {
					if err := k.emit(ev); err != nil {
						t.Fatal(err)
					}
				}
				if fired && !k.ping() {
					break
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("sent %v\nwant %v", got, tt.want)
			}
		})
	}
}
