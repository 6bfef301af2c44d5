package e2e

// Acceptance tests of issue 19 (cost in money), through a real Caddy in
// front of the three providers' fake upstreams: the cost of every call to
// the micro-dollar (non-streaming, streaming, cached input, reasoning) in
// each view (/v1/logs, the admin usage records, the spend report, the
// profile, the key, the metric), unknown costs, a run's records summed,
// tenant isolation, the CLI, and a price change on reload.

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/tidwall/gjson"
)

const (
	costReply     = "Cost is counted to the micro dollar."
	costReasoning = "Let me add it up carefully."
)

// costPrice is a price as the test computes with it, independently of
// the pricing package: pico-dollars per token ($ per million tokens ×
// 10^6) of each kind of token.
type costPrice struct{ input, cached, write, output, reasoning int64 }

// micros is the cost of a call, rounded half up to the micro-dollar.
func (p costPrice) micros(in, cached, write, out, reasoning int64) int64 {
	pico := (in-cached-write)*p.input + cached*p.cached + write*p.write + (out-reasoning)*p.output + reasoning*p.reasoning
	return (pico + 500_000) / 1_000_000
}

// The prices of costBlock: gpt-cost bills reasoning above output, so
// double billing (reasoning inside output billed twice) would show.
var (
	gptCost    = costPrice{input: 150_000, cached: 75_000, write: 150_000, output: 600_000, reasoning: 1_200_000}
	geminiCost = costPrice{input: 300_000, cached: 30_000, write: 300_000, output: 2_500_000, reasoning: 3_500_000}
	claudeCost = costPrice{input: 3_000_000, cached: 300_000, write: 3_750_000, output: 15_000_000, reasoning: 15_000_000}
)

const costPrices = `
		price gpt-cost {
			input 0.15
			cached_input 0.075
			output 0.6
			reasoning 1.2
		}
		price gemini-cost {
			input 0.3
			cached_input 0.03
			output 2.5
			reasoning 3.5
		}
		price claude-cost {
			input 3
			cached_input 0.3
			cache_write 3.75
			output 15
		}
`

// costUpstreams starts the three fakes, reporting cached (and, for
// Anthropic, cache-written) prompt tokens, and returns the Caddyfile
// block routing gpt-*, gemini-* and claude-* to them, with costPrices.
func costUpstreams(t *testing.T) string {
	t.Helper()
	oa := (&fakeupstream.OpenAI{Reply: costReply, Reasoning: costReasoning, CachedTokens: 6}).Start()
	gm := (&fakeupstream.Gemini{Reply: costReply, Reasoning: costReasoning, CachedTokens: 4, APIKey: "gm-key"}).Start()
	an := (&fakeupstream.Anthropic{Reply: costReply, Reasoning: costReasoning, CacheRead: 5, CacheWrite: 3, APIKey: "an-key"}).Start()
	t.Cleanup(oa.Close)
	t.Cleanup(gm.Close)
	t.Cleanup(an.Close)
	return threeProviders(oa.URL, gm.URL, an.URL) + `
		route free-* openai
` + costPrices
}

// costChat sends one chat completion and returns its run id.
func costChat(t *testing.T, g *testgate.Gateway, key, model string, stream, reasoning bool) {
	t.Helper()
	body := `{"model":"` + model + `","max_tokens":4096,"messages":[{"role":"user","content":"What does it cost?"}]`
	if stream {
		body += `,"stream":true,"stream_options":{"include_usage":true}`
	}
	if reasoning {
		body += `,"reasoning_effort":"medium"`
	}
	status, out, _ := g.Do("POST", "/v1/chat/completions", key, body+"}")
	if status != 200 || (stream && !strings.Contains(string(out), "[DONE]")) {
		t.Fatalf("%s stream=%v reasoning=%v: %d %s", model, stream, reasoning, status, out)
	}
}

// costRecords returns the tenant's newest usage records from the admin
// API (query: more parameters), and the response.
func costRecords(t *testing.T, g *testgate.Gateway, query string) ([]gjson.Result, gjson.Result) {
	t.Helper()
	status, body := adminDo(t, g, "GET", "/agentgate/usage?"+query, "")
	if status != 200 {
		t.Fatalf("GET /agentgate/usage?%s: %d %s", query, status, body)
	}
	r := gjson.Parse(body)
	return r.Get("records").Array(), r
}

