package caddymodule_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/caddymodule"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"
)

// freeze stops the whole gateway's clock (admission, runtime, usage
// records, admin API) at 2026-11-22 12:00 UTC for the test; start the
// gateway after it.
func freeze(t *testing.T) *clock.Manual {
	return freezeAt(t, time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
}

func freezeAt(t *testing.T, at time.Time) *clock.Manual {
	c := clock.NewManual(at)
	caddymodule.UseClock(t, c)
	return c
}

// block is a config whose tier "pro" (the test keys' tier) has tierBody.
func block(up *fakeupstream.OpenAI, tierBody string) testgate.Config {
	return testgate.Config{Block: `
		provider up openai {
			base_url ` + up.URL + `
		}
		agent assistant {
			model gpt-test
			provider up
		}
		tier pro {
` + tierBody + `
		}
`}
}

func chat(g *testgate.Gateway, key, extra string) (int, []byte, http.Header) {
	return g.Do("POST", "/v1/chat/completions", key, `{"model":"assistant","messages":[{"role":"user","content":"hi"}]`+extra+`}`)
}

func TestRPMLimitIsExactAndSmooth(t *testing.T) {
	clock := freeze(t)
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	g := testgate.Start(t, block(up, "rpm 5"))

	for i := 0; i < 5; i++ {
		status, body, h := chat(g, testgate.KeyA, "")
		if status != 200 {
			t.Fatalf("request %d: %d %s", i, status, body)
		}
		if h.Get("x-ratelimit-limit-requests") != "5" || h.Get("x-ratelimit-remaining-requests") != strconv.Itoa(4-i) {
			t.Fatalf("request %d headers: %v", i, h)
		}
	}
	status, body, h := chat(g, testgate.KeyA, "")
	if status != 429 || gjson.GetBytes(body, "error.type").String() != "requests" || gjson.GetBytes(body, "error.code").String() != "rate_limit_exceeded" {
		t.Fatalf("6th request: %d %s", status, body)
	}
	if h.Get("Retry-After") != "12" || h.Get("retry-after-ms") != "12000" || h.Get("x-ratelimit-remaining-requests") != "0" || h.Get("x-ratelimit-reset-requests") != "1m0s" {
		t.Fatalf("429 headers: %v", h)
	}
	// Another key is not affected.
	if status, _, _ := chat(g, testgate.KeyB, ""); status != 200 {
		t.Fatalf("tenant B: %d", status)
	}
	// One request comes back every 12s: no window boundary to burst at.
	clock.Add(12 * time.Second)
	if status, _, _ := chat(g, testgate.KeyA, ""); status != 200 {
		t.Fatalf("after 12s: %d", status)
	}
	if status, _, _ := chat(g, testgate.KeyA, ""); status != 429 {
		t.Fatalf("second request after 12s: %d", status)
	}
	if n := len(up.Requests()); n != 7 {
		t.Fatalf("upstream saw %d requests, want 7 (refused ones never reach it)", n)
	}
}

// TestAdmissionAfterDecoding: a request on a model route is admitted once
// its call is decoded and resolved, so one refused for its own sake
// (malformed, an unknown model) takes nothing
// from its limits; a route that calls no model is admitted before its
// handler, its request limits only; and the estimate a request reserves
// is its decoded call's (prompt and max_tokens), not its body's size.
func TestAdmissionAfterDecoding(t *testing.T) {
	freeze(t)
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	g := testgate.Start(t, block(up, `rpm 3
			tpm 1000`))
	for _, bad := range []struct {
		body   string
		status int
	}{
		{`{"model":"assistant","messages":[{"role":"user","content":"hi"}],}`, 400},
		{`{"model":"assistant","messages":"hi"}`, 400},
		{`{"model":"no-such-agent","messages":[{"role":"user","content":"hi"}]}`, 404},
	} {
		status, body, h := g.Do("POST", "/v1/chat/completions", testgate.KeyA, bad.body)
		if status != bad.status || h.Get("x-ratelimit-limit-requests") != "" {
			t.Fatalf("%s: %d %s %v, want %d before admission", bad.body, status, body, h, bad.status)
		}
	}
	// 8 KB of a field the call does not send would have counted by the
	// body's bytes (2000 tokens, more than the tpm); the decoded call's
	// prompt ("hi": 1 token and 4 of framing) and max_tokens are reserved.
	padding := `,"metadata":{"note":"` + strings.Repeat("x", 8000) + `"}`
	status, body, h := chat(g, testgate.KeyA, `,"max_tokens":10`+padding)
	if status != 200 || h.Get("x-ratelimit-remaining-requests") != "2" || h.Get("x-ratelimit-remaining-tokens") != strconv.Itoa(1000-10-5) {
		t.Fatalf("first admitted request: %d %s %v", status, body, h)
	}
	if status, body, h := g.Do("GET", "/v1/models", testgate.KeyA, ""); status != 200 || h.Get("x-ratelimit-remaining-requests") != "1" ||
		h.Get("x-ratelimit-limit-tokens") != "" {
		t.Fatalf("a route that calls no model: %d %s %v", status, body, h)
	}
	if status, body, _ := chat(g, testgate.KeyA, `,"max_tokens":10`); status != 200 {
		t.Fatalf("third request: %d %s", status, body)
	}
	if status, body, _ := chat(g, testgate.KeyA, `,"max_tokens":10`); status != 429 || gjson.GetBytes(body, "error.type").Str != "requests" {
		t.Fatalf("fourth request: %d %s", status, body)
	}
}

func TestTPMLimitBitesOnTokenHeavyRequests(t *testing.T) {
	freeze(t)
	// 600 completion tokens per answer.
	up := (&fakeupstream.OpenAI{Reply: strings.TrimSpace(strings.Repeat("word ", 600))}).Start()
	defer up.Close()
	g := testgate.Start(t, block(up, "tpm 2000"))
	light := `,"max_tokens":5`
	heavy := `,"max_tokens":700`
	ok := 0
	for ; ok < 10; ok++ {
		status, body, h := chat(g, testgate.KeyA, heavy)
		if status == 429 {
			if gjson.GetBytes(body, "error.type").String() != "tokens" || h.Get("x-ratelimit-limit-tokens") != "2000" || h.Get("Retry-After") == "" {
				t.Fatalf("tpm 429: %s %v", body, h)
			}
			break
		}
		if status != 200 {
			t.Fatalf("heavy request %d: %d %s", ok, status, body)
		}
	}
	// Each heavy request really uses 610 tokens: three fit in 2000.
	if ok != 3 {
		t.Fatalf("%d heavy requests passed, want 3", ok)
	}
	// A light request still fits what is left.
	if status, body, _ := chat(g, testgate.KeyA, light); status != 200 {
		t.Fatalf("light request: %d %s", status, body)
	}
}

func TestConcurrencyCapRejectsTheExtraStream(t *testing.T) {
	freeze(t)
	up := (&fakeupstream.OpenAI{Reply: strings.TrimSpace(strings.Repeat("tok ", 15)), TokenDelay: 20 * time.Millisecond}).Start()
	defer up.Close()
	g := testgate.Start(t, block(up, "concurrent 2"))

	var started, done sync.WaitGroup
	results := make([]string, 2)
	for i := range results {
		started.Add(1)
		done.Add(1)
		go func(i int) {
			defer done.Done()
			results[i] = stream(t, g, &started)
		}(i)
	}
	started.Wait()
	status, body, h := g.Do("POST", "/v1/chat/completions", testgate.KeyA, `{"model":"assistant","stream":true,"messages":[{"role":"user","content":"third"}]}`)
	if status != 429 || !strings.Contains(gjson.GetBytes(body, "error.message").String(), "in flight") || h.Get("Retry-After") != "1" {
		t.Fatalf("third stream: %d %s", status, body)
	}
	done.Wait()
	for i, r := range results {
		if r != strings.TrimSpace(strings.Repeat("tok ", 15)) {
			t.Fatalf("stream %d was disturbed: %q", i, r)
		}
	}
	// The slots are free again.
	if status, _, _ := chat(g, testgate.KeyA, ""); status != 200 {
		t.Fatalf("after the streams: %d", status)
	}
}

func stream(t *testing.T, g *testgate.Gateway, started *sync.WaitGroup) string {
	client := openai.NewClient(option.WithBaseURL(g.URL+"/v1"), option.WithAPIKey(testgate.KeyA), option.WithMaxRetries(0))
	s := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "assistant", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("go")}})
	var sb strings.Builder
	first := true
	for s.Next() {
		if c := s.Current(); len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			sb.WriteString(c.Choices[0].Delta.Content)
			if first {
				first = false
				started.Done()
			}
		}
	}
	if first {
		started.Done()
	}
	if err := s.Err(); err != nil {
		t.Errorf("stream: %v", err)
	}
	return sb.String()
}

