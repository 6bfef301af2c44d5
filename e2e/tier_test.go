package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/pgtest"
	"github.com/agentgate/agentgate/internal/procgate"
	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/agentgate/agentgate/internal/testgate"
)

// A gateway tier: two processes of the built binary on separate ports
// sharing one PostgreSQL database (storage postgres) and one Redis
// server (limits redis), clients alternating between them as a load
// balancer would send them.

// tierLease is the instances' lease_time: short, so a test sees the
// slots of a killed instance come back soon.
const tierLease = 2 * time.Second

// keyC is a third key, declared by the tests that need a tier of its
// own.
const keyC = "agk_test_tenant_c_key_0000000000"

// limitsLine is the agentgate block's `limits redis` line for server r,
// under a key prefix of the test's own.
func limitsLine(r *redistest.Server, prefix, onError string) string {
	return fmt.Sprintf("limits redis %s {\n\t\t\tlease_time %s\n\t\t\tkey_prefix %s\n\t\t\ton_error %s\n\t\t}\n",
		r.URL(), tierLease, prefix, onError)
}

// tierConfig is an instance's config: block in its agentgate block, the
// state in database dsn.
func tierConfig(dsn, block string) testgate.Config {
	return testgate.Config{Block: block, Storage: "storage postgres " + dsn + " {\n\t\t\tcache_ttl " + sharedCacheTTL + "\n\t\t}", LogLevel: "WARN"}
}

// startTier starts instances A and B on a new database of the shared
// PostgreSQL and limits on the shared Redis, block (after the limits
// line) in both agentgate blocks.
func startTier(t *testing.T, block string) (a, b *procgate.Instance) {
	t.Helper()
	r := redistest.Shared(t)
	dsn := pgtest.Shared(t).CreateDB(t)
	block = limitsLine(r, r.Prefix(), "allow") + block
	return procgate.Start(t, "A", tierConfig(dsn, block)), procgate.Start(t, "B", tierConfig(dsn, block))
}

// assistant is the agent the tier tests chat with, and the tier pro the
// test keys are on, with tierBody.
func assistant(up *fakeupstream.OpenAI, tierBody string) string {
	return `
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
`
}

// answer is a response, or the error that stood for one.
type answer struct {
	status int
	body   []byte
	header http.Header
	err    error
}

// post sends a JSON body to g with key; safe in any goroutine.
func post(g *procgate.Instance, path, key, body string) answer {
	req, err := http.NewRequest("POST", g.URL+path, strings.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: out, header: resp.Header, err: err}
}

func (a answer) String() string {
	if a.err != nil {
		return a.err.Error()
	}
	return fmt.Sprintf("%d %s", a.status, a.body)
}

// heldUpstream answers only once released: a test counts the requests
// that reached it (admitted) against those the gateway refused, with
// no assumption about timing.
type heldUpstream struct {
	*fakeupstream.OpenAI
	arrived atomic.Int64
	mu      sync.Mutex
	release chan struct{}
}

func newHeldUpstream(t *testing.T) *heldUpstream {
	h := &heldUpstream{release: make(chan struct{})}
	h.OpenAI = (&fakeupstream.OpenAI{Reply: "ok", ReplyFunc: func(gjson.Result) string {
		h.arrived.Add(1)
		<-h.gate()
		return ""
	}}).Start()
	t.Cleanup(func() { h.open(); h.Close() })
	return h
}

func (h *heldUpstream) gate() chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.release
}

// open lets every request through.
func (h *heldUpstream) open() {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.release:
	default:
		close(h.release)
	}
}

// hold holds the requests from now on again, counting afresh.
func (h *heldUpstream) hold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.arrived.Store(0)
	h.release = make(chan struct{})
}