// usd is micros as the JSON number of dollars the views show.
func usd(micros int64) float64 { return float64(micros) / 1e6 }

// keyID returns the id of the declared key of tenant.
func keyID(t *testing.T, g *testgate.Gateway, tenant string) string {
	t.Helper()
	_, body := adminDo(t, g, "GET", "/agentgate/keys", "")
	id := gjson.Get(body, `#(tenant=="`+tenant+`").id`).String()
	if id == "" {
		t.Fatalf("no key of %s in %s", tenant, body)
	}
	return id
}

// TestCostPerProvider: every call's cost, to the micro-dollar, on each
// provider, streamed and not, with cached input and reasoning, is the
// same in each view, and the views add up.
func TestCostPerProvider(t *testing.T) {
	g := testgate.Start(t, testgate.Config{Block: costUpstreams(t)})
	type provider struct {
		model string
		price costPrice
		// cached and written are the cache reads and writes the fake
		// reports; countsReasoning whether its usage breaks reasoning out
		// (Anthropic's counts thinking in output_tokens only).
		cached, written int64
		countsReasoning bool
	}
	providers := []provider{
		{"gpt-cost", gptCost, 6, 0, true},
		{"gemini-cost", geminiCost, 4, 0, true},
		{"claude-cost", claudeCost, 5, 3, false},
	}
	words, thoughts := int64(len(strings.Fields(costReply))), int64(len(strings.Fields(costReasoning)))
	before := costMetric(t, g)
	var total int64
	perModel := map[string]int64{}
	for _, p := range providers {
		for _, stream := range []bool{false, true} {
			for _, reasoning := range []bool{false, true} {
				what := fmt.Sprintf("%s stream=%v reasoning=%v", p.model, stream, reasoning)
				costChat(t, g, testgate.KeyA, p.model, stream, reasoning)
				recs, _ := costRecords(t, g, "tenant=tenant-a&limit=1")
				if len(recs) != 1 {
					t.Fatalf("%s: no record", what)
				}
				rec := recs[0]
				in, out := rec.Get("input_tokens").Int(), rec.Get("output_tokens").Int()
				cached, reas := rec.Get("cached_tokens").Int(), rec.Get("reasoning_tokens").Int()
				// The tokens are the fake's: its cache reads, the answer's
				// words, and the thinking (inside output) when asked.
				wantOut, wantReas := words, int64(0)
				if reasoning {
					wantOut += thoughts
					if p.countsReasoning {
						wantReas = thoughts
					}
				}
				// Anthropic's input_tokens leaves out the cache reads and
				// writes; the canonical input counts them, as OpenAI's and
				// Gemini's prompt counts do.
				wantIn := int64(fakeupstream.PromptTokens(1))
				if p.written > 0 {
					wantIn += p.cached + p.written
				}
				if cached != p.cached || out != wantOut || reas != wantReas || in != wantIn {
					t.Errorf("%s: tokens %d in (%d cached), %d out (%d reasoning); want %d out (%d reasoning), %d cached",
						what, in, cached, out, reas, wantOut, wantReas, p.cached)
				}
				want := p.price.micros(in, cached, p.written, out, reas)
				if want <= 0 {
					t.Fatalf("%s: expected cost %d", what, want)
				}
				if got := rec.Get("cost_usd"); got.Type != gjson.Number || got.Float() != usd(want) {
					t.Errorf("%s: admin record cost_usd %s, want %v (%d µ$)", what, got.Raw, usd(want), want)
				}
				// The same on Egzora's /v1/logs.
				if got := pvLogs(t, g, 1)[0].Get("cost_usd"); got.Float() != usd(want) {
					t.Errorf("%s: /v1/logs cost_usd %s, want %v", what, got.Raw, usd(want))
				}
				total += want
				perModel[p.model] += want
			}
		}
	}

	// A model without a price: its cost is unknown (null), never 0, and
	// it adds nothing to the spend.
	costChat(t, g, testgate.KeyA, "free-model", false, false)
	if got := pvLogs(t, g, 1)[0].Get("cost_usd"); got.Type != gjson.Null {
		t.Errorf("unpriced model: /v1/logs cost_usd %s, want null", got.Raw)
	}
	recs, res := costRecords(t, g, "tenant=tenant-a&limit=1000")
	if len(recs) != 13 || res.Get("unpriced_calls").Int() != 1 || res.Get("cost_usd").Float() != usd(total) {
		t.Errorf("usage records: %d, unpriced %s, cost %s; want 13, 1, %v", len(recs), res.Get("unpriced_calls").Raw, res.Get("cost_usd").Raw, usd(total))
	}

	// The spend report adds up the same, per model.
	status, body := adminDo(t, g, "GET", "/agentgate/spend?tenant=tenant-a&group_by=model", "")
	if status != 200 {
		t.Fatalf("spend: %d %s", status, body)
	}
	spend := gjson.Parse(body)
	if spend.Get("total.cost_usd").Float() != usd(total) || spend.Get("total.calls").Int() != 13 || spend.Get("total.unpriced_calls").Int() != 1 {
		t.Errorf("spend total %s, want cost %v over 13 calls, 1 unpriced", spend.Get("total").Raw, usd(total))
	}
	for model, want := range perModel {
		if got := spend.Get(`groups.#(group=="` + model + `")`); got.Get("cost_usd").Float() != usd(want) || got.Get("calls").Int() != 4 {
			t.Errorf("spend of %s: %s, want %v over 4 calls", model, got.Raw, usd(want))
		}
	}
	if got := spend.Get(`groups.#(group=="free-model")`); got.Get("cost_usd").Float() != 0 || got.Get("unpriced_calls").Int() != 1 {
		t.Errorf("spend of the unpriced model: %s", got.Raw)
	}

	// The key's month: the profile and the admin key view.
	status, out, _ := g.Do("GET", "/v1/auth/profile", testgate.KeyA, nil)
	if p := gjson.ParseBytes(out); status != 200 || p.Get("spent_monthly_usd").Float() != usd(total) || p.Get("monthly_budget_usd").Type != gjson.Null ||
		p.Get("used_monthly_tokens").Int() == 0 || !p.Get("remaining_monthly_tokens").Exists() {
		t.Errorf("profile: %d %s, want spent %v, no budget, the token fields kept", status, out, usd(total))
	}
	status, body = adminDo(t, g, "GET", "/agentgate/keys/"+keyID(t, g, "tenant-a"), "")
	if got := gjson.Get(body, "usage.spent_monthly_usd"); status != 200 || got.Float() != usd(total) {
		t.Errorf("admin key view: %d %s, want spent %v", status, body, usd(total))
	}

	// agentgate_cost_usd_total grows by the same dollars (floats: to
	// 1e-9; the collectors outlive a test's gateway), and exports nothing
	// for the model without a price. A request is exported when its
	// handler returns, which can be after the client read its answer.
	deadline := time.Now().Add(10 * time.Second)
	for {
		grew := costMetric(t, g) - before
		if math.Abs(grew-usd(total)) <= 1e-9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agentgate_cost_usd_total grew by %v, want %v", grew, usd(total))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// costMetric is the sum of agentgate_cost_usd_total; a series of the
// unpriced model fails t.
func costMetric(t *testing.T, g *testgate.Gateway) float64 {
	t.Helper()
	e := g.Scrape(t)
	for _, m := range e["agentgate_cost_usd_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "model" && l.GetValue() == "free-model" {
				t.Errorf("an unpriced model has a cost series: %v", m)
			}
		}
	}
	return e.Get("agentgate_cost_usd_total")
}

