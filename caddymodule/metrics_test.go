package caddymodule_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/tidwall/gjson"
)

func metricsBlock(up *fakeupstream.OpenAI, extra string) testgate.Config {
	return testgate.Config{Block: `
		provider meterup openai {
			base_url ` + up.URL + `
		}
		agent metered {
			model gpt-metered
			provider meterup
		}
` + extra}
}

// TestTokenCountersEqualUpstreamUsage checks agentgate_tokens_total
// against the usage the upstream reported, to the token, for answers
// streamed and not, with and without reasoning.
func TestTokenCountersEqualUpstreamUsage(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: "alpha beta gamma delta", Reasoning: "first think hard"}).Start()
	defer up.Close()
	g := testgate.Start(t, metricsBlock(up, ""))
	before := g.Scrape(t)
	series := []string{"agent", "metered", "model", "gpt-metered", "provider", "meterup"}

	var in, out, reasoning int64
	// Non-streaming: usage from the body.
	status, body, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA,
		`{"model":"metered","messages":[{"role":"user","content":"hi"}]}`)
	if status != 200 {
		t.Fatalf("chat: %d %s", status, body)
	}
	in += gjson.GetBytes(body, "usage.prompt_tokens").Int()
	out += gjson.GetBytes(body, "usage.completion_tokens").Int()
	// Streaming, with reasoning, usage from the last chunk.
	for _, extra := range []string{``, `,"reasoning_effort":"low"`} {
		status, body, _ = g.Do("POST", "/v1/chat/completions", testgate.KeyA,
			`{"model":"metered","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]`+extra+`}`)
		if status != 200 {
			t.Fatalf("stream: %d %s", status, body)
		}
		var usage gjson.Result
		for _, line := range strings.Split(string(body), "\n") {
			if u := gjson.Get(strings.TrimPrefix(line, "data: "), "usage"); u.IsObject() {
				usage = u
			}
		}
		if !usage.Exists() {
			t.Fatalf("no usage chunk in %s", body)
		}
		in += usage.Get("prompt_tokens").Int()
		out += usage.Get("completion_tokens").Int()
		reasoning += usage.Get("completion_tokens_details.reasoning_tokens").Int()
	}
	// Streaming without usage for the client: the gateway still asks the
	// upstream for it. The fake counts 10 per message and 1 per word.
	status, body, _ = g.Do("POST", "/v1/chat/completions", testgate.KeyB,
		`{"model":"metered","stream":true,"messages":[{"role":"user","content":"x"}]}`)
	if status != 200 || !strings.Contains(string(body), "[DONE]") {
		t.Fatalf("stream without usage: %d %s", status, body)
	}
	in += int64(fakeupstream.PromptTokens(1))
	out += 4
	if in != 10+30+30+10 || out != 4+4+7+4 || reasoning != 3 {
		t.Fatalf("the fake upstream reported in=%d out=%d reasoning=%d, not what this test expects", in, out, reasoning)
	}

	after := g.WaitMetric(t, before.Get("agentgate_requests_total", append(series, "outcome", "ok")...)+4,
		"agentgate_requests_total", append(series, "outcome", "ok", "dialect", "openai")...)
	for _, c := range []struct {
		typ  string
		want int64
	}{{"input", in}, {"output", out}, {"reasoning", reasoning}, {"cached", 0}} {
		kv := append([]string{"type", c.typ}, series...)
		if got := after.Get("agentgate_tokens_total", kv...) - before.Get("agentgate_tokens_total", kv...); got != float64(c.want) {
			t.Errorf("agentgate_tokens_total{type=%q} grew by %v, the upstream reported %d", c.typ, got, c.want)
		}
	}
	for _, h := range []string{"agentgate_upstream_duration_seconds", "agentgate_time_to_first_token_seconds"} {
		if got := after.Get(h, "model", "gpt-metered", "provider", "meterup") - before.Get(h, "model", "gpt-metered", "provider", "meterup"); got != 4 {
			t.Errorf("%s observed %v requests, want 4", h, got)
		}
	}
	if got := after.Get("agentgate_request_duration_seconds", "dialect", "openai", "model", "gpt-metered") -
		before.Get("agentgate_request_duration_seconds", "dialect", "openai", "model", "gpt-metered"); got != 4 {
		t.Errorf("request duration observed %v requests, want 4", got)
	}
	// Tenant labels are off by default.
	for _, name := range []string{"agentgate_requests_total", "agentgate_tokens_total"} {
		for _, l := range after.LabelNames(name) {
			if l == "tenant" {
				t.Errorf("%s has a tenant label with tenant_label off", name)
			}
		}
	}
	if _, ok := after["agentgate_tenant_quota_used_tokens"]; ok {
		t.Error("tenant quota gauges exported with tenant_label off")
	}
}