// burst sends n requests with key at once, alternating between the
// instances; once each has been refused or has reached the held
// upstream, it releases the upstream and returns the answers, and how
// long the admissions took.
func burst(t *testing.T, up *heldUpstream, tier []*procgate.Instance, n int, key, body string) ([]answer, time.Duration) {
	t.Helper()
	answers := make([]answer, n)
	var refused atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			answers[i] = post(tier[i%len(tier)], "/v1/chat/completions", key, body)
			if answers[i].status != 200 {
				refused.Add(1)
			}
		})
	}
	deadline := time.Now().Add(60 * time.Second)
	for up.arrived.Load()+refused.Load() < int64(n) {
		if time.Now().After(deadline) {
			up.open()
			wg.Wait()
			t.Fatalf("after 60s, %d requests reached the upstream and %d were refused, of %d", up.arrived.Load(), refused.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	up.open()
	wg.Wait()
	return answers, took
}

// count sorts answers by status, checking each refusal's code.
func count(t *testing.T, answers []answer, refusalCode string) (ok, refused int) {
	t.Helper()
	for i, a := range answers {
		switch {
		case a.status == 200:
			ok++
		case a.status == 429 && gjson.GetBytes(a.body, "error.code").String() == refusalCode:
			refused++
		default:
			t.Errorf("request %d: %s", i, a)
		}
	}
	return ok, refused
}

// chatBody is a small chat naming max_tokens, and the tokens admission
// estimates for it: its decoded call's prompt (the agent has no system
// prompt) and its max_tokens.
func chatBody(maxTokens int) (string, int64) {
	body := `{"model":"assistant","max_tokens":` + strconv.Itoa(maxTokens) + `,"messages":[{"role":"user","content":"hi"}]}`
	prompt := models.EstimateRequestTokens(&adapters.Request{Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, "hi")}})
	return body, int64(prompt + maxTokens)
}

// tierKeyUsage is key's monthly usage as instance g's admin API shows
// it, once no reservation is held.
func tierKeyUsage(t *testing.T, g *procgate.Instance, tenant string) (used, reserved int64) {
	t.Helper()
	_, list := adminDo(t, g.Gateway, "GET", "/agentgate/keys", "")
	id := gjson.Get(list, `#(tenant=="`+tenant+`").id`).String()
	eventually(t, "the key's reservations settled", func() string {
		status, body := adminDo(t, g.Gateway, "GET", "/agentgate/keys/"+id, "")
		u := gjson.Get(body, "usage")
		used, reserved = u.Get("used_monthly_tokens").Int(), u.Get("reserved_tokens").Int()
		if status != 200 || reserved != 0 {
			return body
		}
		return ""
	})
	return used, reserved
}

// TestTierQuotaRace: a monthly quota for 10 requests, 50 requests at once
// split across both instances: exactly ten reserve (the quota is one,
// not one per instance), and what they settle stays within the quota
// (every request names max_tokens: the README's bound is zero).
func TestTierQuotaRace(t *testing.T) {
	up := newHeldUpstream(t)
	body, estimate := chatBody(20)
	quota := 10 * estimate
	a, b := startTier(t, assistant(up.OpenAI, "monthly_tokens "+strconv.FormatInt(quota, 10)))
	answers, _ := burst(t, up, []*procgate.Instance{a, b}, 50, testgate.KeyA, body)
	ok, refused := count(t, answers, "insufficient_quota")
	if ok != 10 || refused != 40 {
		t.Fatalf("quota for 10 requests across two instances: %d admitted, %d refused", ok, refused)
	}
	var sum int64
	for _, a := range answers {
		sum += gjson.GetBytes(a.body, "usage.total_tokens").Int()
	}
	for _, g := range []*procgate.Instance{a, b} {
		if used, _ := tierKeyUsage(t, g, "tenant-a"); used != sum || used > quota {
			t.Fatalf("%s: used %d of a quota of %d; the answers' usage adds up to %d", g.Name, used, quota, sum)
		}
	}
}

// TestTierRateLimits: rpm N, 3N requests across both instances in one
// window: exactly N admitted; tpm likewise. The bucket refills one
// request every 60s/N: a burst slower than that may admit one more.
func TestTierRateLimits(t *testing.T) {
	up := newHeldUpstream(t)
	body, estimate := chatBody(20)
	const n = 5
	tokens := n * estimate
	a, b := startTier(t, assistant(up.OpenAI, "rpm "+strconv.Itoa(n))+`
		tier tokens {
			tpm `+strconv.FormatInt(tokens, 10)+`
		}
		key `+keyC+` {
			tenant tenant-c
			tier tokens
		}
`)
	for _, tc := range []struct {
		name, key string
		refill    time.Duration // what the bucket takes to refill one request
	}{
		{"rpm", testgate.KeyA, time.Minute / n},
		{"tpm", keyC, time.Minute / n},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up.hold()
			answers, took := burst(t, up, []*procgate.Instance{a, b}, 3*n, tc.key, body)
			ok, _ := count(t, answers, "rate_limit_exceeded")
			if extra := int(took / tc.refill); ok < n || ok > n+extra {
				t.Fatalf("%s %d: %d of %d admitted across two instances in %v", tc.name, n, ok, 3*n, took)
			}
		})
	}
}