// TestCostOfARun: each attempt of a run keeps its own cost (a failed
// attempt pays its per-request price), and the admin usage view of the
// run sums them across retries and the fallback.
func TestCostOfARun(t *testing.T) {
	down := (&fakeupstream.OpenAI{Status: 503}).Start()
	defer down.Close()
	block := costUpstreams(t) + fmt.Sprintf(`
		provider down openai {
			base_url %s
		}
		route gpt-down down
		price gpt-down {
			input 1
			per_request 0.001
		}
		retries {
			max 1
			backoff 1ms
		}
		agent fallbacker {
			model gpt-down
			fallbacks gpt-cost
		}
`, down.URL)
	g := testgate.Start(t, testgate.Config{Block: block})
	status, out, _ := g.Do("POST", "/v1/chat", testgate.KeyA, `{"agent_id":"fallbacker","message":"What does it cost?"}`)
	run := gjson.GetBytes(out, "run_id").String()
	if status != 200 || run == "" {
		t.Fatalf("chat: %d %s", status, out)
	}
	// Unrelated traffic of the same tenant is not part of the run.
	costChat(t, g, testgate.KeyA, "gpt-cost", false, false)
	recs, res := costRecords(t, g, "tenant=tenant-a&run="+url.QueryEscape(run))
	if len(recs) != 3 {
		t.Fatalf("records of run %s: %d, want the two failed attempts and the fallback: %s", run, len(recs), res.Raw)
	}
	var sum float64
	for _, r := range recs {
		c := r.Get("cost_usd").Float()
		switch {
		case r.Get("model_id").String() == "gpt-down" && (r.Get("status").String() == "ok" || c != 0.001):
			t.Errorf("failed attempt %s: %s, want status error and the $0.001 per-request price", r.Get("id"), r.Raw)
		case r.Get("model_id").String() == "gpt-cost" && c <= 0:
			t.Errorf("fallback %s: cost %s", r.Get("id"), r.Get("cost_usd").Raw)
		}
		sum += c
	}
	if got := res.Get("cost_usd").Float(); math.Abs(got-sum) > 1e-12 || got <= 0.002 {
		t.Errorf("run cost %v, want the sum of its records %v", got, sum)
	}
}