// TestMetricsOutcomesAndRefusals drives every way a request can end.
func TestMetricsOutcomesAndRefusals(t *testing.T) {
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	down := (&fakeupstream.OpenAI{Status: http.StatusInternalServerError}).Start()
	defer down.Close()
	busy := (&fakeupstream.OpenAI{Status: http.StatusTooManyRequests}).Start()
	defer busy.Close()
	const (
		limitedKey = "agk_metrics_limited_key_00000000"
		poorKey    = "agk_metrics_poor_key_00000000000"
	)
	g := testgate.Start(t, metricsBlock(up, `
		metrics {
			tenant_label on
		}
		provider down openai {
			base_url `+down.URL+`
		}
		provider busy openai {
			base_url `+busy.URL+`
		}
		agent broken {
			model gpt-broken
			provider down
		}
		agent throttled {
			model gpt-throttled
			provider busy
		}
		tier tiny {
			rpm 1
		}
		tier poor {
			tenant_monthly_tokens 50
		}
		key `+limitedKey+` {
			tenant tenant-limited
			tier tiny
		}
		key `+poorKey+` {
			tenant tenant-poor
			tier poor
		}
`))
	before := g.Scrape(t)
	chat := func(key, agent string) int {
		status, _, _ := g.Do("POST", "/v1/chat/completions", key, `{"model":"`+agent+`","messages":[{"role":"user","content":"hi"}]}`)
		return status
	}
	cases := []struct {
		status int
		do     func() int
	}{
		{401, func() int { return chat("", "metered") }},
		{401, func() int { return chat("agk_not_a_real_key_000000000000000", "metered") }},
		{400, func() int { s, _, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA, `{"model":`); return s }},
		{404, func() int { return chat(testgate.KeyA, "no-such-agent") }},
		{200, func() int { return chat(limitedKey, "metered") }},
		{429, func() int { return chat(limitedKey, "metered") }},
		{429, func() int { return chat(poorKey, "metered") }},
		{502, func() int { return chat(testgate.KeyA, "broken") }},
		{429, func() int { return chat(testgate.KeyA, "throttled") }},
		{200, func() int { s, _, _ := g.Do("GET", "/v1/models", testgate.KeyB, nil); return s }},
	}
	for i, c := range cases {
		if got := c.do(); got != c.status {
			t.Fatalf("case %d: status %d, want %d", i, got, c.status)
		}
	}
	delta := func(e testgate.Exposition, name string, kv ...string) float64 {
		return e.Get(name, kv...) - before.Get(name, kv...)
	}
	after := g.WaitMetric(t, before.Get("agentgate_requests_total", "dialect", "openai")+float64(len(cases)),
		"agentgate_requests_total", "dialect", "openai")
	for _, c := range []struct {
		want float64
		kv   []string
	}{
		{2, []string{"outcome", "unauthorized", "agent", "none", "model", "none", "provider", "none", "tenant", "none"}},
		{2, []string{"outcome", "client_error", "tenant", "tenant-a", "agent", "none", "model", "none"}},
		{1, []string{"outcome", "ok", "tenant", "tenant-limited", "agent", "metered", "model", "gpt-metered", "provider", "meterup"}},
		{1, []string{"outcome", "rate_limited", "tenant", "tenant-limited"}},
		{1, []string{"outcome", "quota_exceeded", "tenant", "tenant-poor"}},
		{1, []string{"outcome", "upstream_error", "agent", "broken", "model", "gpt-broken", "provider", "down"}},
		{1, []string{"outcome", "upstream_error", "agent", "throttled", "provider", "busy"}},
		{1, []string{"outcome", "ok", "tenant", "tenant-b", "agent", "none"}},
	} {
		if got := delta(after, "agentgate_requests_total", c.kv...); got != c.want {
			t.Errorf("agentgate_requests_total%v grew by %v, want %v", c.kv, got, c.want)
		}
	}
	for _, c := range []struct {
		name string
		want float64
		kv   []string
	}{
		{"agentgate_rate_limited_requests_total", 1, []string{"reason", "requests"}},
		{"agentgate_rate_limited_requests_total", 0, []string{"reason", "tokens"}},
		{"agentgate_quota_rejected_requests_total", 1, []string{"scope", "tenant"}},
		{"agentgate_quota_rejected_requests_total", 0, []string{"scope", "key"}},
		// Every failed upstream call counts, retries included.
		{"agentgate_upstream_errors_total", float64(len(down.Requests())), []string{"provider", "down", "status", "500"}},
		{"agentgate_upstream_errors_total", float64(len(busy.Requests())), []string{"provider", "busy", "status", "429"}},
		{"agentgate_upstream_errors_total", 0, []string{"provider", "meterup"}},
		// Upstream calls that failed still took time; they produced no token.
		{"agentgate_upstream_duration_seconds", 1, []string{"provider", "down"}},
		{"agentgate_time_to_first_token_seconds", 0, []string{"provider", "down"}},
		{"agentgate_tokens_total", 0, []string{"provider", "down"}},
	} {
		if got := delta(after, c.name, c.kv...); got != c.want {
			t.Errorf("%s%v grew by %v, want %v", c.name, c.kv, got, c.want)
		}
	}
	// Per-tenant quota figures: the poor tenant's request was refused
	// before it used anything.
	if got := after.Get("agentgate_tenant_quota_limit_tokens", "tenant", "tenant-poor"); got != 50 {
		t.Errorf("tenant quota limit = %v, want 50", got)
	}
	if _, ok := after["agentgate_tenant_quota_used_tokens"]; !ok {
		t.Error("no agentgate_tenant_quota_used_tokens")
	}
	if got := after.Get("agentgate_tokens_total", "tenant", "tenant-limited", "type", "input"); got < 10 {
		t.Errorf("tenant-limited input tokens = %v, want its request's 10 at least", got)
	}
}