// TestTierConcurrencyAndKill: a cap of 2 across both instances: while two
// streams run on A, a third is refused on B, and still is after more
// than a lease time (A renews its leases). A is killed with SIGKILL: B
// keeps serving, and A's slots come back within the lease time.
func TestTierConcurrencyAndKill(t *testing.T) {
	hold := make(chan struct{})
	up := (&fakeupstream.OpenAI{Reply: "one two three", HoldLast: hold}).Start()
	defer up.Close()
	defer close(hold)
	a, b := startTier(t, assistant(up, "concurrent 2"))
	stream := `{"model":"assistant","stream":true,"messages":[{"role":"user","content":"hold"}]}`
	chat := `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`
	var started sync.WaitGroup
	for range 2 {
		started.Add(1)
		go func() {
			req, _ := http.NewRequest("POST", a.URL+"/v1/chat/completions", strings.NewReader(stream))
			req.Header.Set("Authorization", "Bearer "+testgate.KeyA)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				started.Done()
				return
			}
			defer resp.Body.Close()
			first := true
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if first && strings.Contains(sc.Text(), `"content"`) {
					first = false
					started.Done()
				}
			}
			if first {
				started.Done()
			}
		}()
	}
	started.Wait()
	third := func(what string) {
		t.Helper()
		for _, g := range []*procgate.Instance{b, a} {
			got := post(g, "/v1/chat/completions", testgate.KeyA, chat)
			if got.status != 429 || !strings.Contains(gjson.GetBytes(got.body, "error.message").String(), "in flight") {
				t.Fatalf("a third request on %s %s: %s", g.Name, what, got)
			}
		}
	}
	third("while A's two streams run")
	time.Sleep(tierLease + tierLease/2)
	third("after more than a lease time")

	a.Kill()
	if got := post(b, "/v1/chat/completions", testgate.KeyB, chat); got.status != 200 {
		t.Fatalf("B, right after A was killed: %s", got)
	}
	killed := time.Now()
	eventually(t, "A's slots back on B", func() string {
		if got := post(b, "/v1/chat/completions", testgate.KeyA, chat); got.status != 200 {
			return got.String()
		}
		return ""
	})
	t.Logf("the slots of the killed instance came back %v after the kill (lease time %v)", time.Since(killed).Round(time.Millisecond), tierLease)
}