// TestSpendReportAndCLI: the spend report by every group, its filters,
// strict parameters (a 400 naming the one at fault), tenant isolation,
// and the CLI's table of the same.
func TestSpendReportAndCLI(t *testing.T) {
	g := testgate.Start(t, testgate.Config{Block: costUpstreams(t) + `
		agent priced {
			model gpt-cost
		}
`})
	costChat(t, g, testgate.KeyA, "gpt-cost", false, false)
	costChat(t, g, testgate.KeyA, "claude-cost", true, false)
	costChat(t, g, testgate.KeyB, "gemini-cost", false, false)
	costChat(t, g, testgate.KeyB, "free-model", false, false)
	if status, out, _ := g.Do("POST", "/v1/chat", testgate.KeyA, `{"agent_id":"priced","message":"Hi"}`); status != 200 {
		t.Fatalf("agent chat: %d %s", status, out)
	}
	keyA, keyB := keyID(t, g, "tenant-a"), keyID(t, g, "tenant-b")
	spend := func(query string) gjson.Result {
		t.Helper()
		status, body := adminDo(t, g, "GET", "/agentgate/spend?"+query, "")
		if status != 200 {
			t.Fatalf("spend?%s: %d %s", query, status, body)
		}
		return gjson.Parse(body)
	}
	groups := func(r gjson.Result) []string {
		var out []string
		for _, g := range r.Get("groups").Array() {
			out = append(out, g.Get("group").String())
		}
		return out
	}
	all := spend("")
	totalA := spend("tenant=tenant-a").Get("total.cost_usd").Float()
	totalB := spend("tenant=tenant-b").Get("total.cost_usd").Float()
	if all.Get("total.calls").Int() != 5 || math.Abs(all.Get("total.cost_usd").Float()-totalA-totalB) > 1e-12 || totalA <= 0 || totalB <= 0 {
		t.Errorf("spend of everyone %s; tenant-a %v, tenant-b %v", all.Get("total").Raw, totalA, totalB)
	}
	// Each key's profile shows its own spend only (each tenant has one key).
	for key, want := range map[string]float64{testgate.KeyA: totalA, testgate.KeyB: totalB} {
		_, out, _ := g.Do("GET", "/v1/auth/profile", key, nil)
		if got := gjson.GetBytes(out, "spent_monthly_usd").Float(); got != want {
			t.Errorf("profile of %s: spent %v, want %v", gjson.GetBytes(out, "tenant"), got, want)
		}
	}
	day := pvLogs(t, g, 1)[0].Get("created_at").String()[:10]
	for _, tc := range []struct{ query, want string }{
		{"tenant=tenant-a&group_by=model", "[claude-cost gpt-cost]"},
		{"tenant=tenant-a&group_by=agent", "[ priced]"}, // passthrough calls have no agent
		{"group_by=key", fmt.Sprint(sortedPair(keyA, keyB))},
		{"group_by=tenant", "[tenant-a tenant-b]"},
		{"group_by=day", "[" + day + "]"},
		{"group_by=model", "[claude-cost free-model gemini-cost gpt-cost]"},
		{"key=" + keyB + "&group_by=model", "[free-model gemini-cost]"},
		// A tenant's view never shows another tenant's spend, a key of
		// another tenant included.
		{"tenant=tenant-b&key=" + keyA, "[]"},
		{"tenant=tenant-b&group_by=tenant", "[tenant-b]"},
		{"tenant=tenant-c", "[]"},
		{"from=2000-01-01&to=2000-02-01", "[]"},
		{"from=" + day + "&group_by=day", "[" + day + "]"},
	} {
		if got := fmt.Sprint(groups(spend(tc.query))); got != tc.want {
			t.Errorf("spend?%s: groups %s, want %s", tc.query, got, tc.want)
		}
	}
	for query, param := range map[string]string{
		"group_by=week":                 "group_by",
		"tenant=a&tenant=b":             "tenant",
		"teant=a":                       "teant",
		"from=yesterday":                "from",
		"to=2026-13-01":                 "to",
		"from=2026-02-01&to=2026-01-01": "to",
		"from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z": "to",
	} {
		status, body := adminDo(t, g, "GET", "/agentgate/spend?"+query, "")
		if status != 400 || !strings.Contains(gjson.Get(body, "error").String(), param+":") {
			t.Errorf("spend?%s: %d %s, want a 400 naming %s", query, status, body, param)
		}
	}
	if status, _ := adminDo(t, g, "POST", "/agentgate/spend", "{}"); status != 405 {
		t.Errorf("POST /agentgate/spend: %d", status)
	}
	for query, param := range map[string]string{"": "tenant", "tenant=tenant-a&limit=0": "limit", "tenant=tenant-a&fresh=1": "fresh"} {
		status, body := adminDo(t, g, "GET", "/agentgate/usage?"+query, "")
		if status != 400 || !strings.Contains(body, param+":") {
			t.Errorf("usage?%s: %d %s, want a 400 naming %s", query, status, body, param)
		}
	}
	// The usage view of a tenant holds only its records.
	if recs, _ := costRecords(t, g, "tenant=tenant-b"); len(recs) != 2 || recs[0].Get("tenant").String() != "tenant-b" || recs[1].Get("tenant").String() != "tenant-b" {
		t.Errorf("usage of tenant-b: %v", recs)
	}
	// A key of another tenant selects nothing in a tenant's view; the
	// same key does in its own tenant's.
	if recs, _ := costRecords(t, g, "tenant=tenant-a&key="+keyA); len(recs) == 0 {
		t.Errorf("usage of tenant-a's key in tenant-a: none")
	}
	if recs, _ := costRecords(t, g, "tenant=tenant-b&key="+keyA); len(recs) != 0 {
		t.Errorf("usage of tenant-a's key in tenant-b: %v", recs)
	}

	// The CLI prints the same as a table, with the total.
	table := cli(t, g, "spend", "--group-by", "model")
	for _, model := range []string{"gpt-cost", "claude-cost", "gemini-cost", "free-model", "TOTAL"} {
		if !regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(model) + `\s+\d+\s`).MatchString(table) {
			t.Errorf("spend table has no %s row:\n%s", model, table)
		}
	}
	total := strconv.FormatFloat(all.Get("total.cost_usd").Float(), 'f', -1, 64)
	if !strings.Contains(table, total) || !strings.Contains(table, "1 calls of models without a price") {
		t.Errorf("spend table lacks the total %s or the unpriced note:\n%s", total, table)
	}
	table = cli(t, g, "spend", "--tenant", "tenant-b", "--group-by", "tenant")
	if strings.Contains(table, "tenant-a") || !strings.Contains(table, "tenant-b") {
		t.Errorf("tenant-b's table:\n%s", table)
	}
}

