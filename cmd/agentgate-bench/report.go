package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// machineFacts describes the machine and the settings, for the header.
func machineFacts(o options) []string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := runtime.GOOS
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel += " " + strings.TrimSpace(string(b))
	}
	version := "unknown"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, o.binary, "version").Output(); err == nil {
		if f := strings.Fields(string(out)); len(f) > 0 {
			version = f[0]
		}
	}
	load := fmt.Sprintf("closed loop, %d workers", o.workers)
	if o.rate > 0 {
		load = fmt.Sprintf("open loop at %d req/s (up to 10000 workers, %d to start)", o.rate, o.workers)
	}
	facts := []string{
		fmt.Sprintf("machine: nproc %d, GOMAXPROCS %d (load generator), %s, %s/%s, kernel %s",
			runtime.NumCPU(), runtime.GOMAXPROCS(0), cpu, runtime.GOOS, runtime.GOARCH, kernel),
		fmt.Sprintf("build: %s; Caddy %s (%s)", runtime.Version(), version, o.binary),
		fmt.Sprintf("load: %s, %s measured per row after %s warm-up; load generator, upstream and Caddy share the machine",
			load, o.duration, o.warmup),
		fmt.Sprintf("upstream: fakeupstream.OpenAI in its own process, %d-word answer, streamed with %s before each word",
			o.tokens, o.tokenDelay),
	}
	if load := loadavg(); load != "" {
		facts = append(facts, "load average before the run: "+load)
	}
	return facts
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// report renders the results as Markdown tables plus the ratios.
func report(facts []string, results []result, idle []idleResult) string {
	var b strings.Builder
	b.WriteString("## agentgate-bench\n\n")
	for _, f := range facts {
		b.WriteString("- " + f + "\n")
	}
	b.WriteString("\n| scenario | target | req/s | p50 | p99 | TTFB p50 | TTFB p99 | TTFT p50 | TTFT p99 | errors | Caddy CPU µs/req | upstream CPU µs/req |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range results {
		ttfb50, ttfb99, ttft50, ttft99 := "–", "–", "–", "–"
		if r.scenario.streams() {
			ttfb50, ttfb99 = fmtDur(r.ttfb50), fmtDur(r.ttfb99)
			ttft50, ttft99 = fmtDur(r.ttft50), fmtDur(r.ttft99)
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %d / %d | %s | %s |\n",
			r.scenario, r.target, r.rps(), fmtDur(r.p50), fmtDur(r.p99), ttfb50, ttfb99, ttft50, ttft99,
			r.errors, r.requests, fmtCPU(r, r.caddyCPU), fmtCPU(r, r.upstreamCPU))
	}
	b.WriteString("\np50/p99: whole response. TTFB: first body byte (first SSE event). TTFT: first chunk carrying generated text " +
		"(a first chunk without text, such as the role chunk, does not count). " +
		"CPU: user+system time of the process over the row's requests (10 ms ticks).\n")

	var scen []scenario
	for _, r := range results {
		if !containsScenario(scen, r.scenario) {
			scen = append(scen, r.scenario)
		}
	}
	for _, sc := range scen {
		direct, okD := find(results, sc, targetDirect)
		plain, okP := find(results, sc, targetCaddy)
		for _, gate := range results {
			if gate.scenario != sc || !isAgentgate(gate.target) {
				continue
			}
			name := gate.target
			fmt.Fprintf(&b, "\n%s, %s:\n", sc, name)
			if okD {
				fmt.Fprintf(&b, "- %s req/s ÷ direct req/s: %s\n", name, fmtRatio(gate.rps(), direct.rps()))
			}
			if okP {
				fmt.Fprintf(&b, "- %s req/s ÷ plain Caddy req/s: %s\n", name, fmtRatio(gate.rps(), plain.rps()))
				gc, ok1 := gate.cpuPerRequest(gate.caddyCPU)
				pc, ok2 := plain.cpuPerRequest(plain.caddyCPU)
				if ok1 && ok2 {
					fmt.Fprintf(&b, "- %s CPU/req ÷ plain Caddy CPU/req: %s (%.0f µs vs %.0f µs)\n", name, fmtRatio(gc, pc), gc, pc)
				}
				fmt.Fprintf(&b, "- %s p99 − plain Caddy p99: %s\n", name, fmtDelta(gate.p99-plain.p99))
			}
			if gate.redisCalls >= 0 && gate.requests > 0 {
				fmt.Fprintf(&b, "- %s Redis script calls per request: %.2f (%d over %d requests: an admission and a settlement each, and the renewals of leases in flight)\n",
					name, float64(gate.redisCalls)/float64(gate.requests), gate.redisCalls, gate.requests)
			}
			if sc.streams() {
				if okD {
					fmt.Fprintf(&b, "- %s TTFB − direct TTFB: p50 %s, p99 %s\n", name,
						fmtDelta(gate.ttfb50-direct.ttfb50), fmtDelta(gate.ttfb99-direct.ttfb99))
				}
				if okP {
					fmt.Fprintf(&b, "- %s TTFB − plain Caddy TTFB: p50 %s, p99 %s\n", name,
						fmtDelta(gate.ttfb50-plain.ttfb50), fmtDelta(gate.ttfb99-plain.ttfb99))
				}
				if okD {
					fmt.Fprintf(&b, "- %s TTFT − direct TTFT: p50 %s, p99 %s\n", name,
						fmtDelta(gate.ttft50-direct.ttft50), fmtDelta(gate.ttft99-direct.ttft99))
				}
				if okP {
					fmt.Fprintf(&b, "- %s TTFT − plain Caddy TTFT: p50 %s, p99 %s\n", name,
						fmtDelta(gate.ttft50-plain.ttft50), fmtDelta(gate.ttft99-plain.ttft99))
				}
			}
		}
	}
	if len(idle) > 0 {
		b.WriteString(idleReport(idle))
	}
	return b.String()
}