// TestTierRedisAway: Redis stopped under load. A (on_error allow) keeps
// admitting, counting each in its metric and logging the outage; B
// (on_error deny) answers 503 in the dialect's shape. Redis started
// again, empty: both apply the limits again without a restart.
func TestTierRedisAway(t *testing.T) {
	r := redistest.Start(t) // its own: the test stops it
	dsn := pgtest.Shared(t).CreateDB(t)
	up := (&fakeupstream.OpenAI{Reply: "ok"}).Start()
	defer up.Close()
	block := assistant(up, "rpm 1000000\n\t\t\tmonthly_tokens 100000000") + `
		tier tight {
			rpm 2
		}
		key ` + keyC + ` {
			tenant tenant-c
			tier tight
		}
`
	prefix := r.Prefix()
	a := procgate.Start(t, "A", tierConfig(dsn, limitsLine(r, prefix, "allow")+block))
	b := procgate.Start(t, "B", tierConfig(dsn, limitsLine(r, prefix, "deny")+block))
	chat := `{"model":"assistant","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`

	// Load on both until the end.
	var mu sync.Mutex
	seen := map[string][]answer{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			g := []*procgate.Instance{a, b}[w%2]
			for {
				select {
				case <-stop:
					return
				default:
				}
				got := post(g, "/v1/chat/completions", testgate.KeyA, chat)
				mu.Lock()
				seen[g.Name] = append(seen[g.Name], got)
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	since := func(name string, n int) []answer {
		mu.Lock()
		defer mu.Unlock()
		return append([]answer(nil), seen[name][n:]...)
	}
	mark := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(seen["A"]), len(seen["B"])
	}
	fromA, fromB := mark()
	eventually(t, "both serving before the outage", func() string {
		if len(since("A", fromA)) < 3 || len(since("B", fromB)) < 3 {
			return "too few answers"
		}
		return ""
	})
	for _, got := range append(since("A", fromA), since("B", fromB)...) {
		if got.status != 200 {
			t.Fatalf("before the outage: %s", got)
		}
	}

	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	fromA, fromB = mark()
	eventually(t, "B refusing while Redis is down", func() string {
		n := 0
		for _, got := range since("B", fromB) {
			if got.status == 503 {
				n++
			}
		}
		if n < 3 || len(since("A", fromA)) < 3 {
			return fmt.Sprintf("%d refusals on B", n)
		}
		return ""
	})
	for _, got := range since("A", fromA) {
		if got.status != 200 {
			t.Errorf("A (on_error allow) while Redis is down: %s", got)
		}
	}
	refusal := post(b, "/v1/chat/completions", testgate.KeyA, chat)
	if refusal.status != 503 || gjson.GetBytes(refusal.body, "error.code").String() != "limits_unavailable" || refusal.header.Get("Retry-After") != "1" {
		t.Fatalf("B (on_error deny) while Redis is down: %s (Retry-After %q)", refusal, refusal.header.Get("Retry-After"))
	}
	egz := post(b, "/v1/chat", testgate.KeyA, `{"agent_id":"assistant","message":"Hi"}`)
	if egz.status != 503 || gjson.GetBytes(egz.body, "error.code").String() != "limits_unavailable" {
		t.Fatalf("B's Egzora route while Redis is down: %s", egz)
	}

	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	fromB = len(since("B", 0))
	eventually(t, "B admitting again once Redis is back", func() string {
		got := since("B", fromB)
		if len(got) == 0 || got[len(got)-1].status != 200 {
			return "not yet"
		}
		return ""
	})
	// Each instance's breaker closes on its own probe, at most BreakerOpen
	// after its own last failure: B can be back at once (a call it had in
	// flight when Redis returned succeeded) while A still holds calls back.
	// The load goes on until both said so.
	for _, g := range []*procgate.Instance{a, b} {
		eventually(t, g.Name+" logging Redis back", func() string {
			whole, err := os.ReadFile(filepath.Join(g.Dir, "log"))
			if err != nil {
				return err.Error()
			}
			if !strings.Contains(string(whole), "limits backend reachable again") {
				return "not yet"
			}
			return ""
		})
	}
	close(stop)
	wg.Wait()
	for name, answers := range seen {
		for _, got := range answers {
			if got.status != 200 && !(name == "B" && got.status == 503 && gjson.GetBytes(got.body, "error.code").String() == "limits_unavailable") {
				t.Errorf("%s: %s", name, got)
			}
		}
	}
	// Limits apply again: key C's rpm 2, across both instances.
	refused := false
	for i := 0; i < 10 && !refused; i++ {
		got := post([]*procgate.Instance{a, b}[i%2], "/v1/chat/completions", keyC, chat)
		refused = got.status == 429
		if got.status != 200 && !refused {
			t.Fatalf("key C after Redis came back: %s", got)
		}
	}
	if !refused {
		t.Fatal("ten requests of a key with rpm 2 admitted after Redis came back: the limits do not apply again")
	}
	for _, tc := range []struct {
		g      *procgate.Instance
		metric string
		log    string
	}{
		{a, `agentgate_limits_unavailable_requests_total{action="allowed"}`, "admitting requests unchecked (on_error allow)"},
		{b, `agentgate_limits_unavailable_requests_total{action="refused"}`, "refusing requests with 503 (on_error deny)"},
	} {
		resp, err := http.Get("http://" + tc.g.Admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(metrics), tc.metric+" ") || strings.Contains(string(metrics), tc.metric+" 0\n") {
			t.Errorf("%s's metrics lack %s", tc.g.Name, tc.metric)
		}
		// The whole log: B's 503s (5s of them while the breaker holds
		// calls back after Redis is back) outgrow Log's tail.
		whole, err := os.ReadFile(filepath.Join(tc.g.Dir, "log"))
		if err != nil {
			t.Fatal(err)
		}
		if log := string(whole); !strings.Contains(log, tc.log) || !strings.Contains(log, "limits backend reachable again") {
			t.Errorf("%s's log does not say Redis went away (%q) and came back:\n%s", tc.g.Name, tc.log, tc.g.Log())
		}
	}
}

// TestTierPostgresRestart: PostgreSQL restarted under load: the requests
// that needed it fail with a 503 in their dialect's shape, the later
// ones succeed, without a restart of either instance; limits keep
// applying from Redis meanwhile.
func TestTierPostgresRestart(t *testing.T) {
	pg := pgtest.Start(t) // its own: the test stops it
	r := redistest.Shared(t)
	dsn := pg.CreateDB(t)
	up := (&fakeupstream.OpenAI{Reply: "ok"}).Start()
	defer up.Close()
	block := limitsLine(r, r.Prefix(), "allow") + assistant(up, "rpm 1000000\n\t\t\tmonthly_tokens 100000000")
	a, b := procgate.Start(t, "A", tierConfig(dsn, block)), procgate.Start(t, "B", tierConfig(dsn, block))
	turn := func(session string) string {
		return `{"agent_id":"assistant","message":"Hi","session_id":"` + session + `"}`
	}
	var mu sync.Mutex
	var answers []answer
	var ok atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			g := []*procgate.Instance{a, b}[w%2]
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				got := post(g, "/v1/chat", testgate.KeyA, turn(fmt.Sprint("s", w)))
				if got.status == 200 {
					ok.Add(1)
				}
				mu.Lock()
				answers = append(answers, got)
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	eventually(t, "turns before the outage", func() string {
		if ok.Load() < 8 {
			return "too few"
		}
		return ""
	})
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "503s while PostgreSQL is down", func() string {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, got := range answers {
			if got.status == 503 {
				n++
			}
		}
		if n < 4 {
			return fmt.Sprint(n, " 503s")
		}
		return ""
	})
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*procgate.Instance{a, b} {
		eventually(t, g.Name+" serving turns again", func() string {
			if got := post(g, "/v1/chat", testgate.KeyA, turn("after-"+g.Name)); got.status != 200 {
				return got.String()
			}
			return ""
		})
	}
	close(stop)
	wg.Wait()
	for _, got := range answers {
		if got.status == 200 {
			continue
		}
		if got.status != 503 || gjson.GetBytes(got.body, "error.code").String() != "storage_unavailable" || got.header.Get("Retry-After") == "" {
			t.Errorf("while PostgreSQL restarted: %s", got)
		}
	}
}