func sortedPair(a, b string) []string {
	if a > b {
		a, b = b, a
	}
	return []string{a, b}
}

// TestPriceChangeOnReload: a price changed by a reload applies to calls
// recorded after it; records written before keep their cost, and a
// stream in flight across the reload keeps the price it started under.
func TestPriceChangeOnReload(t *testing.T) {
	oa := (&fakeupstream.OpenAI{Reply: costReply}).Start()
	defer oa.Close()
	hold := make(chan struct{})
	held := (&fakeupstream.OpenAI{Reply: costReply, HoldLast: hold}).Start()
	defer held.Close()
	cfg := func(input string) testgate.Config {
		return testgate.Config{Block: fmt.Sprintf(`
		provider openai openai {
			base_url %s
		}
		provider held openai {
			base_url %s
		}
		route gpt-reload openai
		route gpt-reload-held held
		price gpt-reload* {
			input %s
		}
`, oa.URL, held.URL, input)}
	}
	g := testgate.Start(t, cfg("1"))
	// One call before the reload, at $1 per million input tokens.
	costChat(t, g, testgate.KeyA, "gpt-reload", false, false)
	// A stream that begins before the reload and ends after it.
	done := make(chan struct{})
	go func() {
		defer close(done)
		status, out, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA,
			`{"model":"gpt-reload-held","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"What does it cost?"}]}`)
		if status != 200 || !strings.Contains(string(out), "[DONE]") {
			t.Errorf("held stream: %d %s", status, out)
		}
	}()
	for deadline := time.Now().Add(30 * time.Second); held.Sent() < len(strings.Fields(costReply))-1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the held stream did not reach its last token")
		}
	}
	g.Load(cfg("2"))
	close(hold)
	<-done
	// The reload closed the old servers' idle connections.
	http.DefaultClient.CloseIdleConnections()
	// One call after the reload, at $2.
	costChat(t, g, testgate.KeyA, "gpt-reload", false, false)
	recs, _ := costRecords(t, g, "tenant=tenant-a")
	if len(recs) != 3 {
		t.Fatalf("records: %d", len(recs))
	}
	in := int64(fakeupstream.PromptTokens(1))
	for i, want := range []int64{2 * in, in, in} { // newest first
		if got := recs[i].Get("cost_usd").Float(); got != usd(want) {
			t.Errorf("record %d (%s, %s): cost %v, want %v", i, recs[i].Get("id"), recs[i].Get("model_id"), got, usd(want))
		}
	}
}

