// Command agentgate-bench measures what agentgate costs on the hot path, as
// DESIGN.md's "Performance budget" asks: every figure is a comparison, in
// the same run on the same machine, between
//
//   - direct:     the client calling a fake OpenAI-compatible upstream;
//   - caddy:      the same through plain Caddy `reverse_proxy`;
//   - agentgate:  the same through the agentgate handler (API-key auth,
//     limits that never bite but are all checked — a concurrency slot,
//     rpm and tpm buckets, the key's and the tenant's monthly quotas —
//     the agent path "bench", metering, metrics), on each storage backend
//     -storage names and each limits backend -limits names, one Caddy
//     process each ("agentgate (postgres, redis)" when there are
//     several).
//
// Usage (what `./xcaddy.sh bench` runs after building ./agentgate):
//
//	go build -o ./agentgate ./cmd/agentgate
//	go run ./cmd/agentgate-bench -binary ./agentgate [flags]
//
// Flags:
//
//	-binary path      Caddy with the agentgate modules (default ./agentgate)
//	-duration d       measured time per scenario and target (default 8s)
//	-warmup d         unmeasured warm-up per scenario and target (default 1s)
//	-rate n           requests/s (open loop); 0 = as fast as -workers
//	                  closed-loop workers go (default 0)
//	-workers n        concurrent workers (default 32)
//	-token-delay d    upstream pause before each streamed token (default 5ms)
//	-tokens n         words in the upstream's answer (default 10)
//	-scenarios list   comma-separated: idle,nonstream,passthrough,stream,
//	                  stream-fast,agent (default all)
//	-sessions n       sessions of 10 turns stored for the agent scenario
//	                  (default 100000)
//	-agent-rate n     the agent scenario's requests/s, open loop; 0 = as
//	                  -rate says (default 1000)
//	-idle-streams n   streams the idle scenario holds open through each
//	                  proxy (default 5000)
//	-storage list     comma-separated storage backends agentgate runs on,
//	                  one Caddy process each: bbolt,postgres (default bbolt)
//	-postgres-dsn s   the database of -storage postgres (default: a
//	                  throwaway PostgreSQL server started for the run, as
//	                  the tests start theirs: internal/pgtest)
//	-limits list      comma-separated limits backends, one Caddy process
//	                  per storage and limits backend: memory,redis
//	                  (default memory)
//	-redis-url s      the server of -limits redis (default: a throwaway
//	                  redis-server started for the run: internal/redistest)
//	-keep             keep the temporary directory (Caddyfile, logs, data)
//
// Child processes are started, so that their CPU time does not mix: the
// fake upstream (this binary re-executed with the hidden flag
// -serve-upstream; it runs internal/fakeupstream.OpenAI on 127.0.0.1:0),
// one `<binary> run` serving plain reverse_proxy, and one per storage and
// limits backend serving agentgate, each from a generated Caddyfile
// (admin on loopback, persist_config off, auto_https off, log level
// ERROR, no access logs, every file in a temporary directory). The load
// generator (vegeta, as a library) runs in this process. Nothing leaves
// loopback.
//
// Scenarios: a small POST /v1/chat/completions to the agent "bench" (a
// name, a model and a provider: nothing of the agent runtime applies, so
// agentgate serves it on its raw passthrough lane), non-streaming
// ("nonstream") and streaming ("stream":true with usage; the upstream
// waits -token-delay before each of -tokens words, so time to first byte
// means something); the same non-streaming request naming the upstream's
// model (routed to it, no agent: "passthrough", the lane too); a streamed
// request naming a model the upstream streams without pauses
// ("stream-fast": what streams cost a proxy, in requests/s); the agent
// path ("agent"): an Egzora POST /v1/chat turn of a session that holds 10
// turns already, spread over -sessions sessions stored before the
// processes start, at -agent-rate requests/s, so each request reads the
// session's history, replays it to the model and stores the new turn
// (direct and plain Caddy get the same conversation inline, for scale);
// and idle streams ("idle"): -idle-streams streams held open at once
// through each proxy (the upstream sends the first chunk and then nothing),
// with the proxy's resident memory per stream.
//
// Measures, per scenario and target:
//
//   - requests/s: successful responses over the wall time of the run;
//   - p50 / p99: whole-response latency, from vegeta's per-request start
//     to the last body byte (exact percentiles over every request);
//   - TTFB p50 / p99 (streaming): per request, from the same start to the
//     first byte of the response BODY, i.e. the first SSE event. The
//     client's Transport is wrapped: it tags each response body with the
//     request's X-Vegeta-Seq and records when the first Read returns
//     data; the result with that sequence number gets it. Response headers
//     alone are not counted, as a gateway could send them before the model
//     has said anything;
//   - errors: transport errors, non-2xx statuses, and bodies that are not a
//     completion (no "choices") or a finished stream (no "data: [DONE]");
//   - Caddy CPU µs/request: utime+stime of the Caddy process from
//     /proc/<pid>/stat (clock ticks of 10 ms) read before and after each
//     measured run, divided by the requests of the run. Caddy serves only
//     the current target, so on the direct rows it shows its idle cost;
//   - upstream CPU µs/request: the same for the fake upstream process;
//   - idle streams: the proxy's resident set size (VmRSS of
//     /proc/<pid>/status) with every stream open and its first chunk
//     received, less the same just before they opened, over the streams;
//     and the Go heap and stacks in use (Caddy's admin /metrics) the same
//     way, which memory the runtime keeps from earlier scenarios cannot
//     blur;
//   - Redis calls per request (agentgate on -limits redis): the script
//     calls (EVALSHA, EVAL) Redis counted in INFO commandstats over the
//     measured run, divided by its requests: an admission and a
//     settlement each, plus a renewal call every few seconds.
//
// Progress goes to stderr; the table, as Markdown, and the ratios
// (agentgate ÷ direct and ÷ plain Caddy requests/s, agentgate ÷ plain Caddy
// CPU per request, agentgate − plain Caddy p99, and for streams agentgate −
// direct TTFB) go to stdout at the end. The exit status is 1 when any run
// has more than 1% errors, 2 on a setup failure, 130 when interrupted.
// With the defaults a whole run takes about two minutes.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