// TestActiveStreams checks the gauge while a stream is in flight and a
// client that leaves mid-stream.
func TestActiveStreams(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: strings.Repeat("slow ", 50), TokenDelay: 100 * time.Millisecond}).Start()
	defer up.Close()
	g := testgate.Start(t, metricsBlock(up, ""))
	before := g.Scrape(t)
	active := before.Get("agentgate_active_streams", "dialect", "openai")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", g.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"metered","stream":true,"messages":[{"role":"user","content":"go slowly"}]}`))
	req.Header.Set("Authorization", "Bearer "+testgate.KeyA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	g.WaitMetric(t, active+1, "agentgate_active_streams", "dialect", "openai")
	// A non-streaming request meanwhile is not a stream.
	if status, _, _ := g.Do("GET", "/v1/models", testgate.KeyA, nil); status != 200 {
		t.Fatal(status)
	}
	if got := g.Scrape(t).Get("agentgate_active_streams", "dialect", "openai"); got != active+1 {
		t.Fatalf("active streams = %v, want %v", got, active+1)
	}
	cancel()
	g.WaitMetric(t, active, "agentgate_active_streams", "dialect", "openai")
	g.WaitMetric(t, before.Get("agentgate_requests_total", "agent", "metered", "outcome", "client_closed")+1,
		"agentgate_requests_total", "agent", "metered", "outcome", "client_closed")
}