// idleReport is the idle streams' table and ratios.
func idleReport(idle []idleResult) string {
	var b strings.Builder
	b.WriteString("\n| idle streams | target | streams | opened in | RSS before | RSS with streams | RSS KB/stream | Go heap+stacks KB/stream |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|\n")
	var plain *idleResult
	for i, r := range idle {
		heap := "n/a"
		if r.heapOK {
			heap = fmt.Sprintf("%.1f", r.perStream(r.heapBefore, r.heapWith))
		}
		fmt.Fprintf(&b, "| idle streams | %s | %d | %s | %.1f MB | %.1f MB | %.1f | %s |\n", r.target, r.streams,
			fmtDur(r.opening), float64(r.rssBefore)/(1<<20), float64(r.rssWith)/(1<<20), r.perStream(r.rssBefore, r.rssWith), heap)
		if r.target == targetCaddy {
			plain = &idle[i]
		}
	}
	b.WriteString("\nRSS: the proxy's resident set (VmRSS) with every stream open, less the same just before; " +
		"Go heap+stacks: go_memstats_heap_inuse_bytes + go_memstats_stack_inuse_bytes from its admin /metrics, the same way.\n")
	if plain == nil {
		return b.String()
	}
	for _, r := range idle {
		if !isAgentgate(r.target) {
			continue
		}
		fmt.Fprintf(&b, "\nidle streams, %s:\n", r.target)
		fmt.Fprintf(&b, "- %s RSS/stream ÷ plain Caddy RSS/stream: %s (%.1f KB vs %.1f KB)\n", r.target,
			fmtRatio(r.perStream(r.rssBefore, r.rssWith), plain.perStream(plain.rssBefore, plain.rssWith)),
			r.perStream(r.rssBefore, r.rssWith), plain.perStream(plain.rssBefore, plain.rssWith))
		if r.heapOK && plain.heapOK {
			fmt.Fprintf(&b, "- %s Go heap+stacks/stream ÷ plain Caddy's: %s (%.1f KB vs %.1f KB)\n", r.target,
				fmtRatio(r.perStream(r.heapBefore, r.heapWith), plain.perStream(plain.heapBefore, plain.heapWith)),
				r.perStream(r.heapBefore, r.heapWith), plain.perStream(plain.heapBefore, plain.heapWith))
		}
	}
	return b.String()
}

func containsScenario(list []scenario, sc scenario) bool {
	for _, s := range list {
		if s == sc {
			return true
		}
	}
	return false
}

func find(results []result, sc scenario, target string) (result, bool) {
	for _, r := range results {
		if r.scenario == sc && r.target == target {
			return r, true
		}
	}
	return result{}, false
}

func fmtCPU(r result, cpu time.Duration) string {
	c, ok := r.cpuPerRequest(cpu)
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", c)
}

// fmtDur prints a latency with three significant digits or so.
func fmtDur(d time.Duration) string {
	us := float64(d) / float64(time.Microsecond)
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", us)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", us/1000)
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1fms", us/1000)
	default:
		return fmt.Sprintf("%.0fms", us/1000)
	}
}

// fmtDelta is fmtDur with a sign.
func fmtDelta(d time.Duration) string {
	if d < 0 {
		return "−" + fmtDur(-d)
	}
	return "+" + fmtDur(d)
}

// fmtRatio prints a/b, or n/a when b is zero.
func fmtRatio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}
