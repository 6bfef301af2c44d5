package caddymodule

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// withTenant returns labels with "tenant" appended, in a new slice.
func withTenant(labels []string) []string {
	return append(labels[:len(labels):len(labels)], "tenant")
}

// tenantFamily exports a counter vector counted per tenant (its last
// label) as the same family without the tenant label: each series the sum
// of the tenants' series with its other labels. It is what an App with
// tenant_label off registers in place of the vector, so the counts go on
// across a reload that turns the option on or off.
type tenantFamily struct {
	vec    *prometheus.CounterVec
	desc   *prometheus.Desc
	labels []string
}

// sumTenants returns vec (counted with labels and "tenant") summed over
// tenants, described by opts and labels.
func sumTenants(vec *prometheus.CounterVec, opts prometheus.CounterOpts, labels []string) *tenantFamily {
	name := prometheus.BuildFQName(opts.Namespace, opts.Subsystem, opts.Name)
	return &tenantFamily{vec: vec, desc: prometheus.NewDesc(name, opts.Help, labels, opts.ConstLabels), labels: labels}
}

// Describe implements prometheus.Collector.
func (f *tenantFamily) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }

// Collect implements prometheus.Collector: it reads the vector's series
// and sends one per combination of the other labels' values.
func (f *tenantFamily) Collect(ch chan<- prometheus.Metric) {
	counted := make(chan prometheus.Metric, 64)
	go func() {
		f.vec.Collect(counted)
		close(counted)
	}()
	type sum struct {
		values []string
		total  float64
	}
	sums := map[string]*sum{}
	var order []string
	for m := range counted {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil || pb.Counter == nil {
			continue
		}
		values := make([]string, len(f.labels))
		for _, lp := range pb.Label {
			for i, l := range f.labels {
				if lp.GetName() == l {
					values[i] = lp.GetValue()
				}
			}
		}
		key := strings.Join(values, "\x00")
		s := sums[key]
		if s == nil {
			s = &sum{values: values}
			sums[key] = s
			order = append(order, key)
		}
		s.total += pb.Counter.GetValue()
	}
	for _, key := range order {
		s := sums[key]
		ch <- prometheus.MustNewConstMetric(f.desc, prometheus.CounterValue, s.total, s.values...)
	}
}

// Interface guard.
var _ prometheus.Collector = (*tenantFamily)(nil)