// keyUsage reads a key's monthly usage from the admin API once every
// request has settled: a client can read its answer a moment before the
// handler's deferred settlement runs, so reservations still in flight are
// waited out (up to a failure bound: a reservation never released is
// returned for the caller to report).
func keyUsage(t *testing.T, g *testgate.Gateway, keyID string) (used, reserved int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body := admin(t, g, http.MethodGet, "/agentgate/keys/"+keyID, "")
		u := gjson.Get(body, "usage")
		if status != 200 || !u.Exists() {
			t.Fatalf("GET key %s: %d %s", keyID, status, body)
		}
		used, reserved = u.Get("used_monthly_tokens").Int(), u.Get("reserved_tokens").Int()
		if reserved == 0 || time.Now().After(deadline) {
			return used, reserved
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func keyAID(t *testing.T, g *testgate.Gateway) string {
	_, body := admin(t, g, http.MethodGet, "/agentgate/keys", "")
	id := gjson.Get(body, `#(tenant=="tenant-a").id`).String()
	if id == "" {
		t.Fatalf("no tenant-a key in %s", body)
	}
	return id
}

// TestQuotaRace: 50 concurrent requests against a key with quota for 10
// never settle more than the quota (every request names max_tokens, so
// its reservation covers its real usage: the stated overspend bound is
// zero), and the quota afterwards is exactly the sum of real usage.
func TestQuotaRace(t *testing.T) {
	freeze(t)
	up := (&fakeupstream.OpenAI{Reply: "five words of reply here", TokenDelay: 5 * time.Millisecond}).Start()
	defer up.Close()
	body := `{"model":"assistant","stream":true,"stream_options":{"include_usage":true},"max_tokens":40,"messages":[{"role":"user","content":"hi"}]}`
	// What admission reserves: the decoded call's prompt and max_tokens.
	estimate := int64(models.EstimateRequestTokens(&adapters.Request{Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, "hi")}})) + 40
	quota := 10 * estimate
	g := testgate.Start(t, block(up, "monthly_tokens "+strconv.FormatInt(quota, 10)))

	var (
		wg              sync.WaitGroup
		ok, refused     atomic.Int64
		usageSum        atomic.Int64
		otherStatusSeen atomic.Int64
	)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, out, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA, body)
			switch status {
			case 200:
				ok.Add(1)
				for _, line := range strings.Split(string(out), "\n") {
					if u := gjson.Get(strings.TrimPrefix(line, "data: "), "usage.total_tokens"); u.Exists() {
						usageSum.Add(u.Int())
					}
				}
			case 429:
				if gjson.GetBytes(out, "error.code").String() != "insufficient_quota" {
					otherStatusSeen.Add(1)
				}
				refused.Add(1)
			default:
				otherStatusSeen.Add(1)
			}
		}()
	}
	wg.Wait()
	if otherStatusSeen.Load() != 0 || ok.Load() < 10 || ok.Load()+refused.Load() != 50 {
		t.Fatalf("ok %d refused %d other %d", ok.Load(), refused.Load(), otherStatusSeen.Load())
	}
	used, reserved := keyUsage(t, g, keyAID(t, g))
	if reserved != 0 || used != usageSum.Load() || used > quota {
		t.Fatalf("quota %d: used %d (sum of real usage %d), reserved %d", quota, used, usageSum.Load(), reserved)
	}
	t.Logf("quota %d, estimate %d per request: %d admitted, %d refused, %d tokens used", quota, estimate, ok.Load(), refused.Load(), used)
}

