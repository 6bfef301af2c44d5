package e2e

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
)

// TestMetricsKeepValuesAcrossTenantLabel: a reload that turns tenant_label
// on shows the counts so far per tenant, and one that turns it off again
// shows them summed; no series of requests, tokens or cost starts over.
func TestMetricsKeepValuesAcrossTenantLabel(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: "counted"}).Start()
	defer up.Close()
	// The collectors are process-wide and the test reads absolute
	// counts: a model of this run's own, as go test -count=2 runs it
	// again in the same process.
	model := fmt.Sprint("gpt-relabel-", relabelRuns.Add(1))
	cfg := func(tenantLabel string) testgate.Config {
		return testgate.Config{Block: `
		metrics {
			tenant_label ` + tenantLabel + `
		}
		provider relabel openai {
			base_url ` + up.URL + `
		}
		route ` + model + ` relabel
		price ` + model + ` {
			input 1
			output 2
		}`}
	}
	g := testgate.Start(t, cfg("off"))
	chat := func(key string) {
		t.Helper()
		if status, body, _ := g.Do("POST", "/v1/chat/completions", key, `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`); status != 200 {
			t.Fatalf("chat: %d %s", status, body)
		}
	}
	series := []string{"model", model, "outcome", "ok"}
	counts := func(e testgate.Exposition) [3]float64 {
		return [3]float64{e.Get("agentgate_requests_total", series...),
			e.Get("agentgate_tokens_total", "model", model, "type", "input"),
			e.Get("agentgate_cost_usd_total", "model", model)}
	}
	tenantLabelled := func(e testgate.Exposition, on bool) {
		t.Helper()
		for _, name := range []string{"agentgate_requests_total", "agentgate_tokens_total", "agentgate_cost_usd_total"} {
			if got := slices.Contains(e.LabelNames(name), "tenant"); got != on {
				t.Errorf("%s: tenant label %v, want %v", name, got, on)
			}
		}
	}

	chat(testgate.KeyA)
	chat(testgate.KeyA)
	chat(testgate.KeyB)
	off := g.WaitMetric(t, 3, "agentgate_requests_total", series...)
	tenantLabelled(off, false)
	before := counts(off)
	if before[1] == 0 || before[2] == 0 {
		t.Fatalf("no tokens or cost counted: %v", before)
	}

	g.Load(cfg("on"))
	on := g.Scrape(t)
	tenantLabelled(on, true)
	if got := counts(on); got != before {
		t.Errorf("after turning tenant_label on: %v, before %v", got, before)
	}
	if a, b := on.Get("agentgate_requests_total", append(series, "tenant", "tenant-a")...),
		on.Get("agentgate_requests_total", append(series, "tenant", "tenant-b")...); a != 2 || b != 1 {
		t.Errorf("per tenant: a=%v b=%v, want 2 and 1", a, b)
	}

	chat(testgate.KeyB)
	g.WaitMetric(t, 2, "agentgate_requests_total", append(series, "tenant", "tenant-b")...)
	g.Load(cfg("off"))
	off = g.Scrape(t)
	tenantLabelled(off, false)
	if got := off.Get("agentgate_requests_total", series...); got != 4 {
		t.Errorf("after turning tenant_label off: %v requests, want 4", got)
	}
}

// relabelRuns numbers the runs of TestMetricsKeepValuesAcrossTenantLabel
// in this process.
var relabelRuns atomic.Int64
