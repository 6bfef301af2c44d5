package e2e

// Acceptance tests of budgets (issue 19, item 4), through a real Caddy:
// a tier's monthly_budget_usd and tenant_monthly_budget_usd reserve each
// request's estimated cost before the upstream call and settle its real
// cost after it, within the README's overspend bound, on one instance and
// across two on Redis and PostgreSQL; an abandoned stream pays for what
// it produced; the refusal in every dialect's shape; a model without a
// price under a budget.

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/procgate"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/agentgate/agentgate/state"
)

// The prices of the budget tests' model gpt-test: one micro-dollar per
// input token, three per output token.
const (
	budgetIn, budgetOut = 1, 3
	budgetPrice         = `
		price gpt-test {
			input 1
			output 3
		}
`
)

// budgetBlock is the agent assistant on up (priced), and the tier pro the
// test keys are on, with tierBody.
func budgetBlock(up *fakeupstream.OpenAI, tierBody string) string {
	return assistant(up, tierBody) + budgetPrice
}

// budgetEstimate is what admission reserves for chatBody(maxTokens): its
// token estimate at gpt-test's prices.
func budgetEstimate(maxTokens int) (string, int64) {
	body, _ := chatBody(maxTokens)
	return body, int64(len(body)+3)/4*budgetIn + int64(maxTokens)*budgetOut
}

// micros reads a JSON number of dollars as micro-dollars.
func micros(r gjson.Result) int64 {
	m, err := strconv.ParseFloat(r.Raw, 64)
	if err != nil {
		return -1
	}
	return int64(m*1e6 + 0.5)
}

// keySpend is the key of tenant's spend and what requests in flight
// reserve of its budget, from g's admin key view, once nothing is
// reserved.
func keySpend(t *testing.T, g *testgate.Gateway, tenant string) (spent int64, view gjson.Result) {
	t.Helper()
	id := keyID(t, g, tenant)
	eventually(t, "the key's reservations settled", func() string {
		status, body := adminDo(t, g, "GET", "/agentgate/keys/"+id, "")
		view = gjson.Get(body, "usage")
		if status != 200 || micros(view.Get("reserved_usd")) != 0 {
			return body
		}
		return ""
	})
	return micros(view.Get("spent_monthly_usd")), view
}

// costOfAnswers is what the admitted answers cost at gpt-test's prices,
// from the usage they report.
func costOfAnswers(answers []answer) int64 {
	var sum int64
	for _, a := range answers {
		if a.status == 200 {
			u := gjson.GetBytes(a.body, "usage")
			sum += u.Get("prompt_tokens").Int()*budgetIn + u.Get("completion_tokens").Int()*budgetOut
		}
	}
	return sum
}

// TestBudgetRace: a budget for ten requests, fifty at once: exactly ten
// reserve (each until the upstream answers), the others are refused with
// insufficient_quota, and what the ten settle (their real cost, from
// their usage records) stays within the budget: every request names
// max_tokens, so the README's bound, Σ max(0, actual − estimate), is 0.
func TestBudgetRace(t *testing.T) {
	up := newHeldUpstream(t)
	body, estimate := budgetEstimate(20)
	budget := 10 * estimate
	g := testgate.Start(t, testgate.Config{Block: budgetBlock(up.OpenAI, "monthly_budget_usd "+usdFigure(budget))})
	// Viewed before any traffic, the key's figures follow it after.
	if spent, view := keySpend(t, g, "tenant-a"); spent != 0 || view.Get("used_monthly_tokens").Int() != 0 {
		t.Fatalf("before any request: %s", view.Raw)
	}
	answers, _ := burst(t, up, []*procgate.Instance{{Gateway: g, Name: "in-process"}}, 50, testgate.KeyA, body)
	ok, refused := count(t, answers, "insufficient_quota")
	if ok != 10 || refused != 40 {
		t.Fatalf("budget for 10 requests: %d admitted, %d refused", ok, refused)
	}
	spent, view := keySpend(t, g, "tenant-a")
	if want := costOfAnswers(answers); spent != want || spent > budget || spent == 0 {
		t.Fatalf("spent %d µ$ of a budget of %d; the answers cost %d: %s", spent, budget, want, view.Raw)
	}
	var tokens int64
	for _, a := range answers {
		tokens += gjson.GetBytes(a.body, "usage.total_tokens").Int()
	}
	// The tier has no token quota: the tokens are the usage records'.
	if micros(view.Get("monthly_budget_usd")) != budget || view.Get("used_monthly_tokens").Int() != tokens {
		t.Errorf("key view: %s, want %d tokens used", view.Raw, tokens)
	}
	// The usage records add up to the same spend.
	recs, _ := costRecords(t, g, "tenant=tenant-a&limit=100")
	var sum int64
	for _, r := range recs {
		sum += micros(r.Get("cost_usd"))
	}
	if len(recs) != 10 || sum != spent {
		t.Errorf("%d records costing %d µ$, want 10 costing %d", len(recs), sum, spent)
	}
	// Budgets are per key: tenant B's key, on the same tier, has all of
	// its own.
	if status, out, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyB, body); status != 200 {
		t.Errorf("tenant B after tenant A spent its budget: %d %s", status, out)
	}
	t.Logf("budget %d µ$, estimate %d µ$ a request: %d admitted, %d refused, %d µ$ spent", budget, estimate, ok, refused, spent)
}

