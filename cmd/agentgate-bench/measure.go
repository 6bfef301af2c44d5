package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

type scenario string

const (
	scenarioNonStream scenario = "non-streaming"
	// scenarioPassthrough is the non-streaming request naming the
	// upstream's model: routed to it, no agent.
	scenarioPassthrough scenario = "passthrough"
	scenarioStream      scenario = "streaming"
	// scenarioStreamFast streams without the upstream's pauses, naming
	// its model (routed, no agent): what a proxy's streams cost.
	scenarioStreamFast scenario = "streaming, unpaced"
	// scenarioAgent is the agent path: an Egzora /v1/chat turn of a
	// session that has historyTurns turns already (read, replayed to
	// the model, and the new turn stored). Direct and plain Caddy are
	// sent the same conversation inline, for scale.
	scenarioAgent scenario = "agent"
	// scenarioIdle holds many streams open at once and weighs them.
	scenarioIdle scenario = "idle streams"
)

// historyTurns is the length of the agent scenario's sessions (the
// agents' default history).
const historyTurns = 10

const (
	targetDirect    = "direct"
	targetCaddy     = "plain Caddy"
	targetAgentgate = "agentgate"
)

// target is one way of reaching the upstream.
type target struct {
	name, baseURL, model, key string
	// proc is the Caddy whose CPU the row shows (plain Caddy's on the
	// direct rows: its idle cost); admin is its admin endpoint.
	proc  *child
	admin string
	// gate is set for the agentgate targets.
	gate *gate
	// sessions is how many sessions the agent scenario spreads over.
	sessions int
}

// targets are direct, plain Caddy, and agentgate on each storage and
// limits backend: named "agentgate" when there is one, "agentgate
// (<storage>, <limits>)" else.
func (e *env) targets() []target {
	out := []target{
		{name: targetDirect, baseURL: e.upstreamURL, model: upstreamModel, key: upstreamKey, proc: e.plain, admin: e.plainAdmin},
		{name: targetCaddy, baseURL: e.caddyURL + "/v1", model: upstreamModel, key: upstreamKey, proc: e.plain, admin: e.plainAdmin},
	}
	for _, g := range e.gates {
		name := targetAgentgate
		if len(e.gates) > 1 {
			name += " (" + g.backends() + ")"
		}
		out = append(out, target{name: name, baseURL: g.url + "/v1", model: agentModel, key: e.key, proc: g.caddy, admin: g.admin, gate: g})
	}
	for i := range out {
		out[i].sessions = e.sessions
	}
	return out
}

// isAgentgate reports whether a row's target is an agentgate one.
func isAgentgate(name string) bool { return strings.HasPrefix(name, targetAgentgate) }

// sessionName names stored session i of the agent scenario.
func sessionName(i int) string { return fmt.Sprintf("bench-session-%06d", i) }

