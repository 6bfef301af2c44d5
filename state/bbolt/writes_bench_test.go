package bbolt_test

import (
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

// writeBatches are the batch sizes the write benchmarks take: one record
// (a commit's own cost) and about what a recorder queues in a flush
// interval on a busy gateway.
var writeBatches = []int{1, 1000}

// cpuTime is the process's user plus system CPU time so far: what a
// write costs the gateway, fsync's kernel time included, its wait not.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchmarkBatches runs write(s, n) (a batch of n records) b.N times for
// each size of writeBatches, over a store that already holds some
// batches, and reports the CPU time and wall time per record.
func benchmarkBatches(b *testing.B, write func(s *bbolt.Store, n int) error) {
	for _, n := range writeBatches {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			s := openBolt(b, filepath.Join(b.TempDir(), "bench.db"), bbolt.Options{})
			defer s.Close()
			for range 20_000 / n { // the store is not new: its trees have depth
				must(b, write(s, n))
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime(b)
			for b.Loop() {
				if err := write(s, n); err != nil {
					b.Fatal(err)
				}
			}
			records := float64(b.N * n)
			b.ReportMetric(float64((cpuTime(b)-cpu).Nanoseconds())/records, "cpu-ns/record")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/records, "ns/record")
		})
	}
}

// BenchmarkAppendUsage is the usage recorder's flush: lane records of one
// key, ids and times increasing as a gateway makes them.
func BenchmarkAppendUsage(b *testing.B) {
	cost := pricing.Micros(42)
	at := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	benchmarkBatches(b, func(s *bbolt.Store, n int) error {
		recs := make([]state.UsageRecord, n)
		for i := range recs {
			at = at.Add(100 * time.Microsecond)
			recs[i] = state.UsageRecord{ID: runID(at), Time: at, Tenant: "bench", KeyID: "bench-key",
				Dialect: "openai", AgentID: "bench", Model: "gpt-4o-mini", Provider: "upstream",
				InputTokens: 14, OutputTokens: 10, LatencyMs: 1, Status: "ok", Cost: &cost}
		}
		return s.AppendUsage(ctx, recs)
	})
}

// BenchmarkRecordTurns is the turn statistics' flush: answered runs of
// one agent.
func BenchmarkRecordTurns(b *testing.B) {
	at := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	benchmarkBatches(b, func(s *bbolt.Store, n int) error {
		recs := make([]state.TurnRecord, n)
		for i := range recs {
			at = at.Add(100 * time.Microsecond)
			recs[i] = state.TurnRecord{Tenant: "bench", AgentID: "bench", RunID: runID(at), LatencyMs: 1, Time: at}
		}
		return s.RecordTurns(ctx, recs)
	})
}

// runID is an id like adapters.NewID's, increasing with at, made without
// the random bits' cost so the benchmark times the store.
func runID(at time.Time) string {
	return "run-" + strconv.FormatInt(at.UnixNano(), 10) + "abcdefgh"
}