// TestTierBudgetRace: the same race across two instances sharing Redis
// (limits) and PostgreSQL (usage records): the budget is one for the
// tier, so exactly ten reserve, and both instances show the same spend,
// within the budget.
func TestTierBudgetRace(t *testing.T) {
	up := newHeldUpstream(t)
	body, estimate := budgetEstimate(20)
	budget := 10 * estimate
	a, b := startTier(t, budgetBlock(up.OpenAI, "monthly_budget_usd "+usdFigure(budget)))
	answers, _ := burst(t, up, []*procgate.Instance{a, b}, 50, testgate.KeyA, body)
	ok, refused := count(t, answers, "insufficient_quota")
	if ok != 10 || refused != 40 {
		t.Fatalf("budget for 10 requests across two instances: %d admitted, %d refused", ok, refused)
	}
	want := costOfAnswers(answers)
	for _, g := range []*procgate.Instance{a, b} {
		if spent, view := keySpend(t, g.Gateway, "tenant-a"); spent != want || spent > budget {
			t.Fatalf("%s: spent %d µ$ of a budget of %d; the answers cost %d: %s", g.Name, spent, budget, want, view.Raw)
		}
	}
}

// usdFigure writes micro-dollars as the Caddyfile's dollar figure.
func usdFigure(m int64) string { return strconv.FormatFloat(float64(m)/1e6, 'f', 6, 64) }

// TestBudgetAbandonedStream: a stream the client leaves halfway is billed
// for what it produced (its usage record's cost, estimated from the text
// streamed), never refunded to nothing, and its reservation is freed.
func TestBudgetAbandonedStream(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	up := (&fakeupstream.OpenAI{Reply: "a long answer that the client will never read to its end", HoldLast: hold}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: budgetBlock(up, "monthly_budget_usd 1")})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", g.URL+"/v1/chat/completions", strings.NewReader(
		`{"model":"assistant","stream":true,"stream_options":{"include_usage":true},"max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testgate.KeyA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// Read until some text has streamed, then leave.
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), "client") {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("stream ended before it was abandoned: %v: %s", err, got.String())
		}
	}
	// While it runs, its estimate is reserved.
	_, view := adminDo(t, g, "GET", "/agentgate/keys/"+keyID(t, g, "tenant-a"), "")
	if r := micros(gjson.Get(view, "usage.reserved_usd")); r <= 0 {
		t.Errorf("nothing reserved while the stream runs: %s", view)
	}
	cancel()
	resp.Body.Close()

	var rec gjson.Result
	eventually(t, "the abandoned stream's usage record", func() string {
		recs, r := costRecords(t, g, "tenant=tenant-a&limit=1")
		if len(recs) != 1 {
			return r.Raw
		}
		rec = recs[0]
		return ""
	})
	spent, u := keySpend(t, g, "tenant-a")
	cost := rec.Get("input_tokens").Int()*budgetIn + rec.Get("output_tokens").Int()*budgetOut
	if rec.Get("status").Str != "client_closed" || rec.Get("output_tokens").Int() < 1 || micros(rec.Get("cost_usd")) != cost {
		t.Fatalf("record of the abandoned stream: %s", rec.Raw)
	}
	if spent != cost || spent == 0 {
		t.Fatalf("abandoned stream: spent %d µ$, its record costs %d: %s", spent, cost, u.Raw)
	}
}

// TestBudgetRefusalInEveryDialect: a request whose estimated cost the
// budget cannot cover is refused before any upstream call with a 429 in
// its dialect's shape, naming the budget (the key's or the tenant's) and
// its reset time, with x-should-retry: false; the refusals are counted by
// scope.
func TestBudgetRefusalInEveryDialect(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: "ok"}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: budgetBlock(up, "monthly_budget_usd 0.0001") + `
		tier team {
			monthly_budget_usd 100
			tenant_monthly_budget_usd 0.0002
		}
		key ` + keyC + ` {
			tenant tenant-c
			tier team
		}