// TestPlaceholdersReachAccessLog logs the {http.agentgate.*} placeholders
// with log_append and sets one as a deferred response header.
func TestPlaceholdersReachAccessLog(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: "one two three"}).Start()
	defer up.Close()
	logFile := filepath.Join(t.TempDir(), "access.log")
	cfg := metricsBlock(up, "")
	cfg.Site = `
	header >X-Agentgate-Model {http.agentgate.model}
	log_append agentgate_dialect {http.agentgate.dialect}
	log_append agentgate_tenant {http.agentgate.tenant}
	log_append agentgate_key_id {http.agentgate.key_id}
	log_append agentgate_agent {http.agentgate.agent}
	log_append agentgate_model {http.agentgate.model}
	log_append agentgate_provider {http.agentgate.provider}
	log_append agentgate_input_tokens {http.agentgate.input_tokens}
	log_append agentgate_output_tokens {http.agentgate.output_tokens}
	log_append agentgate_total_tokens {http.agentgate.total_tokens}
	log_append agentgate_stream {http.agentgate.stream}
	log_append agentgate_outcome {http.agentgate.outcome}
	log_append agentgate_ttft_ms {http.agentgate.ttft_ms}
	log {
		output file ` + logFile + `
		format json
	}
`
	g := testgate.Start(t, cfg)
	status, body, h := g.Do("POST", "/v1/chat/completions", testgate.KeyA, `{"model":"metered","messages":[{"role":"user","content":"hi"}]}`)
	if status != 200 {
		t.Fatalf("chat: %d %s", status, body)
	}
	if got := h.Get("X-Agentgate-Model"); got != "gpt-metered" {
		t.Errorf("X-Agentgate-Model = %q", got)
	}
	if status, body, _ = g.Do("POST", "/v1/chat/completions", testgate.KeyB, `{"model":"metered","stream":true,"messages":[{"role":"user","content":"hi"}]}`); status != 200 {
		t.Fatalf("stream: %d %s", status, body)
	}
	if status, _, _ = g.Do("GET", "/v1/models", "", nil); status != 401 {
		t.Fatalf("unauthenticated: %d", status)
	}

	var entries []map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for len(entries) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("access log has %d entries, want 3", len(entries))
		}
		time.Sleep(10 * time.Millisecond)
		entries = entries[:0]
		f, err := os.Open(logFile)
		if err != nil {
			continue
		}
		raw, _ := io.ReadAll(f)
		f.Close()
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) == nil {
				entries = append(entries, e)
			}
		}
	}
	byTenant := map[string]map[string]any{}
	for _, e := range entries {
		tenant, _ := e["agentgate_tenant"].(string)
		byTenant[tenant] = e
	}
	for tenant, w := range map[string]map[string]any{
		"tenant-a": {"agentgate_dialect": "openai", "agentgate_agent": "metered", "agentgate_model": "gpt-metered",
			"agentgate_provider": "meterup", "agentgate_input_tokens": 10.0, "agentgate_output_tokens": 3.0, "agentgate_total_tokens": 13.0,
			"agentgate_stream": false, "agentgate_outcome": "ok"},
		"tenant-b": {"agentgate_agent": "metered", "agentgate_input_tokens": 10.0, "agentgate_output_tokens": 3.0,
			"agentgate_stream": true, "agentgate_outcome": "ok"},
		"": {"agentgate_agent": "", "agentgate_input_tokens": 0.0, "agentgate_outcome": "unauthorized"},
	} {
		for k, v := range w {
			if got := byTenant[tenant][k]; got != v {
				t.Errorf("tenant %q: %s = %#v, want %#v\n%v", tenant, k, got, v, byTenant[tenant])
			}
		}
	}
	a := byTenant["tenant-a"]
	if line, err := json.Marshal(a); err == nil {
		t.Logf("access log entry: %s", line)
	}
	if id, _ := a["agentgate_key_id"].(string); id == "" {
		t.Errorf("no key id in %v", a)
	}
	if ms, _ := a["agentgate_ttft_ms"].(float64); ms <= 0 {
		t.Errorf("ttft_ms = %v", a["agentgate_ttft_ms"])
	}
}