func TestQuotaExhaustedAndSurvivesRestart(t *testing.T) {
	freeze(t)
	up := (&fakeupstream.OpenAI{Reply: "ok"}).Start()
	defer up.Close()
	cfg := block(up, "monthly_tokens 200")
	g := testgate.Start(t, cfg)
	id := keyAID(t, g)
	for i := 0; i < 3; i++ {
		if status, body, _ := chat(g, testgate.KeyA, `,"max_tokens":10`); status != 200 {
			t.Fatalf("chat %d: %d %s", i, status, body)
		}
	}
	used, _ := keyUsage(t, g, id)
	if used != 3*int64(fakeupstream.PromptTokens(1)+1) {
		t.Fatalf("used %d", used)
	}
	g.Restart(cfg)
	if after, _ := keyUsage(t, g, id); after != used {
		t.Fatalf("used %d before restart, %d after", used, after)
	}
	// Exhaust it: the refusal says when the quota resets and tells SDKs
	// not to retry.
	var status int
	var body []byte
	var h http.Header
	for i := 0; i < 20 && status != 429; i++ {
		status, body, h = chat(g, testgate.KeyA, `,"max_tokens":10`)
	}
	if status != 429 || gjson.GetBytes(body, "error.code").String() != "insufficient_quota" ||
		!strings.Contains(string(body), "2026-12-01T00:00:00Z") || h.Get("x-should-retry") != "false" {
		t.Fatalf("exhausted: %d %s %v", status, body, h)
	}
}