`})
	// Each dialect's code and message; v2's error is a detail message.
	type shape struct{ code, want, message string }
	shapes := map[string]shape{
		"egzora":    {"error.type", "quota_exceeded_error", "error.message"},
		"openai":    {"error.code", "insufficient_quota", "error.message"},
		"engrami":   {"error.code", "insufficient_quota", "error.message"},
		"agentsv2":  {"", "", "detail"},
		"responses": {"error.code", "insufficient_quota", "error.message"},
		"tenzro":    {"error.code", "quota_exceeded", "error.message"},
		"anthropic": {"error.type", "rate_limit_error", "error.message"},
		"gemini":    {"error.status", "RESOURCE_EXHAUSTED", "error.message"},
	}
	dialectOf := map[string]string{"egzora": "egzora", "chat": "openai", "engrami": "engrami", "v2": "agentsv2", "responses": "responses",
		"openai": "responses", "tenzro": "tenzro"}
	invs := append(invocations("assistant"),
		invocation{name: "anthropic messages", method: "POST", path: "/v1/messages", body: `{"model":"assistant","max_tokens":100,"messages":[{"role":"user","content":"Hi"}]}`},
		invocation{name: "anthropic stream", method: "POST", path: "/v1/messages", body: `{"model":"assistant","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Hi"}]}`},
		invocation{name: "gemini generate", method: "POST", path: "/v1beta/models/assistant:generateContent", body: `{"contents":[{"parts":[{"text":"Hi"}]}]}`},
		invocation{name: "gemini stream", method: "POST", path: "/v1beta/models/assistant:streamGenerateContent?alt=sse", body: `{"contents":[{"parts":[{"text":"Hi"}]}]}`},
	)
	for _, who := range []struct{ key, scope, names string }{
		{testgate.KeyA, "key_budget", "for this key (tier \"pro\")"},
		{keyC, "tenant_budget", "for tenant \"tenant-c\" (tier \"team\")"},
	} {
		before := g.Scrape(t).Get("agentgate_quota_rejected_requests_total", "scope", who.scope)
		for _, inv := range invs {
			first, _, _ := strings.Cut(inv.name, " ")
			d := dialectOf[first]
			if d == "" {
				d = first
			}
			sh := shapes[d]
			now := time.Now()
			status, hdr, body := tzDo(t, g, inv.method, inv.path, who.key, inv.project, inv.body)
			resets := map[string]bool{state.MonthEnd(now).Format(time.RFC3339): true, state.MonthEnd(time.Now()).Format(time.RFC3339): true}
			msg := gjson.GetBytes(body, sh.message).Str
			_, reset, _ := strings.Cut(msg, "the budget resets at ")
			if status != 429 || hdr.Get("x-should-retry") != "false" || !strings.Contains(hdr.Get("Content-Type"), "json") ||
				(sh.code != "" && gjson.GetBytes(body, sh.code).Str != sh.want) ||
				!strings.Contains(msg, "monthly budget of $") || !strings.Contains(msg, who.names) || !resets[reset] {
				t.Errorf("%s (%s) with a spent %s: %d %v %s", inv.name, d, who.scope, status, hdr, body)
			}
		}
		if n := g.Scrape(t).Get("agentgate_quota_rejected_requests_total", "scope", who.scope) - before; int(n) != len(invs) {
			t.Errorf("%s refusals counted: %v, want %d", who.scope, n, len(invs))
		}
	}
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("refused requests reached the upstream %d times", n)
	}
}

// TestBudgetUnpricedModel: under a budget, a request for a model without
// a price is refused with a 403 naming the model (in each dialect that
// names models, for an agent whose fallback has no price, and for a v2
// chat naming such a model instead of its agent's), before
// any upstream call; on a tier with `unpriced allow` it goes through,
// outside the budget. A tier's unpriced is checked where it is set.
func TestBudgetUnpricedModel(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: "ok"}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: budgetBlock(up, "monthly_budget_usd 1") + `
		route free-* up
		agent careful {
			model gpt-test
			provider up
			fallbacks free-fallback
		}
