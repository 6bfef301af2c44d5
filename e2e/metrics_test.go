package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/servertest"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/tidwall/gjson"
)

// TestDashboardsAgainstPrometheus runs a real Prometheus scraping a real
// Caddy with agentgate, drives chats through every dialect that has one
// (streamed and not) plus each kind of failure and refusal, and evaluates
// every PromQL expression of every panel and template variable of
// dashboards/*.json through Prometheus's HTTP API: each must succeed and
// return series. It also runs `promtool check metrics` on the exposition.
func TestDashboardsAgainstPrometheus(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil && os.Getenv("CI") == "true" {
		t.Fatal("no `prometheus` binary in PATH, but CI=true: the dashboard test must run in CI (.ci/run installs Debian's prometheus)")
	}
	if err != nil {
		t.Skip("\n" + strings.Repeat("!", 72) + "\n" +
			"!!! SKIPPING the dashboard test: no `prometheus` binary in PATH.\n" +
			"!!! Install it (Debian: apt-get install -y prometheus); CI does.\n" +
			strings.Repeat("!", 72))
	}
	dashboards := dashLoad(t)

	up := (&fakeupstream.OpenAI{Reply: "metrics are fun to read", Reasoning: "let me think"}).Start()
	defer up.Close()
	down := (&fakeupstream.OpenAI{Status: http.StatusServiceUnavailable}).Start()
	defer down.Close()
	const (
		limitedKey = "agk_dash_limited_key_00000000000"
		poorKey    = "agk_dash_poor_key_000000000000000"
	)
	g := testgate.Start(t, testgate.Config{Block: `
		metrics {
			tenant_label on
		}
		provider up openai {
			base_url ` + up.URL + `
		}
		provider down openai {
			base_url ` + down.URL + `
		}
		agent assistant {
			model gpt-dash
			provider up
		}
		agent thinker {
			model o-dash
			provider up
			reasoning on
			reasoning_effort low
		}
		agent broken {
			model gpt-down
			provider down
		}
		tier pro {
			monthly_tokens 1000000
			tenant_monthly_tokens 5000000
			tenant_monthly_budget_usd 100
			unpriced allow
		}
		price gpt-dash {
			input 2.5
			output 10
		}
		price o-dash {
			input 1.1
			output 4.4
		}
		tier tiny {
			rpm 1
		}
		tier poor {
			tenant_monthly_tokens 50
		}
		key ` + limitedKey + ` {
			tenant tenant-limited
			tier tiny
		}
		key ` + poorKey + ` {
			tenant tenant-poor
			tier poor
		}
`})

	promCheckExposition(t, g)
	prom := startPrometheus(t, promBin, g.Admin)

	// Two rounds of traffic, each seen by a scrape, so rates and
	// quantiles have samples to work on.
	for round := 1; round <= 2; round++ {
		before := promRequestsTotal(t, g)
		sent := dashTraffic(t, g, round, limitedKey, poorKey)
		want := promWaitRequestsTotal(t, g, before+float64(sent))
		prom.waitFor(t, "sum(agentgate_requests_total)", want)
	}
	// Two more scrapes: every series, those round 2 created too, has
	// samples to rate.
	prom.waitScrapes(t, prom.scrapes(t)+2)

	evaluated := 0
	for _, d := range dashboards {
		for _, q := range d.queries {
			expr := dashSubstitute(t, q.expr)
			// Every agentgate metric an expression names must exist, so
			// an "or vector(0)" cannot hide a misspelt name.
			for _, name := range regexp.MustCompile(`agentgate_[a-z_]+`).FindAllString(expr, -1) {
				if n := prom.query(t, "count("+name+")"); len(n) == 0 {
					t.Errorf("%s: %q: metric %s does not exist", d.file, q.title, name)
				}
			}
			res := prom.query(t, expr)
			if len(res) == 0 {
				t.Errorf("%s: %q: %s returned no series", d.file, q.title, expr)
			}
			evaluated++
		}
	}
	t.Logf("evaluated %d dashboard expressions through Prometheus", evaluated)
	if evaluated < 30 {
		t.Errorf("only %d expressions found in the dashboards", evaluated)
	}
	// The request count Prometheus saw per dialect: every dialect with a
	// chat route took part.
	for _, dialect := range dashDialects() {
		if res := prom.query(t, `sum(agentgate_requests_total{dialect="`+dialect+`",outcome="ok",agent="assistant"}) > 0`); len(res) == 0 {
			t.Errorf("no successful %s chats in Prometheus", dialect)
		}
	}
}

