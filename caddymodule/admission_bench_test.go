package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine"
	"github.com/agentgate/agentgate/engine/tiers"
	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/agentgate/agentgate/limits"
	memorylimits "github.com/agentgate/agentgate/limits/memory"
	redislimits "github.com/agentgate/agentgate/limits/redis"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// BenchmarkAdmission measures the edge's own per-request cost: API-key
// authentication, the concurrency slot, rpm and tpm buckets, a monthly
// quota reservation and its settlement, on each limits backend.
func BenchmarkAdmission(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchmarkAdmission(b, &memorylimits.Module{}) })
	b.Run("redis", func(b *testing.B) {
		s := redistest.Start(b)
		m := &redislimits.Module{URL: s.URL()}
		if err := m.Provision(caddy.Context{Context: context.Background()}); err != nil {
			b.Fatal(err)
		}
		benchmarkAdmission(b, m)
	})
}

func benchmarkAdmission(b *testing.B, lo limits.Opener) {
	opener := &bbolt.Module{File: filepath.Join(b.TempDir(), "bench.db")}
	be, err := acquireBackend(opener, 0, clock.Real{}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer releaseStore(opener.Location())
	lim, key, err := acquireLimiter(lo, be, opener.Location(), clock.Real{}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer releaseLimiter(key)
	tiers := tiers.New(state.Tier{Name: "pro", MonthlyTokens: 1 << 50, RPM: 1 << 40, TPM: 1 << 50, Concurrent: 1 << 20})
	rt, err := engine.New(engine.Config{Store: be.store, Providers: map[string]adapters.Provider{}, Tiers: tiers, Recorder: be.recorder})
	if err != nil {
		b.Fatal(err)
	}
	const secret = "agk_benchmark_key_000000000000000"
	keys, err := newKeyring([]KeyConfig{{Key: secret, Tenant: "t", Tier: "pro"}}, caddy.NewReplacer(), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	if err := keys.open(context.Background(), be.store, rt.Now()); err != nil {
		b.Fatal(err)
	}
	clk := clock.Real{}
	h := &Handler{app: &App{clock: clk, engine: rt, keys: keys, backend: be, limiter: lim, MaxBodyBytes: 1 << 20}}
	body := `{"model":"assistant","max_tokens":64,"messages":[{"role":"user","content":"` + strings.Repeat("hello ", 40) + `"}]}`
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := httptest.NewRecorder()
		for pb.Next() {
			r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+secret)
			p, err := h.app.keys.authenticate(r)
			if err != nil {
				b.Fatal(err)
			}
			adm, err := h.admit(w, r, p, true, nil)
			if err != nil {
				b.Fatal(err)
			}
			adm.done(r.Context(), []state.Spend{{At: clk.Now(), Tokens: 100}})
		}
	})
}