// TestTierBudgets: a tier's monthly budgets are set in the Caddyfile or
// through the admin API (a bad amount is a 400 naming the field); the
// profile and the admin key view show the month's spend against the
// budget, and a request the rest of the budget cannot cover is refused.
func TestTierBudgets(t *testing.T) {
	g := testgate.Start(t, testgate.Config{Block: costUpstreams(t) + `
		tier capped {
			monthly_budget_usd 0.01
			tenant_monthly_budget_usd 5
		}
`})
	if status, body := adminDo(t, g, "GET", "/agentgate/tiers/capped", ""); status != 200 ||
		gjson.Get(body, "monthly_budget_usd").Raw != "0.01" || gjson.Get(body, "tenant_monthly_budget_usd").Raw != "5" {
		t.Fatalf("the Caddyfile's tier: %d %s", status, body)
	}
	if status, body := adminDo(t, g, "PUT", "/agentgate/tiers/gold", `{"monthly_budget_usd":12.5,"tenant_monthly_budget_usd":100}`); status != 200 ||
		gjson.Get(body, "monthly_budget_usd").Raw != "12.5" {
		t.Fatalf("PUT a tier with budgets: %d %s", status, body)
	}
	for _, bad := range []string{`{"monthly_budget_usd":-1}`, `{"monthly_budget_usd":"12"}`, `{"monthly_budget_usd":1.0000001}`, `{"tenant_monthly_budget_usd":1e3}`} {
		field := strings.Trim(strings.SplitN(bad, ":", 2)[0], `{"`)
		if status, body := adminDo(t, g, "PUT", "/agentgate/tiers/gold", bad); status != 400 || !strings.Contains(body, field+":") {
			t.Errorf("PUT %s: %d %s, want a 400 naming %s", bad, status, body, field)
		}
	}
	out := cli(t, g, "key", "create", "--tenant", "acme", "--tier", "capped")
	secret := regexp.MustCompile(`key:\s+(agk_\S+)`).FindStringSubmatch(out)
	id := regexp.MustCompile(`id:\s+(key_\S+)`).FindStringSubmatch(out)
	if secret == nil || id == nil {
		t.Fatalf("create printed:\n%s", out)
	}
	// Calls of 10 input tokens (6 cached) and 7 output tokens at
	// gpt-cost's prices: 4 × 0.15 + 6 × 0.075 + 7 × 0.6 = 5.25 µ$, 5 each.
	// Each reserves its estimate (up to 4096 output tokens at the
	// reasoning price, about $0.0049) while it runs: they fit one by one.
	each := gptCost.micros(10, 6, 0, int64(len(strings.Fields(costReply))), 0)
	for range 20 {
		costChat(t, g, secret[1], "gpt-cost", false, false)
	}
	spent := usd(20 * each)
	status, body, _ := g.Do("GET", "/v1/auth/profile", secret[1], nil)
	p := gjson.ParseBytes(body)
	if status != 200 || each != 5 || p.Get("spent_monthly_usd").Float() != spent || p.Get("monthly_budget_usd").Float() != 0.01 ||
		p.Get("remaining_monthly_budget_usd").Float() != usd(10_000-20*each) {
		t.Errorf("profile: %d %s, want spent %v of a $0.01 budget", status, body, spent)
	}
	s, b := adminDo(t, g, "GET", "/agentgate/keys/"+id[1], "")
	if u := gjson.Get(b, "usage"); s != 200 || u.Get("spent_monthly_usd").Float() != spent || u.Get("monthly_budget_usd").Float() != 0.01 ||
		u.Get("reserved_usd").Float() != 0 {
		t.Errorf("admin key view: %d %s", s, b)
	}
	// A request whose estimate (32768 output tokens at $1.2 a million:
	// about $0.039) the rest of the budget cannot cover is refused, and
	// the views are unchanged.
	status, body, hdr := g.Do("POST", "/v1/chat/completions", secret[1],
		`{"model":"gpt-cost","max_tokens":32768,"messages":[{"role":"user","content":"What does it cost?"}]}`)
	if msg := gjson.GetBytes(body, "error.message").Str; status != 429 || gjson.GetBytes(body, "error.code").Str != "insufficient_quota" ||
		hdr.Get("x-should-retry") != "false" || !strings.Contains(msg, "monthly budget of $0.01 for this key") ||
		!strings.Contains(msg, "$"+strconv.FormatFloat(spent, 'f', -1, 64)+" spent") {
		t.Errorf("a request over the budget: %d %s", status, body)
	}
	if s, b := adminDo(t, g, "GET", "/agentgate/keys/"+id[1], ""); gjson.Get(b, "usage.spent_monthly_usd").Float() != spent {
		t.Errorf("admin key view after the refusal: %d %s", s, b)
	}
	// Keys of a tier without a budget show null.
	if s, b := adminDo(t, g, "GET", "/agentgate/keys/"+keyID(t, g, "tenant-a"), ""); s != 200 || gjson.Get(b, "usage.monthly_budget_usd").Type != gjson.Null ||
		gjson.Get(b, "usage.reserved_usd").Type != gjson.Null {
		t.Errorf("key without a budget: %d %s", s, b)
	}
}

