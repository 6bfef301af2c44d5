package testgate

import (
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Exposition is one scrape of the admin endpoint's /metrics.
type Exposition map[string]*dto.MetricFamily

// Scrape reads the gateway's metrics from its admin endpoint.
func (g *Gateway) Scrape(t testing.TB) Exposition {
	t.Helper()
	resp, err := http.Get("http://" + g.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// Get sums the samples of name whose labels include the pairs in kv:
// counter and gauge values, histogram sample counts.
func (e Exposition) Get(name string, kv ...string) float64 {
	f := e[name]
	if f == nil {
		return 0
	}
	var sum float64
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(kv); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == kv[i] && l.GetValue() == kv[i+1] {
					found = true
					break
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// LabelNames returns the label names of name's first sample.
func (e Exposition) LabelNames(name string) []string {
	f := e[name]
	if f == nil || len(f.GetMetric()) == 0 {
		return nil
	}
	var out []string
	for _, l := range f.GetMetric()[0].GetLabel() {
		out = append(out, l.GetName())
	}
	return out
}

// WaitMetric polls /metrics until name{kv} reaches want: a request's
// metrics are exported when its handler returns, which can be just after
// the client read the last byte.
func (g *Gateway) WaitMetric(t testing.TB, want float64, name string, kv ...string) Exposition {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		e := g.Scrape(t)
		got := e.Get(name, kv...)
		if got == want {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, kv, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
