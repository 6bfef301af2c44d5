package engine

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/tiers"
	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/state"
)

// listingProvider is a provider whose upstream lists models; fetched
// receives a value each time the list is fetched, and a fetch waits for
// hold, when set, before it answers.
type listingProvider struct {
	fakeProvider
	mu      sync.Mutex
	models  []adapters.ModelInfo
	err     error
	calls   int
	fetched chan struct{}
	hold    chan struct{}
}

func (l *listingProvider) ListModels(context.Context) ([]adapters.ModelInfo, error) {
	l.mu.Lock()
	l.calls++
	hold := l.hold
	l.mu.Unlock()
	if l.fetched != nil {
		l.fetched <- struct{}{}
	}
	if hold != nil {
		<-hold
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.models, l.err
}

func (l *listingProvider) set(models []adapters.ModelInfo, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.models, l.err = models, err
}

var modelsCreated = time.Unix(1000, 0).UTC()

func modelsRuntime(t *testing.T, now *clock.Manual) (*Engine, *listingProvider) {
	t.Helper()
	up := &listingProvider{models: []adapters.ModelInfo{
		{ID: "gpt-4o", Created: modelsCreated}, {ID: "gpt-4o-mini", Created: modelsCreated},
		{ID: "o1", Created: modelsCreated}, {ID: "text-embedding-3-small", Created: modelsCreated},
	}}
	anth := &listingProvider{models: []adapters.ModelInfo{{ID: "claude-x"}, {ID: "other"}}}
	rt, _ := newTestRuntime(t, Config{
		Providers: map[string]adapters.Provider{"up": up, "anth": anth, "plain": newFake(),
			// A pool serves its members' lists.
			"pool": models.NewPool([]models.PoolMember{{Provider: anth}, {Provider: anth}}, nil)},
		Routes: []models.Route{
			{Pattern: "gpt-*", Provider: "up"},
			{Pattern: "openai/*", Provider: "up"},
			{Pattern: "fast", Provider: "up", Target: "gpt-4o-mini"},
			{Pattern: "gpt-4o", Provider: "up"},
			{Pattern: "claude-*", Provider: "anth"},
			{Pattern: "pooled/*", Provider: "pool"},
			{Pattern: "local-model", Provider: "plain"},
			{Pattern: "plain-*", Provider: "plain"},
		},
		Tiers: tiers.New(state.Tier{Name: "limited", Models: []string{"gpt-4o*", "fast", "plain-*"}}),
		Now:   now.Now,
	})
	return rt, up
}

func TestModelsList(t *testing.T) {
	now := clock.NewManual(testClock)
	rt, up := modelsRuntime(t, now)
	ctx := context.Background()
	loaded := testClock
	tests := []struct {
		name string
		p    *adapters.Principal
		want []models.Model
	}{
		{"every routed model", tenantA, []models.Model{
			{ID: "claude-x", Provider: "anth", Created: loaded},
			{ID: "fast", Provider: "up", Created: modelsCreated},
			{ID: "gpt-4o", Provider: "up", Created: modelsCreated},
			{ID: "gpt-4o-mini", Provider: "up", Created: modelsCreated},
			{ID: "local-model", Provider: "plain", Created: loaded},
			{ID: "openai/gpt-4o", Provider: "up", Created: modelsCreated},
			{ID: "openai/gpt-4o-mini", Provider: "up", Created: modelsCreated},
			{ID: "openai/o1", Provider: "up", Created: modelsCreated},
			{ID: "openai/text-embedding-3-small", Provider: "up", Created: modelsCreated},
			{ID: "pooled/claude-x", Provider: "pool", Created: loaded},
			{ID: "pooled/other", Provider: "pool", Created: loaded},
		}},
		{"the tier's allowlist", &adapters.Principal{Tenant: "t", Tier: "limited"}, []models.Model{
			{ID: "fast", Provider: "up", Created: modelsCreated},
			{ID: "gpt-4o", Provider: "up", Created: modelsCreated},
			{ID: "gpt-4o-mini", Provider: "up", Created: modelsCreated},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rt.ListModels(ctx, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Models =\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
	if up.calls != 1 {
		t.Errorf("the upstream's list was fetched %d times, want once (cached)", up.calls)
	}
}

func TestModelLookup(t *testing.T) {
	now := clock.NewManual(testClock)
	rt, _ := modelsRuntime(t, now)
	limited := &adapters.Principal{Tenant: "t", Tier: "limited"}
	tests := []struct {
		name, id string
		p        *adapters.Principal
		provider string // "" means not found
	}{
		{"exact route", "gpt-4o", tenantA, "up"},
		{"alias", "fast", tenantA, "up"},
		{"listed under a prefix", "gpt-4o-mini", tenantA, "up"},
		{"stripped prefix", "openai/o1", tenantA, "up"},
		{"prefix, but the upstream does not list it", "gpt-5", tenantA, ""},
		{"prefix of a provider that lists nothing", "plain-x", tenantA, "plain"},
		{"not routed", "o1", tenantA, ""},
		{"outside the tier's allowlist", "openai/o1", limited, ""},
		{"inside the tier's allowlist", "plain-x", limited, "plain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := rt.Model(context.Background(), tc.p, tc.id)
			if tc.provider == "" {
				wantError(t, err, adapters.KindNotFound, "model_not_found", "model")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.ID != tc.id || m.Provider != tc.provider {
				t.Errorf("Model = %+v", m)
			}
		})
	}
}

// TestModelListCaching: a list is fetched once per TTL, an expired one is
// served while the next is fetched, and a failed fetch lists no prefix
// models until one succeeds.
func TestModelListCaching(t *testing.T) {
	now := clock.NewManual(testClock)
	rt, up := modelsRuntime(t, now)
	up.fetched = make(chan struct{}, 4)
	up.set(nil, &adapters.Error{Kind: adapters.KindUpstream, Message: "down"})
	ctx := context.Background()
	ids := func() []string {
		t.Helper()
		ms, err := rt.ListModels(ctx, tenantA)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			if m.Provider == "up" {
				out = append(out, m.ID)
			}
		}
		return out
	}
	if got := ids(); !slices.Equal(got, []string{"fast", "gpt-4o"}) {
		t.Errorf("upstream down: %v, want only the exact routes", got)
	}
	<-up.fetched
	up.set([]adapters.ModelInfo{{ID: "gpt-4o"}}, nil)
	ids()
	select {
	case <-up.fetched:
		t.Fatal("a failed fetch was retried before its TTL")
	default:
	}
	now.Add(models.ModelListFailureTTL)
	// The failure is stale: the next request starts a fetch (and answers
	// with what the failure left, no prefix models); the list lands when
	// the fetch returns.
	ids()
	<-up.fetched
	recovered := []string{"fast", "gpt-4o", "openai/gpt-4o"}
	for deadline := time.Now().Add(10 * time.Second); !slices.Equal(ids(), recovered); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after recovery: %v, want %v", ids(), recovered)
		}
	}
	now.Add(models.ModelListTTL)
	up.set([]adapters.ModelInfo{{ID: "gpt-4o"}, {ID: "gpt-4o-mini"}}, nil)
	hold := make(chan struct{})
	up.mu.Lock()
	up.hold = hold
	up.mu.Unlock()
	if got := ids(); !slices.Equal(got, []string{"fast", "gpt-4o", "openai/gpt-4o"}) {
		t.Errorf("expired list: %v, want it served while the next is fetched", got)
	}
	<-up.fetched
	close(hold)
	// The refresh lands when its fetch returns; wait for the catalog.
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(ids(), "gpt-4o-mini") {
		if time.Now().After(deadline) {
			t.Fatal("the refreshed list never replaced the expired one")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestModelListWaitHonoursContext(t *testing.T) {
	now := clock.NewManual(testClock)
	rt, up := modelsRuntime(t, now)
	up.fetched = make(chan struct{}) // unbuffered: the fetch blocks until read
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := rt.ListModels(ctx, tenantA); !errors.Is(err, context.Canceled) {
		t.Fatalf("Models with a canceled context: %v", err)
	}
	<-up.fetched
}