// TestQuotaAcrossMidnight runs the quota scenario (reserve, answer,
// restart, exhaust) over the end of a month: a call reserved at 23:59:59.9
// on the month's last day and answered at 00:00:00.2 on the 1st is billed
// to the new month, once, and a restart reads back what was billed.
func TestQuotaAcrossMidnight(t *testing.T) {
	for _, tc := range []struct {
		name              string
		lastDay, firstDay time.Time
		resetsAt          string
	}{
		{"30 November", time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), "2027-01-01T00:00:00Z"},
		{"29 February", time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC), time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC), "2028-04-01T00:00:00Z"},
		{"31 December", time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "2027-02-01T00:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := freezeAt(t, tc.lastDay)
			var straddle atomic.Bool
			up := (&fakeupstream.OpenAI{Reply: "ok", ReplyFunc: func(gjson.Result) string {
				// The model answers after midnight.
				if straddle.CompareAndSwap(true, false) {
					clk.Set(tc.firstDay.Add(200 * time.Millisecond))
				}
				return ""
			}}).Start()
			defer up.Close()
			cfg := block(up, "monthly_tokens 200")
			g := testgate.Start(t, cfg)
			id := keyAID(t, g)
			perCall := int64(fakeupstream.PromptTokens(1) + 1)

			// A call at noon on the last day counts in that month.
			if status, body, _ := chat(g, testgate.KeyA, `,"max_tokens":10`); status != 200 {
				t.Fatalf("noon: %d %s", status, body)
			}
			if used, _ := keyUsage(t, g, id); used != perCall {
				t.Fatalf("used %d at noon, want %d", used, perCall)
			}
			// Reserved at 23:59:59.9, answered on the 1st.
			clk.Set(tc.firstDay.Add(-100 * time.Millisecond))
			straddle.Store(true)
			if status, body, _ := chat(g, testgate.KeyA, `,"max_tokens":10`); status != 200 {
				t.Fatalf("straddling call: %d %s", status, body)
			}
			if now := clk.Now(); !now.After(tc.firstDay) {
				t.Fatalf("the upstream did not move the clock past midnight: %s", now)
			}
			month := tc.firstDay.Format("2006-01")
			_, body := admin(t, g, http.MethodGet, "/agentgate/keys/"+id, "")
			used, reserved := keyUsage(t, g, id)
			if got := gjson.Get(body, "usage.month").String(); got != month || used != perCall || reserved != 0 {
				t.Fatalf("month %s: used %d, reserved %d; want month %s with the straddling call only (%d)", got, used, reserved, month, perCall)
			}
			g.Restart(cfg)
			if after, _ := keyUsage(t, g, id); after != used {
				t.Fatalf("used %d before restart, %d after", used, after)
			}
			// Exhaust the new month's quota: it resets at the next month.
			var status int
			var h http.Header
			var out []byte
			for i := 0; i < 20 && status != 429; i++ {
				status, out, h = chat(g, testgate.KeyA, `,"max_tokens":10`)
			}
			if status != 429 || gjson.GetBytes(out, "error.code").String() != "insufficient_quota" ||
				!strings.Contains(string(out), "resets at "+tc.resetsAt) || h.Get("x-should-retry") != "false" {
				t.Fatalf("exhausted: %d %s %v", status, out, h)
			}
			if used, _ := keyUsage(t, g, id); used > 200 {
				t.Fatalf("used %d of a quota of 200", used)
			}
		})
	}
}

