package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses, as /proc allows.
	stat := "4242 (my (weird) cmd) S 1 4242 4242 0 -1 4194560 1200 0 0 0 " +
		"250 75 0 0 20 0 12 0 123456 1000000 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if got != 325 {
		t.Errorf("utime+stime = %d, want 325", got)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 u s"} {
		if _, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q) did not fail", bad)
		}
	}
}

func TestPercentile(t *testing.T) {
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("empty: %v", got)
	}
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}, {0.5, time.Millisecond}} {
		if got := percentile(d, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("single: %v", got)
	}
}

func TestFormatting(t *testing.T) {
	for d, want := range map[time.Duration]string{
		412 * time.Microsecond:   "412µs",
		1234 * time.Microsecond:  "1.23ms",
		53120 * time.Microsecond: "53.1ms",
		1500 * time.Millisecond:  "1500ms",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
	if got := fmtDelta(-2 * time.Millisecond); got != "−2.00ms" {
		t.Errorf("fmtDelta = %q", got)
	}
	if got := fmtDelta(300 * time.Microsecond); got != "+300µs" {
		t.Errorf("fmtDelta = %q", got)
	}
	if got := fmtRatio(90, 100); got != "0.90×" {
		t.Errorf("fmtRatio = %q", got)
	}
	if got := fmtRatio(1, 0); got != "n/a" {
		t.Errorf("fmtRatio by zero = %q", got)
	}
}

func TestResultFigures(t *testing.T) {
	r := result{requests: 1000, errors: 10, elapsed: 2 * time.Second, caddyCPU: 150 * time.Millisecond, cpuOK: true}
	if got := r.rps(); got != 495 {
		t.Errorf("rps = %v", got)
	}
	if got := r.errorRate(); got != 0.01 {
		t.Errorf("error rate = %v", got)
	}
	if got, ok := r.cpuPerRequest(r.caddyCPU); !ok || got != 150 {
		t.Errorf("cpu/req = %v %v", got, ok)
	}
	if _, ok := (result{requests: 5}).cpuPerRequest(time.Second); ok {
		t.Error("cpu/req without CPU figures")
	}
	if got := (result{}).errorRate(); got != 1 {
		t.Errorf("a run with no requests must count as failed, got %v", got)
	}
}

func TestReport(t *testing.T) {
	ms := time.Millisecond
	var rs []result
	for _, sc := range []scenario{scenarioNonStream, scenarioStream} {
		rs = append(rs,
			result{scenario: sc, target: targetDirect, requests: 1000, elapsed: time.Second, p99: 2 * ms, ttfb50: ms, ttfb99: ms, cpuOK: true},
			result{scenario: sc, target: targetCaddy, requests: 500, elapsed: time.Second, p99: 4 * ms, ttfb50: ms, ttfb99: 3 * ms, caddyCPU: 50 * ms, cpuOK: true},
			result{scenario: sc, target: targetAgentgate, requests: 450, elapsed: time.Second, p99: 5 * ms, ttfb50: 2 * ms, ttfb99: 3 * ms, caddyCPU: 54 * ms, cpuOK: true},
		)
	}
	rs = append(rs, result{scenario: scenarioAgent, target: targetCaddy, requests: 500, elapsed: time.Second, p99: 4 * ms, caddyCPU: 50 * ms, cpuOK: true},
		result{scenario: scenarioAgent, target: targetAgentgate + " (postgres)", requests: 250, elapsed: time.Second, p99: 9 * ms, caddyCPU: 100 * ms, cpuOK: true})
	idle := []idleResult{
		{target: targetCaddy, streams: 1000, rssBefore: 50 << 20, rssWith: 50<<20 + 90*1024*1000, heapBefore: 10 << 20, heapWith: 10<<20 + 40*1024*1000, heapOK: true},
		{target: targetAgentgate, streams: 1000, rssBefore: 60 << 20, rssWith: 60<<20 + 45*1024*1000, heapBefore: 20 << 20, heapWith: 20<<20 + 30*1024*1000, heapOK: true},
	}
	out := report([]string{"machine: test"}, rs, idle)
	for _, want := range []string{
		"| non-streaming | agentgate | 450 | 0µs | 5.00ms | – | – | – | – | 0 / 450 | 120 | 0 |",
		"| streaming | agentgate | 450 | 0µs | 5.00ms | 2.00ms | 3.00ms | 0µs | 0µs | 0 / 450 | 120 | 0 |",
		"agentgate req/s ÷ direct req/s: 0.45×",
		"agentgate req/s ÷ plain Caddy req/s: 0.90×",
		"agentgate CPU/req ÷ plain Caddy CPU/req: 1.20× (120 µs vs 100 µs)",
		"agentgate p99 − plain Caddy p99: +1.00ms",
		"agentgate TTFB − direct TTFB: p50 +1.00ms, p99 +2.00ms",
		"agentgate (postgres) CPU/req ÷ plain Caddy CPU/req: 4.00× (400 µs vs 100 µs)",
		"agentgate (postgres) p99 − plain Caddy p99: +5.00ms",
		"| idle streams | plain Caddy | 1000 | 0µs | 50.0 MB | 137.9 MB | 90.0 | 40.0 |",
		"agentgate RSS/stream ÷ plain Caddy RSS/stream: 0.50× (45.0 KB vs 90.0 KB)",
		"agentgate Go heap+stacks/stream ÷ plain Caddy's: 0.75× (30.0 KB vs 40.0 KB)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestParseScenarios(t *testing.T) {
	got, err := parseScenarios("stream, nonstream")
	if err != nil || len(got) != 2 || got[0] != scenarioStream || got[1] != scenarioNonStream {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", ",", "streams"} {
		if _, err := parseScenarios(bad); err == nil {
			t.Errorf("parseScenarios(%q) did not fail", bad)
		}
	}
}

func TestValidBody(t *testing.T) {
	plain, gate := target{name: targetCaddy}, target{name: targetAgentgate, gate: &gate{storage: "bbolt"}}
	if !validBody(scenarioNonStream, plain, []byte(`{"choices":[]}`)) || validBody(scenarioNonStream, plain, []byte(`{"error":{}}`)) {
		t.Error("non-streaming body check")
	}
	if !validBody(scenarioStream, plain, []byte("data: {}\n\ndata: [DONE]\n\n")) || validBody(scenarioStream, plain, []byte("data: {}\n\n")) {
		t.Error("stream body check")
	}
	if !validBody(scenarioAgent, gate, []byte(`{"response":"hi","session_id":"s"}`)) || validBody(scenarioAgent, gate, []byte(`{"error":{}}`)) ||
		!validBody(scenarioAgent, plain, []byte(`{"choices":[]}`)) {
		t.Error("agent body check")
	}
}

func TestParseList(t *testing.T) {
	got, err := parseList("storage", "bbolt, postgres,bbolt", "bbolt", "postgres")
	if err != nil || len(got) != 2 || got[0] != "bbolt" || got[1] != "postgres" {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", ",", "mysql"} {
		if _, err := parseList("storage", bad, "bbolt", "postgres"); err == nil {
			t.Errorf("parseList(%q) did not fail", bad)
		}
	}
}

// TestAgentRequest: the agent scenario's turns go to agentgate as Egzora
// turns of the stored sessions, and to the others as the same
// conversation inline.
func TestAgentRequest(t *testing.T) {
	path, body := agentRequest(target{model: agentModel, gate: &gate{}, sessions: 100}, 3)
	if path != "/chat" || !strings.Contains(string(body), `"session_id":"bench-session-000057"`) || !strings.Contains(string(body), `"agent_id":"bench"`) {
		t.Errorf("agentgate: %s %s", path, body)
	}
	path, body = agentRequest(target{model: upstreamModel, sessions: 100}, 3)
	var req struct {
		Messages []struct{ Role, Content string } `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil || path != "/chat/completions" || len(req.Messages) != 2*historyTurns+1 {
		t.Errorf("inline: %s %s %v", path, body, err)
	}
}

// TestSessionOf: consecutive turns visit every session once before any
// comes back, also when n shares a factor with the step.
func TestSessionOf(t *testing.T) {
	for _, n := range []int{1, 7, 100, 7919 * 2} {
		seen := map[int]bool{}
		for seq := range uint64(n) {
			s := sessionOf(seq, n)
			if s < 0 || s >= n || seen[s] {
				t.Fatalf("n=%d: turn %d goes to session %d (seen: %v)", n, seq, s, seen[s])
			}
			seen[s] = true
		}
	}
}

func TestParseMemory(t *testing.T) {
	rss, err := parseVmRSS("Name:\tcaddy\nVmPeak:\t 900 kB\nVmRSS:\t  123456 kB\nThreads:\t9\n")
	if err != nil || rss != 123456*1024 {
		t.Errorf("VmRSS = %d, %v", rss, err)
	}
	if _, err := parseVmRSS("Name:\tcaddy\n"); err == nil {
		t.Error("no VmRSS: no error")
	}
	mem, ok := parseGoMemory("# HELP go_memstats_heap_inuse_bytes x\ngo_memstats_heap_inuse_bytes 1.048576e+06\n" +
		"go_memstats_stack_inuse_bytes 65536\ngo_memstats_heap_inuse_bytes_total 9\n")
	if !ok || mem != 1048576+65536 {
		t.Errorf("Go memory = %d, %v", mem, ok)
	}
	if _, ok := parseGoMemory("go_memstats_heap_inuse_bytes 1\n"); ok {
		t.Error("no stack figure: ok")
	}
}

// The transport must attribute each body's first byte to its own request,
// by vegeta's sequence number, and record nothing for an empty body.
func TestTTFBTransportTagsBySequence(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/empty" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		io.WriteString(w, "data: hello\n\n")
	}))
	defer srv.Close()
	rec := &firstBytes{at: map[uint64]time.Time{}}
	client := &http.Client{Transport: &ttfbTransport{base: http.DefaultTransport, rec: rec}}
	get := func(path, seq string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if seq != "" {
			req.Header.Set("X-Vegeta-Seq", seq)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	before := time.Now()
	get("/", "7")
	get("/", "8")
	get("/empty", "9")
	get("/", "") // not from vegeta: nothing recorded
	if len(rec.at) != 2 {
		t.Errorf("recorded %d first bytes, want 2: %v", len(rec.at), rec.at)
	}
	for _, seq := range []uint64{7, 8} {
		at, ok := rec.take(seq)
		if !ok || at.Before(before) {
			t.Errorf("seq %d: %v %v", seq, at, ok)
		}
		if _, ok := rec.take(seq); ok {
			t.Errorf("seq %d taken twice", seq)
		}
	}
	if _, ok := rec.take(9); ok {
		t.Error("an empty body has no first byte")
	}
}

func TestCaddyfile(t *testing.T) {
	cf := caddyfile(caddyfileParams{Admin: 1, GatePort: 3,
		UpstreamURL: "http://127.0.0.1:4/v1", DataDir: "/tmp/d", StorageDir: "/tmp/s", Key: "agk_x"})
	for _, want := range []string{
		"admin 127.0.0.1:1", "persist_config off", "auto_https off", "level ERROR",
		"base_url http://127.0.0.1:4/v1", "agent bench {", "key agk_x {", "tenant " + benchTenant, "tier bench {\n\t\t\tconcurrent",
		"models gpt-bench gpt-bench-idle", "http://127.0.0.1:3 {\n\tagentgate",
	} {
		if !strings.Contains(cf, want) {
			t.Errorf("Caddyfile lacks %q:\n%s", want, cf)
		}
	}
	plain := plainCaddyfile(5, 2, "/tmp/p", "127.0.0.1:4")
	for _, want := range []string{"admin 127.0.0.1:5", "persist_config off", "http://127.0.0.1:2 {\n\treverse_proxy 127.0.0.1:4\n}"} {
		if !strings.Contains(plain, want) {
			t.Errorf("plain Caddyfile lacks %q:\n%s", want, plain)
		}
	}
	if strings.Contains(plain, "agentgate") {
		t.Errorf("plain Caddyfile configures agentgate:\n%s", plain)
	}
}

func TestHasToken(t *testing.T) {
	for i, c := range []struct {
		in   string
		want bool
	}{
		{`data: {"choices":[{"delta":{"role":"assistant","content":""}}]}`, false},
		{`data: {"choices":[{"delta":{"content":"Hi"}}]}`, true},
		{`{"content":""} {"content":"x"}`, true},
		{`"content":"`, false},
	} {
		if got := hasToken([]byte(c.in)); got != c.want {
			t.Errorf("case %d: hasToken(%s) = %v", i, c.in, got)
		}
	}
}