type options struct {
	binary     string
	duration   time.Duration
	warmup     time.Duration
	rate       int
	workers    int
	tokenDelay time.Duration
	tokens     int
	scenarios  string
	keep       bool
	// storages are the backends agentgate runs on, one Caddy each.
	storages    []string
	postgresDSN string
	// limits are the limits backends agentgate runs on.
	limits   []string
	redisURL string
	// sessions are stored for the agent scenario before the run (0
	// without it); agentRate is its open-loop rate.
	sessions  int
	agentRate int
	// idleStreams is how many streams the idle scenario holds open.
	idleStreams int

	serveUpstream bool
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agentgate-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.binary, "binary", "./agentgate", "Caddy with the agentgate modules")
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "measured time per scenario and target")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up per scenario and target")
	fs.IntVar(&o.rate, "rate", 0, "requests/s (open loop); 0 = closed loop, as fast as -workers go")
	fs.IntVar(&o.workers, "workers", 32, "concurrent workers")
	fs.DurationVar(&o.tokenDelay, "token-delay", 5*time.Millisecond, "upstream pause before each streamed token")
	fs.IntVar(&o.tokens, "tokens", 10, "words in the upstream's answer")
	fs.StringVar(&o.scenarios, "scenarios", "idle,nonstream,passthrough,stream,stream-fast,agent", "comma-separated scenarios: idle,nonstream,passthrough,stream,stream-fast,agent")
	fs.IntVar(&o.sessions, "sessions", 100_000, "sessions of 10 turns stored for the agent scenario, which spreads its turns over them")
	fs.IntVar(&o.agentRate, "agent-rate", 1000, "the agent scenario's requests/s (open loop); 0 = as -rate says")
	fs.IntVar(&o.idleStreams, "idle-streams", 5000, "streams the idle scenario holds open through each proxy")
	storage := fs.String("storage", "bbolt", "comma-separated storage backends agentgate runs on, one Caddy each: bbolt,postgres")
	fs.StringVar(&o.postgresDSN, "postgres-dsn", "", "the database of -storage postgres; empty: a throwaway PostgreSQL server started for the run")
	lim := fs.String("limits", "memory", "comma-separated limits backends, one Caddy per storage and limits backend: memory,redis")
	fs.StringVar(&o.redisURL, "redis-url", "", "the server of -limits redis; empty: a throwaway redis-server started for the run")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (Caddyfile, logs, data)")
	fs.BoolVar(&o.serveUpstream, "serve-upstream", false, "internal: run the fake upstream and print its URL")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: agentgate-bench -binary ./agentgate [flags]\n\n")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name == "serve-upstream" {
				return
			}
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(stderr, "  -%s %s\n    \t%s (default %q)\n", f.Name, name, usage, f.DefValue)
		})
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.serveUpstream {
		return serveUpstream(o)
	}
	scen, err := parseScenarios(o.scenarios)
	if err == nil {
		o.storages, err = parseList("storage", *storage, "bbolt", "postgres")
	}
	if err == nil {
		o.limits, err = parseList("limits", *lim, "memory", "redis")
	}
	if err != nil {
		fmt.Fprintln(stderr, "agentgate-bench:", err)
		return 2
	}
	if o.workers < 1 || o.rate < 0 || o.agentRate < 0 || o.duration <= 0 || o.tokens < 1 || o.sessions < 1 || o.idleStreams < 1 {
		fmt.Fprintln(stderr, "agentgate-bench: need -workers ≥ 1, -rate ≥ 0, -agent-rate ≥ 0, -duration > 0, -tokens ≥ 1, -sessions ≥ 1, -idle-streams ≥ 1")
		return 2
	}
	if !containsScenario(scen, scenarioAgent) {
		o.sessions = 0 // nothing to seed
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	env, err := setup(ctx, o, stderr)
	if env != nil {
		defer env.close()
	}
	if err != nil {
		fmt.Fprintln(stderr, "agentgate-bench:", err)
		if ctx.Err() != nil {
			return 130
		}
		return 2
	}

	facts := machineFacts(o)
	fmt.Fprintf(stderr, "upstream %s (pid %d), plain Caddy %s (pid %d, admin %s)\n", env.upstreamURL, env.upstream.pid(), env.caddyURL, env.plain.pid(), env.plainAdmin)
	for _, g := range env.gates {
		fmt.Fprintf(stderr, "agentgate on %s: %s (Caddy pid %d, admin %s)\n", g.backends(), g.url, g.caddy.pid(), g.admin)
	}
	var results []result
	var idle []idleResult
	for _, sc := range scen {
		if sc == scenarioIdle {
			for _, tg := range env.targets() {
				if tg.name == targetDirect {
					continue // no proxy: nothing to weigh
				}
				r, err := measureIdle(ctx, o, tg, stderr)
				if ctx.Err() != nil {
					fmt.Fprintln(stderr, "agentgate-bench: interrupted")
					return 130
				}
				if err != nil {
					fmt.Fprintf(stderr, "agentgate-bench: idle streams through %s: %v\n", tg.name, err)
					return 1
				}
				fmt.Fprintln(stderr, "  "+r.progressLine())
				idle = append(idle, r)
			}
			continue
		}
		for _, tg := range env.targets() {
			if ctx.Err() != nil {
				fmt.Fprintln(stderr, "agentgate-bench: interrupted")
				return 130
			}
			r := measure(ctx, o, env, sc, tg, stderr)
			if ctx.Err() != nil {
				break // a partial run is not a result
			}
			fmt.Fprintln(stderr, "  "+r.progressLine())
			results = append(results, r)
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "agentgate-bench: interrupted")
		return 130
	}

	fmt.Fprint(stdout, report(facts, results, idle))
	for _, r := range results {
		if r.errorRate() > 0.01 {
			fmt.Fprintf(stderr, "agentgate-bench: %s %s: %d errors in %d requests (first: %s)\n",
				r.scenario, r.target, r.errors, r.requests, r.firstError)
			fmt.Fprintf(stderr, "Caddy log (plain): %s\n", env.plainLog)
			for _, g := range env.gates {
				fmt.Fprintf(stderr, "Caddy log (%s): %s\n", g.backends(), g.log)
			}
			return 1
		}
	}
	return 0
}

// parseScenarios checks a -scenarios list.
func parseScenarios(s string) ([]scenario, error) {
	var out []scenario
	for _, name := range strings.Split(s, ",") {
		switch strings.TrimSpace(name) {
		case "nonstream":
			out = append(out, scenarioNonStream)
		case "passthrough":
			out = append(out, scenarioPassthrough)
		case "stream":
			out = append(out, scenarioStream)
		case "stream-fast":
			out = append(out, scenarioStreamFast)
		case "agent":
			out = append(out, scenarioAgent)
		case "idle":
			out = append(out, scenarioIdle)
		case "":
		default:
			return nil, fmt.Errorf("unknown scenario %q (want idle, nonstream, passthrough, stream, stream-fast, agent)", name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scenario in %q", s)
	}
	return out, nil
}

// parseList checks the list of a flag (-storage, -limits) whose values
// are among known.
func parseList(flag, s string, known ...string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		switch name = strings.TrimSpace(name); {
		case name == "":
		case slices.Contains(known, name):
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		default:
			return nil, fmt.Errorf("unknown %s %q (want %s)", flag, name, strings.Join(known, ", "))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s in %q", flag, s)
	}
	return out, nil
}