// TestOpenAISDKRetriesAfter429 uses the real clock: the SDK sleeps for
// the Retry-After it is given, and the bucket refills meanwhile.
func TestOpenAISDKRetriesAfter429(t *testing.T) {
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	g := testgate.Start(t, block(up, "rpm 60"))
	for i := 0; i < 200; i++ {
		if status, _, _ := chat(g, testgate.KeyA, ""); status == 429 {
			break
		}
	}
	var saw429 atomic.Int64
	client := openai.NewClient(option.WithBaseURL(g.URL+"/v1"), option.WithAPIKey(testgate.KeyA), option.WithMaxRetries(3),
		option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
			resp, err := next(r)
			if err == nil && resp.StatusCode == 429 {
				saw429.Add(1)
			}
			return resp, err
		}))
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "assistant", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("retry me")}})
	if err != nil {
		t.Fatalf("SDK with retries failed: %v", err)
	}
	if saw429.Load() == 0 || resp.Choices[0].Message.Content == "" {
		t.Fatalf("expected the SDK to see a 429 first and then succeed (429s seen: %d)", saw429.Load())
	}
}

func TestAdminTiersAndKeyTier(t *testing.T) {
	freeze(t)
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	g := testgate.Start(t, block(up, "rpm 100"))
	if s, b := admin(t, g, http.MethodPut, "/agentgate/tiers/tiny", `{"rpm":1,"monthly_tokens":0,"tpm":0,"concurrent":0}`); s != 200 {
		t.Fatalf("PUT tier: %d %s", s, b)
	}
	if s, _ := admin(t, g, http.MethodPut, "/agentgate/tiers/bad", `{"rpm":-1}`); s != 400 {
		t.Fatalf("PUT negative tier: %d", s)
	}
	if _, b := admin(t, g, http.MethodGet, "/agentgate/tiers", ""); !gjson.Get(b, `#(name=="tiny")`).Exists() || !gjson.Get(b, `#(name=="pro").rpm`).Exists() {
		t.Fatalf("GET tiers: %s", b)
	}
	// A key created on pro, moved to tiny without a restart, gets tiny's limit.
	_, b := admin(t, g, http.MethodPost, "/agentgate/keys", `{"tenant":"tenant-a","tier":"pro"}`)
	key, id := gjson.Get(b, "key").String(), gjson.Get(b, "id").String()
	if s, b := admin(t, g, http.MethodPatch, "/agentgate/keys/"+id, `{"tier":"tiny"}`); s != 200 {
		t.Fatalf("PATCH key tier: %d %s", s, b)
	}
	if status, _, h := chat(g, key, ""); status != 200 || h.Get("x-ratelimit-limit-requests") != "1" {
		t.Fatalf("first request on tiny: %d %v", status, h)
	}
	if status, _, _ := chat(g, key, ""); status != 429 {
		t.Fatalf("second request on tiny: %d", status)
	}
	if s, _ := admin(t, g, http.MethodPatch, "/agentgate/keys/"+id, `{"tier":"nope"}`); s != 400 {
		t.Fatalf("PATCH to unknown tier: %d", s)
	}
}

func admin(t *testing.T, g *testgate.Gateway, method, path, body string) (int, string) {
	t.Helper()
	var resp *http.Response
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequest(method, "http://"+g.Admin+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err = http.DefaultClient.Do(req)
		if err == nil {
			break
		}
		// Caddy shuts the admin server it replaced down asynchronously,
		// on a listener the new one shares: a read sent just after a
		// (re)load may be accepted by the old one as it closes (EOF).
		if method != http.MethodGet || attempt == 2 {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