`})
	for _, tc := range []struct{ name, path, body, model, message string }{
		{"chat completions", "/v1/chat/completions", `{"model":"free-model","messages":[{"role":"user","content":"Hi"}]}`, "free-model", "error.message"},
		{"anthropic", "/v1/messages", `{"model":"free-model","max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}`, "free-model", "error.message"},
		{"gemini", "/v1beta/models/free-model:generateContent", `{"contents":[{"parts":[{"text":"Hi"}]}]}`, "free-model", "error.message"},
		{"an agent's fallback", "/v1/chat/completions", `{"model":"careful","messages":[{"role":"user","content":"Hi"}]}`, "free-fallback", "error.message"},
		{"v2 chat's model instead of the agent's", "/v2/agents/assistant/chat", `{"message":"Hi","model":"free-model","stream":false}`, "free-model", "detail"},
	} {
		status, body, _ := g.Do("POST", tc.path, testgate.KeyA, tc.body)
		msg := gjson.GetBytes(body, tc.message).Str
		if status != 403 || !strings.Contains(msg, `model "`+tc.model+`" has no price`) || !strings.Contains(msg, "unpriced allow") {
			t.Errorf("%s: %d %s", tc.name, status, body)
		}
	}
	if status, body, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA, `{"model":"free-model","messages":[{"role":"user","content":"Hi"}]}`); gjson.GetBytes(body, "error.code").Str != "model_not_priced" ||
		gjson.GetBytes(body, "error.param").Str != "model" {
		t.Errorf("chat completions' 403: %d %s", status, body)
	}
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("requests for unpriced models reached the upstream %d times", n)
	}

	for _, bad := range []string{`{"monthly_budget_usd":1,"unpriced":"sometimes"}`, `{"unpriced":true}`} {
		if status, body := adminDo(t, g, "PUT", "/agentgate/tiers/pro", bad); status != 400 || !strings.Contains(body, "unpriced") {
			t.Errorf("PUT %s: %d %s, want a 400 naming unpriced", bad, status, body)
		}
	}
	if status, body := adminDo(t, g, "PUT", "/agentgate/tiers/pro", `{"monthly_budget_usd":1,"unpriced":"allow"}`); status != 200 ||
		gjson.Get(body, "unpriced").Str != "allow" {
		t.Fatalf("PUT unpriced allow: %d %s", status, body)
	}
	for _, model := range []string{"free-model", "careful"} {
		if status, body, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA, `{"model":"`+model+`","messages":[{"role":"user","content":"Hi"}]}`); status != 200 {
			t.Errorf("%s with unpriced allow: %d %s", model, status, body)
		}
	}
	// The unpriced call costs the budget nothing; the priced one counts.
	spent, view := keySpend(t, g, "tenant-a")
	recs, _ := costRecords(t, g, "tenant=tenant-a&limit=10")
	var priced int64
	for _, r := range recs {
		if c := r.Get("cost_usd"); r.Get("model_id").Str == "free-model" {
			if c.Type != gjson.Null {
				t.Errorf("the unpriced call has a cost: %s", r.Raw)
			}
		} else {
			priced += micros(c)
		}
	}
	if len(recs) != 2 || spent != priced || spent == 0 {
		t.Errorf("spent %d µ$ (%s), the %d records cost %d", spent, view.Raw, len(recs), priced)
	}
}