// TestTierRollingReload: `caddy reload` of A, then of B, twice, while
// streams run through both, each holding a concurrency slot on Redis:
// every stream ends whole.
func TestTierRollingReload(t *testing.T) {
	words := strings.TrimSpace(strings.Repeat("token ", 20))
	up := (&fakeupstream.OpenAI{Reply: words, TokenDelay: 15 * time.Millisecond}).Start()
	defer up.Close()
	r := redistest.Shared(t)
	dsn := pgtest.Shared(t).CreateDB(t)
	const clients = 6
	block := limitsLine(r, r.Prefix(), "deny") + assistant(up, "concurrent 100\n\t\t\trpm 100000")
	cfgA, cfgB := tierConfig(dsn, block), tierConfig(dsn, block)
	a, b := procgate.Start(t, "A", cfgA), procgate.Start(t, "B", cfgB)
	// A connection per stream: a reload closes the old server's idle
	// keep-alive connections, which a client racing that close would
	// see reset before its request was even read.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var streams, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				g := []*procgate.Instance{a, b}[(c+i)%2]
				got, err := readStreamWith(client, g.URL, testgate.KeyA)
				streams.Add(1)
				if err != nil || got != words {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %q %v", g.Name, got, err))
				}
			}
		})
	}
	for round := range 2 {
		for _, inst := range []struct {
			g   *procgate.Instance
			cfg *testgate.Config
		}{{a, &cfgA}, {b, &cfgB}} {
			before := streams.Load()
			inst.cfg.Block = block + fmt.Sprintf("\t\tmax_body_bytes %d\n", 1<<20+round)
			if err := inst.g.Reload(*inst.cfg); err != nil {
				t.Fatal(err)
			}
			eventually(t, "streams after reloading "+inst.g.Name, func() string {
				if streams.Load() < before+clients {
					return "too few"
				}
				return ""
			})
		}
	}
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d streams failed across the reloads; first: %v", failed.Load(), streams.Load(), firstErr.Load())
	}
	t.Logf("%d streams across two rolling reloads of both instances", streams.Load())
}

// readStreamWith runs one streamed chat on base with key through client
// and returns its text; an error when it did not end with [DONE].
func readStreamWith(client *http.Client, base, key string) (string, error) {
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions",
		strings.NewReader(`{"model":"assistant","stream":true,"messages":[{"role":"user","content":"go"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	var sb strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := strings.TrimPrefix(sc.Text(), "data: ")
		if line == "[DONE]" {
			return sb.String(), nil
		}
		sb.WriteString(gjson.Get(line, "choices.0.delta.content").String())
	}
	return sb.String(), fmt.Errorf("no [DONE] after %q: %v", sb.String(), sc.Err())
}

// TestInstancesWithSharedLimits runs the cross-instance checks of the
// shared store on a tier whose limits are on Redis too.
func TestInstancesWithSharedLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"sessions", TestInstancesShareAgentsAndSessions},
		{"revoked key", TestInstancesRevokedKey},
		{"memory", TestInstancesMemory},
		{"commit race", TestInstancesCommitRace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := redistest.Shared(t)
			prev := pairLimits
			pairLimits = limitsLine(r, r.Prefix(), "deny") + `
		tier pro {
			monthly_tokens 100000000
			rpm 100000
			tpm 100000000
			concurrent 100
		}
`
			defer func() { pairLimits = prev }()
			tc.test(t)
		})
	}
}
