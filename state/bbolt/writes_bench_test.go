package bbolt_test

import (
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

// writeBatch is how many records one benchmarked write takes: about what
// the recorders queue in a flush interval on a busy gateway.
var writeBatch = 1000

// cpuTime is the process's user plus system CPU time so far: what a
// write costs the gateway, fsync's kernel time included, its wait not.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchmarkBatches runs write b.N times over a store that already holds
// some batches, and reports the CPU time and wall time per record.
func benchmarkBatches(b *testing.B, write func(*bbolt.Store) error) {
	s := openBolt(b, filepath.Join(b.TempDir(), "bench.db"), bbolt.Options{})
	defer s.Close()
	for range 20 { // the store is not new: its trees have depth
		must(b, write(s))
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime(b)
	for b.Loop() {
		if err := write(s); err != nil {
			b.Fatal(err)
		}
	}
	records := float64(b.N * writeBatch)
	b.ReportMetric(float64((cpuTime(b)-cpu).Nanoseconds())/records, "cpu-ns/record")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/records, "ns/record")
}

// BenchmarkAppendUsage is the usage recorder's flush: writeBatch lane
// records of one key, ids and times increasing as a gateway makes them.
func BenchmarkAppendUsage(b *testing.B) {
	recs := make([]state.UsageRecord, writeBatch)
	cost := pricing.Micros(42)
	at := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	benchmarkBatches(b, func(s *bbolt.Store) error {
		for i := range recs {
			at = at.Add(100 * time.Microsecond)
			recs[i] = state.UsageRecord{ID: runID(at), Time: at, Tenant: "bench", KeyID: "bench-key",
				Dialect: "openai", AgentID: "bench", Model: "gpt-4o-mini", Provider: "upstream",
				InputTokens: 14, OutputTokens: 10, LatencyMs: 1, Status: "ok", Cost: &cost}
		}
		return s.AppendUsage(ctx, recs)
	})
}

// BenchmarkRecordTurns is the turn statistics' flush: writeBatch answered
// runs of one agent.
func BenchmarkRecordTurns(b *testing.B) {
	recs := make([]state.TurnRecord, writeBatch)
	at := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	benchmarkBatches(b, func(s *bbolt.Store) error {
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

func BenchmarkTmpSizes(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			writeBatch = n
			defer func() { writeBatch = 1000 }()
			BenchmarkAppendUsage(b)
		})
	}
}