// dashDialects are the registered dialects this test drives chats through.
func dashDialects() []string {
	var out []string
	for _, d := range []string{"openai", "egzora", "gemini"} {
		if slices.Contains(dialects.Names(), d) {
			out = append(out, d)
		}
	}
	return out
}

// dashTraffic sends chats through each dialect, streamed and not, with
// and without reasoning, and one request per failure and refusal, and
// returns how many requests it sent.
func dashTraffic(t *testing.T, g *testgate.Gateway, round int, limitedKey, poorKey string) (sent int) {
	t.Helper()
	expect := func(want int, method, path, key string, body any) []byte {
		t.Helper()
		sent++
		status, out, _ := g.Do(method, path, key, body)
		if status != want {
			t.Fatalf("round %d: %s %s: %d, want %d: %s", round, method, path, status, want, out)
		}
		return out
	}
	for _, key := range []string{testgate.KeyA, testgate.KeyB} {
		for _, agent := range []string{"assistant", "thinker"} {
			expect(200, "POST", "/v1/chat/completions", key, `{"model":"`+agent+`","messages":[{"role":"user","content":"hi"}]}`)
			out := expect(200, "POST", "/v1/chat/completions", key,
				`{"model":"`+agent+`","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
			if !bytes.Contains(out, []byte("[DONE]")) {
				t.Fatalf("stream did not finish: %s", out)
			}
			if slices.Contains(dialects.Names(), "egzora") {
				out = expect(200, "POST", "/v1/chat", key, `{"agent_id":"`+agent+`","message":"hi"}`)
				if !gjson.GetBytes(out, "response").Exists() {
					t.Fatalf("egzora chat: %s", out)
				}
				expect(200, "POST", "/v1/chat", key, `{"agent_id":"`+agent+`","message":"hi","stream":true}`)
			}
			if slices.Contains(dialects.Names(), "gemini") {
				hi := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
				out = expect(200, "POST", "/v1beta/models/"+agent+":generateContent", key, hi)
				if gjson.GetBytes(out, "candidates.0.finishReason").Str != "STOP" {
					t.Fatalf("gemini generateContent: %s", out)
				}
				expect(200, "POST", "/v1beta/models/"+agent+":streamGenerateContent?alt=sse", key, hi)
			}
		}
		expect(200, "GET", "/v1/models", key, nil)
	}
	expect(401, "GET", "/v1/models", "", nil)
	expect(400, "POST", "/v1/chat/completions", testgate.KeyA, `{"model":`)
	expect(503, "POST", "/v1/chat/completions", testgate.KeyA, `{"model":"broken","messages":[{"role":"user","content":"hi"}]}`)
	if round == 1 {
		expect(200, "POST", "/v1/chat/completions", limitedKey, `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`)
	}
	expect(429, "POST", "/v1/chat/completions", limitedKey, `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`)
	expect(429, "POST", "/v1/chat/completions", poorKey, `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`)
	return sent
}

// promRequestsTotal reads sum(agentgate_requests_total) from the admin
// endpoint. The collectors are process-wide: earlier tests' requests
// are in it.
func promRequestsTotal(t *testing.T, g *testgate.Gateway) float64 {
	t.Helper()
	total := 0.0
	for _, line := range strings.Split(promExposition(t, g), "\n") {
		if strings.HasPrefix(line, "agentgate_requests_total{") {
			var v float64
			if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
				total += v
			}
		}
	}
	return total
}

// promWaitRequestsTotal polls the admin endpoint until
// sum(agentgate_requests_total) is want, and returns it: a request is
// exported when its handler returns, which can be after the client read
// its answer.
func promWaitRequestsTotal(t *testing.T, g *testgate.Gateway, want float64) float64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := promRequestsTotal(t, g)
		if got == want {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("sum(agentgate_requests_total) = %v after 30s, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func promExposition(t *testing.T, g *testgate.Gateway) string {
	t.Helper()
	resp, err := http.Get("http://" + g.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// promCheckExposition runs `promtool check metrics` over the admin endpoint's
// exposition after one chat, so every agentgate family is present.
func promCheckExposition(t *testing.T, g *testgate.Gateway) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Error("prometheus is installed but promtool is not")
		return
	}
	before := promRequestsTotal(t, g)
	if status, out, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA, `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`); status != 200 {
		t.Fatalf("chat: %d %s", status, out)
	}
	promWaitRequestsTotal(t, g, before+1)
	exp := promExposition(t, g)
	for _, family := range []string{"agentgate_requests_total", "agentgate_tokens_total", "agentgate_cost_usd_total", "agentgate_request_duration_seconds",
		"agentgate_upstream_duration_seconds", "agentgate_time_to_first_token_seconds", "agentgate_active_streams",
		"agentgate_tenant_budget_used_usd", "agentgate_tenant_budget_limit_usd"} {
		if !strings.Contains(exp, "# TYPE "+family+" ") {
			t.Errorf("exposition lacks %s", family)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(exp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// promServer is a running Prometheus.
type promServer struct {
	base string
}

// startPrometheus runs Prometheus on a loopback port, scraping target's
// /metrics every second, with its storage in a temporary directory.
func startPrometheus(t *testing.T, bin, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: agentgate
    metrics_path: /metrics
    static_configs:
      - targets: ["`+target+`"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		p, err := launchPrometheus(t, bin, cfg, filepath.Join(dir, fmt.Sprint("data", attempt)))
		if err == nil {
			// The target must be scraped successfully.
			p.waitFor(t, `up{job="agentgate"}`, 1)
			return p
		}
		// The port was free when chosen, not reserved: a test binary of
		// another package may have bound it first.
		if attempt == servertest.BindAttempts || !servertest.AddrInUse(err) {
			t.Fatal(err)
		}
	}
}

// launchPrometheus runs Prometheus with the config file cfg and its
// storage in data, on a free loopback port, stopped when the test ends,
// and waits until it is ready; an error says it exited or never was.
func launchPrometheus(t *testing.T, bin, cfg, data string) (*promServer, error) {
	t.Helper()
	addr := promFreeAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+data,
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	p := &promServer{base: "http://" + addr}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, nil
			}
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("prometheus exited:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			return nil, errors.New("prometheus not ready after 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// query evaluates expr now and returns its result vector; an error
// response fails the test.
func (p *promServer) query(t *testing.T, expr string) []gjson.Result {
	t.Helper()
	resp, err := http.PostForm(p.base+"/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := gjson.ParseBytes(body)
	if r.Get("status").String() != "success" {
		t.Errorf("query %s: %d %s", expr, resp.StatusCode, body)
		return nil
	}
	if typ := r.Get("data.resultType").String(); typ != "vector" && typ != "matrix" {
		t.Errorf("query %s: result type %s, want a vector", expr, typ)
		return nil
	}
	return r.Get("data.result").Array()
}

// waitFor polls until expr's single value is want.
func (p *promServer) waitFor(t *testing.T, expr string, want float64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res := p.query(t, expr)
		var got float64 = -1
		if len(res) == 1 {
			got = res[0].Get("value.1").Float()
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus: %s = %v, want %v", expr, got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// scrapes is how many scrapes of the gateway Prometheus has stored.
func (p *promServer) scrapes(t *testing.T) float64 {
	t.Helper()
	res := p.query(t, `count_over_time(up{job="agentgate"}[1h])`)
	if len(res) != 1 {
		return 0
	}
	return res[0].Get("value.1").Float()
}

// waitScrapes polls until Prometheus has stored n scrapes of the gateway.
func (p *promServer) waitScrapes(t *testing.T, n float64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for p.scrapes(t) < n {
		if time.Now().After(deadline) {
			t.Fatalf("prometheus: %v scrapes of the gateway after 30s, want %v", p.scrapes(t), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func promFreeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// dashFile is one dashboards/*.json with the PromQL it holds.
type dashFile struct {
	file    string
	queries []dashQuery
}

type dashQuery struct {
	title, expr string
}

// dashLoad reads dashboards/*.json, checks that each can be
// imported as is (a ${DS_PROMETHEUS} input every panel uses, no instance
// hard-coded) and collects every panel target's expression and every
// template variable's query (label_values(m, l) becomes count by (l) (m)).
func dashLoad(t *testing.T) []dashFile {
	t.Helper()
	files, err := filepath.Glob("../dashboards/*.json")
	if err != nil || len(files) < 2 {
		t.Fatalf("dashboards: %v %v", files, err)
	}
	labelValues := regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)
	var out []dashFile
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(raw) {
			t.Fatalf("%s is not JSON", f)
		}
		doc := gjson.ParseBytes(raw)
		d := dashFile{file: filepath.Base(f)}
		if doc.Get(`__inputs.#(name=="DS_PROMETHEUS").pluginId`).String() != "prometheus" {
			t.Errorf("%s: no DS_PROMETHEUS input", d.file)
		}
		for _, bad := range []string{"localhost", "127.0.0.1", `"instance"`, "instance="} {
			if bytes.Contains(raw, []byte(bad)) {
				t.Errorf("%s mentions %s: dashboards must not name instances", d.file, bad)
			}
		}
		if doc.Get("uid").String() == "" || doc.Get("title").String() == "" {
			t.Errorf("%s: no uid or title", d.file)
		}
		var panels []gjson.Result
		for _, p := range doc.Get("panels").Array() {
			panels = append(panels, p)
			panels = append(panels, p.Get("panels").Array()...) // collapsed rows
		}
		for _, p := range panels {
			if p.Get("type").String() == "row" {
				continue
			}
			title := p.Get("title").String()
			if ds := p.Get("datasource.uid").String(); ds != "${DS_PROMETHEUS}" {
				t.Errorf("%s: panel %q: data source %q, want ${DS_PROMETHEUS}", d.file, title, ds)
			}
			if p.Get("fieldConfig.defaults.unit").String() == "" {
				t.Errorf("%s: panel %q has no unit", d.file, title)
			}
			targets := p.Get("targets").Array()
			if len(targets) == 0 {
				t.Errorf("%s: panel %q has no query", d.file, title)
			}
			for _, tg := range targets {
				if ds := tg.Get("datasource.uid").String(); ds != "" && ds != "${DS_PROMETHEUS}" {
					t.Errorf("%s: panel %q: target data source %q", d.file, title, ds)
				}
				d.queries = append(d.queries, dashQuery{title: title + " / " + tg.Get("refId").String(), expr: tg.Get("expr").String()})
			}
		}
		for _, v := range doc.Get("templating.list").Array() {
			if v.Get("type").String() != "query" {
				continue
			}
			if ds := v.Get("datasource.uid").String(); ds != "${DS_PROMETHEUS}" {
				t.Errorf("%s: variable %s: data source %q", d.file, v.Get("name"), ds)
			}
			def := v.Get("definition").String()
			m := labelValues.FindStringSubmatch(def)
			if m == nil {
				t.Errorf("%s: variable %s: %q is not label_values(metric, label)", d.file, v.Get("name"), def)
				continue
			}
			d.queries = append(d.queries, dashQuery{title: "variable " + v.Get("name").String(), expr: "count by (" + m[2] + ") (" + m[1] + ")"})
		}
		out = append(out, d)
	}
	vars := map[string]bool{}
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		for _, v := range gjson.GetBytes(raw, "templating.list.#.name").Array() {
			vars[v.String()] = true
		}
	}
	for _, v := range []string{"agent", "model", "tenant"} {
		if !vars[v] {
			t.Errorf("no dashboard has a %s variable", v)
		}
	}
	return out
}

// dashSubstitute replaces Grafana's variables in expr: template variables by
// a regex matching everything (as "All" does), the built-in intervals by
// fixed durations.
func dashSubstitute(t *testing.T, expr string) string {
	t.Helper()
	builtins := map[string]string{"__rate_interval": "1m", "__interval": "15s", "__range": "5m", "__range_s": "300"}
	out := regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`).ReplaceAllStringFunc(expr, func(m string) string {
		name := strings.Trim(m, "${}")
		name, _, _ = strings.Cut(name, ":")
		if v, ok := builtins[name]; ok {
			return v
		}
		return ".*"
	})
	if strings.Contains(out, "$") {
		t.Errorf("unsubstituted variable in %s", out)
	}
	return out
}