// TestCostOfPassedThroughCalls: an OpenAI endpoint passed upstream as it
// came (here /v1/completions) is priced from the usage it reports, like
// any call; one of a model without a price has an unknown cost.
func TestCostOfPassedThroughCalls(t *testing.T) {
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: forwardBlock(up) + `
		price gpt-3.5-turbo-instruct {
			input 1.5
			output 2
		}
`})
	for _, body := range []string{`{"model":"gpt-3.5-turbo-instruct","prompt":"Say this"}`, `{"model":"dall-e-3","prompt":"a cat"}`} {
		path := "/v1/completions"
		if strings.Contains(body, "dall-e") {
			path = "/v1/images/generations"
		}
		if status, out, _ := g.Do("POST", path, testgate.KeyA, body); status != 200 {
			t.Fatalf("%s: %d %s", path, status, out)
		}
	}
	costs := map[string]gjson.Result{}
	for _, r := range pvLogs(t, g, 10) {
		costs[r.Get("model_id").String()] = r.Get("cost_usd")
	}
	// The fake reports 4 prompt and 3 completion tokens: 4 × 1.5 + 3 × 2.
	if c := costs["gpt-3.5-turbo-instruct"]; c.Float() != usd(12) {
		t.Errorf("passed-through completion: cost_usd %s, want %v", c.Raw, usd(12))
	}
	if c, ok := costs["dall-e-3"]; !ok || c.Type != gjson.Null {
		t.Errorf("passed-through call of an unpriced model: cost_usd %s, want null", c.Raw)
	}
}