// TestMetricsSurviveReload: the collectors are re-registered in every
// config's registry and keep their values.
func TestMetricsSurviveReload(t *testing.T) {
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	cfg := metricsBlock(up, "")
	g := testgate.Start(t, cfg)
	// The collectors are process-wide: earlier tests (and runs, under
	// -count) counted requests of this agent too.
	kv := []string{"agent", "metered", "outcome", "ok"}
	n := g.Scrape(t).Get("agentgate_requests_total", kv...) + 1
	if status, _, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA, `{"model":"metered","messages":[{"role":"user","content":"hi"}]}`); status != 200 {
		t.Fatal(status)
	}
	g.WaitMetric(t, n, "agentgate_requests_total", kv...)
	g.Load(cfg)
	if got := g.Scrape(t).Get("agentgate_requests_total", kv...); got != n {
		t.Fatalf("after reload: %v, want %v", got, n)
	}
	if status, _, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA, `{"model":"metered","messages":[{"role":"user","content":"hi"}]}`); status != 200 {
		t.Fatal(status)
	}
	g.WaitMetric(t, n+1, "agentgate_requests_total", kv...)
}

// TestMetricsRetriesAndBrokenStreams: a call that failed and was retried
// successfully is an ok request (its failed attempt an upstream error),
// and a stream the upstream broke after it began is an upstream error
// although the client got a 200.
func TestMetricsRetriesAndBrokenStreams(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: "fine thanks"}).Start()
	defer up.Close()
	var calls atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":{"message":"try again","type":"server_error"}}`)
			return
		}
		up.Server.Config.Handler.ServeHTTP(w, r)
	}))
	defer flaky.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, delta := range []string{`{"role":"assistant","content":""}`, `{"content":"Hel"}`} {
			_, _ = io.WriteString(w, `data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"gpt-broken","choices":[{"index":0,"delta":`+delta+`,"finish_reason":null}]}`+"\n\n")
			_ = http.NewResponseController(w).Flush()
		}
		panic(http.ErrAbortHandler) // the connection breaks mid-stream
	}))
	defer broken.Close()
	g := testgate.Start(t, metricsBlock(up, `
		provider flaky openai {
			base_url `+flaky.URL+`/v1
		}
		provider broken openai {
			base_url `+broken.URL+`/v1
		}
		agent retried {
			model gpt-flaky
			provider flaky
		}
		agent cutoff {
			model gpt-cutoff
			provider broken
		}
`))
	before := g.Scrape(t)
	if status, body, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA, `{"model":"retried","messages":[{"role":"user","content":"hi"}]}`); status != 200 {
		t.Fatalf("retried: %d %s", status, body)
	}
	if calls.Load() != 2 {
		t.Fatalf("the flaky upstream saw %d calls, want 2", calls.Load())
	}
	status, body, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA, `{"model":"cutoff","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if status != 200 || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("cut-off stream: %d %s", status, body)
	}
	g.WaitMetric(t, before.Get("agentgate_requests_total", "agent", "cutoff")+1, "agentgate_requests_total", "agent", "cutoff")
	after := g.WaitMetric(t, before.Get("agentgate_requests_total", "agent", "retried")+1, "agentgate_requests_total", "agent", "retried")
	for _, c := range []struct {
		name string
		want float64
		kv   []string
	}{
		{"agentgate_requests_total", 1, []string{"agent", "retried", "outcome", "ok"}},
		{"agentgate_upstream_errors_total", 1, []string{"provider", "flaky", "status", "503"}},
		{"agentgate_requests_total", 1, []string{"agent", "cutoff", "outcome", "upstream_error"}},
		{"agentgate_upstream_errors_total", 1, []string{"provider", "broken", "status", "stream"}},
		{"agentgate_active_streams", 0, []string{"dialect", "openai"}},
	} {
		if got := after.Get(c.name, c.kv...) - before.Get(c.name, c.kv...); got != c.want {
			t.Errorf("%s%v grew by %v, want %v", c.name, c.kv, got, c.want)
		}
	}
}