// sessionOf is the session turn seq of the agent scenario continues, of
// n: consecutive turns go to sessions far apart in the store (seq times a
// step prime to n, modulo n), as unrelated users' would, and each session
// comes back only after all the others.
func sessionOf(seq uint64, n int) int {
	step := uint64(7919)
	if gcd(step, uint64(n)) != 1 {
		step = 1
	}
	return int(seq * step % uint64(n))
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// agentRequest is the agent scenario's request to tg, turn seq: an Egzora
// turn of a stored session through agentgate; the same conversation,
// history inline, as a chat completion elsewhere.
func agentRequest(tg target, seq uint64) (path string, body []byte) {
	if tg.gate != nil {
		return "/chat", fmt.Appendf(nil, `{"agent_id":%q,"message":"Say hello in a few words, turn %d.","session_id":%q}`,
			tg.model, seq, sessionName(sessionOf(seq, tg.sessions)))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"model":%q,"max_tokens":32,"messages":[`, tg.model)
	for i := range historyTurns {
		fmt.Fprintf(&b, `{"role":"user","content":"Say hello in a few words, turn %d."},{"role":"assistant","content":"word1 word2 word3 word4 word5 word6 word7 word8 word9 word10"},`, i)
	}
	fmt.Fprintf(&b, `{"role":"user","content":"Say hello in a few words, turn %d."}]}`, seq)
	return "/chat/completions", b.Bytes()
}

// modelFor is the model tg is asked for in sc: agentgate's passthrough
// names the upstream's model.
func (tg target) modelFor(sc scenario) string {
	switch sc {
	case scenarioPassthrough:
		return upstreamModel
	case scenarioStreamFast:
		return fastModel
	}
	return tg.model
}

// streams reports whether sc's requests are streamed.
func (sc scenario) streams() bool { return sc == scenarioStream || sc == scenarioStreamFast }

// requestBody is the chat completion every target is sent.
func requestBody(sc scenario, model string) []byte {
	stream := ""
	if sc.streams() {
		stream = `,"stream":true,"stream_options":{"include_usage":true}`
	}
	return []byte(`{"model":"` + model + `","messages":[{"role":"user","content":"Say hello in a few words."}],"max_tokens":32` + stream + `}`)
}

// validBody reports whether a 2xx body is a whole answer: a completion,
// or a stream that ran to its end.
func validBody(sc scenario, tg target, body []byte) bool {
	switch {
	case sc.streams():
		return bytes.Contains(body, []byte("data: [DONE]"))
	case sc == scenarioAgent && tg.gate != nil:
		return bytes.HasPrefix(body, []byte(`{"response":`))
	}
	return bytes.Contains(body, []byte(`"choices"`))
}

// result is one measured run of a scenario against a target.
type result struct {
	scenario         scenario
	target           string
	requests, errors int
	elapsed          time.Duration
	p50, p99         time.Duration // whole response
	ttfb50, ttfb99   time.Duration // first body byte (streaming only)
	ttft50, ttft99   time.Duration // first content token (streaming only)
	caddyCPU         time.Duration
	upstreamCPU      time.Duration
	cpuOK            bool
	firstError       string
	// redisCalls are the script calls Redis served during the run
	// (agentgate on -limits redis); -1 when not counted.
	redisCalls int64
}

func (r result) successes() int { return r.requests - r.errors }

func (r result) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.successes()) / r.elapsed.Seconds()
}

func (r result) errorRate() float64 {
	if r.requests == 0 {
		return 1 // nothing got through at all
	}
	return float64(r.errors) / float64(r.requests)
}

// cpuPerRequest is cpu over the run's requests, in µs; ok is false when
// it is unknown.
func (r result) cpuPerRequest(cpu time.Duration) (float64, bool) {
	if !r.cpuOK || r.requests == 0 {
		return 0, false
	}
	return float64(cpu) / float64(time.Microsecond) / float64(r.requests), true
}

func (r result) progressLine() string {
	s := fmt.Sprintf("%-13s %-11s %8.0f req/s  p50 %s  p99 %s", r.scenario, r.target, r.rps(), fmtDur(r.p50), fmtDur(r.p99))
	if r.scenario.streams() {
		s += fmt.Sprintf("  TTFB p50 %s p99 %s  TTFT p50 %s p99 %s", fmtDur(r.ttfb50), fmtDur(r.ttfb99), fmtDur(r.ttft50), fmtDur(r.ttft99))
	}
	if c, ok := r.cpuPerRequest(r.caddyCPU); ok {
		s += fmt.Sprintf("  Caddy CPU %.0fµs/req", c)
	}
	if r.redisCalls >= 0 && r.requests > 0 {
		s += fmt.Sprintf("  Redis calls %.2f/req", float64(r.redisCalls)/float64(r.requests))
	}
	s += fmt.Sprintf("  errors %d/%d", r.errors, r.requests)
	if r.firstError != "" {
		s += " (first: " + r.firstError + ")"
	}
	return s
}

// measure warms tg up, then runs sc against it for o.duration.
func measure(ctx context.Context, o options, e *env, sc scenario, tg target, stderr io.Writer) result {
	if o.warmup > 0 {
		attack(ctx, o, sc, tg, o.warmup, nil)
	}
	r := result{scenario: sc, target: tg.name, redisCalls: -1}
	var calls0 int64
	var err5 error
	counting := tg.gate != nil && tg.gate.limits == "redis"
	if counting {
		calls0, err5 = e.redisScriptCalls(ctx)
	}
	c0, err1 := procCPU(tg.proc.pid())
	u0, err2 := procCPU(e.upstream.pid())
	attack(ctx, o, sc, tg, o.duration, &r)
	c1, err3 := procCPU(tg.proc.pid())
	u1, err4 := procCPU(e.upstream.pid())
	if counting {
		calls1, err := e.redisScriptCalls(ctx)
		if err = errors.Join(err5, err); err != nil {
			fmt.Fprintf(stderr, "  (no Redis call count: %v)\n", err)
		} else {
			r.redisCalls = calls1 - calls0
		}
	}
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		fmt.Fprintf(stderr, "  (no CPU figures: %v)\n", err)
	} else {
		r.cpuOK = true
		r.caddyCPU, r.upstreamCPU = c1-c0, u1-u0
	}
	return r
}

// attack runs sc against tg for du; it fills r unless r is nil (warm-up).
func attack(ctx context.Context, o options, sc scenario, tg target, du time.Duration, r *result) {
	fb := &firstBytes{at: map[uint64]time.Time{}}
	ft := &firstBytes{at: map[uint64]time.Time{}}
	tr := &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 10000,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &ttfbTransport{base: tr, rec: fb, token: ft}}

	opts := []func(*vegeta.Attacker){vegeta.Client(client), vegeta.Workers(uint64(o.workers))}
	pacer := vegeta.Pacer(vegeta.ConstantPacer{}) // zero: no pause between hits
	rate := o.rate
	if sc == scenarioAgent && o.agentRate > 0 {
		rate = o.agentRate
	}
	if rate > 0 {
		pacer = vegeta.ConstantPacer{Freq: rate, Per: time.Second}
		opts = append(opts, vegeta.MaxWorkers(10000))
	} else {
		// Closed loop: exactly -workers requests in flight.
		opts = append(opts, vegeta.MaxWorkers(uint64(o.workers)))
	}
	atk := vegeta.NewAttacker(opts...)
	header := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + tg.key}}
	targeter := vegeta.NewStaticTargeter(vegeta.Target{
		Method: http.MethodPost, URL: tg.baseURL + "/chat/completions", Body: requestBody(sc, tg.modelFor(sc)), Header: header,
	})
	if sc == scenarioAgent {
		var seq atomic.Uint64
		targeter = func(t *vegeta.Target) error {
			path, body := agentRequest(tg, seq.Add(1))
			*t = vegeta.Target{Method: http.MethodPost, URL: tg.baseURL + path, Body: body, Header: header}
			return nil
		}
	}

	var lat, ttfb, ttft []time.Duration
	var requests, errs int
	var firstErr string
	start := time.Now()
	results := atk.Attack(targeter, pacer, du, string(sc)+" "+tg.name)
	done := ctx.Done()
	for res := range collect(results, done, atk) {
		requests++
		bad := ""
		switch {
		case res.Error != "":
			bad = res.Error
		case res.Code < 200 || res.Code > 299:
			bad = fmt.Sprintf("status %d: %.200s", res.Code, res.Body)
		case !validBody(sc, tg, res.Body):
			bad = fmt.Sprintf("incomplete body: %.200s", res.Body)
		}
		at, hasFirst := fb.take(res.Seq)
		tokenAt, hasToken := ft.take(res.Seq)
		if bad != "" {
			errs++
			if firstErr == "" {
				firstErr = bad
			}
			continue
		}
		lat = append(lat, res.Latency)
		if hasFirst {
			ttfb = append(ttfb, at.Sub(res.Timestamp))
		}
		if hasToken {
			ttft = append(ttft, tokenAt.Sub(res.Timestamp))
		}
	}
	if r == nil {
		return
	}
	r.requests, r.errors, r.firstError = requests, errs, firstErr
	r.elapsed = time.Since(start)
	slices.Sort(lat)
	slices.Sort(ttfb)
	slices.Sort(ttft)
	r.ttft50, r.ttft99 = percentile(ttft, 50), percentile(ttft, 99)
	r.p50, r.p99 = percentile(lat, 50), percentile(lat, 99)
	r.ttfb50, r.ttfb99 = percentile(ttfb, 50), percentile(ttfb, 99)
}

// collect passes results on, stopping the attack (and still draining it)
// once done is closed.
func collect(results <-chan *vegeta.Result, done <-chan struct{}, atk *vegeta.Attacker) <-chan *vegeta.Result {
	out := make(chan *vegeta.Result)
	go func() {
		defer close(out)
		for {
			select {
			case res, ok := <-results:
				if !ok {
					return
				}
				out <- res
			case <-done:
				atk.Stop()
				done = nil
			}
		}
	}()
	return out
}

// firstBytes holds, per vegeta sequence number, when the first byte of a
// response body arrived.
type firstBytes struct {
	mu sync.Mutex
	at map[uint64]time.Time
}

func (f *firstBytes) record(seq uint64, t time.Time) {
	f.mu.Lock()
	f.at[seq] = t
	f.mu.Unlock()
}

func (f *firstBytes) take(seq uint64) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.at[seq]
	delete(f.at, seq)
	return t, ok
}

// ttfbTransport tags every response body with its request's vegeta
// sequence number (vegeta sets X-Vegeta-Seq on each request) so the time
// its first byte is read can be matched with the result.
type ttfbTransport struct {
	base  http.RoundTripper
	rec   *firstBytes
	token *firstBytes
}

func (t *ttfbTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if seq, perr := strconv.ParseUint(req.Header.Get("X-Vegeta-Seq"), 10, 64); perr == nil {
		resp.Body = &firstByteBody{ReadCloser: resp.Body, seq: seq, rec: t.rec, token: t.token}
	}
	return resp, nil
}

// firstByteBody records when its first Read returns data, and when the
// first chunk with generated text (a non-empty "content") arrives: the
// time to first token a user perceives. vegeta reads the body as soon as
// the headers are in, so a Read that returns at once means the bytes came
// with the headers.
type firstByteBody struct {
	io.ReadCloser
	seq       uint64
	rec       *firstBytes
	token     *firstBytes
	seen      bool
	seenToken bool
	tail      []byte // the end of the previous read, for markers split across reads
}

// contentMarker starts a chat.completion.chunk's text delta.
var contentMarker = []byte(`"content":"`)

func (b *firstByteBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 && !b.seen {
		b.seen = true
		b.rec.record(b.seq, time.Now())
	}
	if n > 0 && !b.seenToken && b.token != nil {
		buf := append(b.tail, p[:n]...)
		if hasToken(buf) {
			b.seenToken = true
			b.token.record(b.seq, time.Now())
		}
		b.tail = append(b.tail[:0], buf[max(0, len(buf)-len(contentMarker)):]...)
	}
	return n, err
}

// hasToken reports whether buf holds a non-empty content delta.
func hasToken(buf []byte) bool {
	for i := 0; ; {
		j := bytes.Index(buf[i:], contentMarker)
		if j < 0 {
			return false
		}
		k := i + j + len(contentMarker)
		if k < len(buf) && buf[k] != '"' {
			return true
		}
		i = k
	}
}

// percentile is the nearest-rank p-th percentile of sorted; 0 when empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// which the kernel ABI fixes at 100 on Linux whatever CONFIG_HZ is
// (sysconf(_SC_CLK_TCK), `getconf CLK_TCK`).
const clockTick = 10 * time.Millisecond

// procCPU is the user+system CPU time process pid has used so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	ticks, err := parseStatCPU(string(b))
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ticks) * clockTick, nil
}

// parseStatCPU returns utime+stime, in clock ticks, from the contents of
// /proc/<pid>/stat. The command name (field 2) is in parentheses and may
// hold spaces and parentheses itself, so fields are counted from the last
// ')': state is field 3, utime field 14, stime field 15.
func parseStatCPU(stat string) (uint64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3.
	if len(f) < 13 {
		return 0, fmt.Errorf("only %d fields", len(f)+2)
	}
	utime, err := strconv.ParseUint(f[14-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	stime, err := strconv.ParseUint(f[15-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	return utime + stime, nil
}
