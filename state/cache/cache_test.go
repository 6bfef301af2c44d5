package cache_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
	"github.com/agentgate/agentgate/state/cache"
	"github.com/agentgate/agentgate/state/storetest"
)

var ctx = context.Background()

func openBolt(t testing.TB) *bbolt.Store {
	t.Helper()
	s, err := bbolt.Open(filepath.Join(t.TempDir(), "store.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestContract: the wrapper keeps every promise of the backend it wraps,
// with the cache large and with it so small that entries are evicted all
// the time.
func TestContract(t *testing.T) {
	for name, size := range map[string]int{"default": 0, "tiny": 2} {
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, storetest.Backend{Open: func(t *testing.T) state.Store {
				return cache.Wrap(openBolt(t), cache.Options{Size: size})
			}})
		})
	}
}

// counting counts the reads that reach the backend.
type counting struct {
	state.Store
	agents, keys, versions, tiers atomic.Int64
}

func (c *counting) GetAgent(ctx context.Context, tenant, id string) (*adapters.Agent, error) {
	c.agents.Add(1)
	return c.Store.GetAgent(ctx, tenant, id)
}

func (c *counting) KeyByHash(ctx context.Context, h [32]byte) (*state.APIKey, error) {
	c.keys.Add(1)
	return c.Store.KeyByHash(ctx, h)
}

func (c *counting) LatestVersion(ctx context.Context, tenant, id string) (*state.AgentVersion, error) {
	c.versions.Add(1)
	return c.Store.LatestVersion(ctx, tenant, id)
}

func (c *counting) ListTiers(ctx context.Context) ([]*state.Tier, error) {
	c.tiers.Add(1)
	return c.Store.ListTiers(ctx)
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestHitsReadNothing: once warm, the objects every request reads come
// from the cache; a write drops what it changed.
func TestHitsReadNothing(t *testing.T) {
	back := &counting{Store: openBolt(t)}
	c := cache.Wrap(back, cache.Options{})
	defer c.Close()
	hash := sha256.Sum256([]byte("secret"))
	must(t, c.PutKey(ctx, &state.APIKey{ID: "k", Hash: hash, Tenant: "t"}))
	must(t, c.CreateAgent(ctx, &adapters.Agent{ID: "a", Tenant: "t", Name: "one"}))
	for range 3 {
		if _, err := c.KeyByHash(ctx, hash); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetAgent(ctx, "t", "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.LatestVersion(ctx, "t", "a"); !errors.Is(err, state.ErrNotFound) {
			t.Fatal(err)
		}
		if _, err := c.GetAgent(ctx, "t", "by-name"); !errors.Is(err, state.ErrNotFound) {
			t.Fatal(err)
		}
		if _, err := c.ListTiers(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if a, k, v, tr := back.agents.Load(), back.keys.Load(), back.versions.Load(), back.tiers.Load(); a != 2 || k != 1 || v != 1 || tr != 1 {
		t.Fatalf("backend reads: agents %d keys %d versions %d tiers %d; want 2 1 1 1", a, k, v, tr)
	}
	a, err := c.GetAgent(ctx, "t", "a")
	must(t, err)
	a.Name = "two"
	must(t, c.UpdateAgent(ctx, a))
	if got, _ := c.GetAgent(ctx, "t", "a"); got.Name != "two" {
		t.Fatalf("read after own write: %q", got.Name)
	}
	must(t, c.DeleteKey(ctx, "k"))
	if _, err := c.KeyByHash(ctx, hash); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("revoked key still found: %v", err)
	}
}

// TestTTL: an entry is served until TTL after it was filled, by the
// cache's clock, then read again.
func TestTTL(t *testing.T) {
	back := &counting{Store: openBolt(t)}
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := cache.Wrap(back, cache.Options{TTL: time.Minute, Now: clk.Now})
	defer c.Close()
	must(t, c.CreateAgent(ctx, &adapters.Agent{ID: "a", Tenant: "t"}))
	for _, step := range []struct {
		advance time.Duration
		reads   int64
	}{{0, 1}, {59 * time.Second, 1}, {time.Second, 2}, {30 * time.Second, 2}} {
		clk.Add(step.advance)
		_, err := c.GetAgent(ctx, "t", "a")
		must(t, err)
		if n := back.agents.Load(); n != step.reads {
			t.Fatalf("after %v more: %d backend reads, want %d", step.advance, n, step.reads)
		}
	}
}

// feedless is a backend whose change feed the test drives: what another
// instance's writes and a lost notification connection look like.
type feedless struct {
	state.Store
	feed    state.Feed
	applied chan state.Change
}

// Subscribe tells applied of each change its subscriber (the cache) has
// handled.
func (f *feedless) Subscribe(fn func(state.Change)) func() {
	return f.feed.Subscribe(func(c state.Change) {
		fn(c)
		f.applied <- c
	})
}

// TestChangesAndGaps: a change told by the feed drops its entry; while
// the feed is down nothing is cached; when it is back the cache starts
// empty.
func TestChangesAndGaps(t *testing.T) {
	bolt := openBolt(t)
	back := &counting{Store: bolt}
	f := &feedless{Store: back, applied: make(chan state.Change, 1)}
	c := cache.Wrap(f, cache.Options{})
	defer c.Close()
	hash := sha256.Sum256([]byte("s"))
	must(t, bolt.PutKey(ctx, &state.APIKey{ID: "k", Hash: hash, Tenant: "t"})) // written by "another instance"
	get := func() {
		t.Helper()
		if _, err := c.KeyByHash(ctx, hash); err != nil {
			t.Fatal(err)
		}
	}
	publish := func(ch state.Change) {
		f.feed.Publish(ch)
		<-f.applied
	}
	get()
	get()
	if n := back.keys.Load(); n != 1 {
		t.Fatalf("%d backend reads, want 1", n)
	}
	publish(state.Change{Kind: state.ChangeKey, Keys: [][32]byte{hash}})
	get()
	if n := back.keys.Load(); n != 2 {
		t.Fatalf("after a change: %d backend reads, want 2", n)
	}
	publish(state.Change{Kind: state.ChangeGap, Live: false})
	get()
	get()
	if n := back.keys.Load(); n != 4 {
		t.Fatalf("while the feed is down: %d backend reads, want 4 (nothing cached)", n)
	}
	publish(state.Change{Kind: state.ChangeGap, Live: true})
	get()
	get()
	if n := back.keys.Load(); n != 5 {
		t.Fatalf("after the feed came back: %d backend reads, want 5", n)
	}
}

// TestConsistency races writers against cached readers; once the writers
// stop, every read sees the last write.
func TestConsistency(t *testing.T) {
	s := cache.Wrap(openBolt(t), cache.Options{Size: 8})
	defer s.Close()
	const objects, writes = 4, 12
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = s.GetAgent(ctx, "t", fmt.Sprint("a", i%objects))
				_, _ = s.ListAgents(ctx, "t")
				_, _ = s.KeyByHash(ctx, sha256.Sum256([]byte(fmt.Sprint("k", i%objects, "-", i%writes))))
			}
		})
	}
	var writers sync.WaitGroup
	for o := range objects {
		writers.Go(func() {
			id := fmt.Sprint("a", o)
			for w := range writes {
				switch {
				case w%7 == 3:
					_ = s.DeleteAgent(ctx, "t", id)
				default:
					a, err := s.GetAgent(ctx, "t", id)
					if errors.Is(err, state.ErrNotFound) {
						err = s.CreateAgent(ctx, &adapters.Agent{ID: id, Tenant: "t", Name: fmt.Sprint(w)})
					} else if err == nil {
						a.Name = fmt.Sprint(w)
						err = s.UpdateAgent(ctx, a)
					}
					if err != nil {
						t.Error(err)
					}
				}
				if err := s.PutKey(ctx, &state.APIKey{ID: fmt.Sprint("k", o), Hash: sha256.Sum256([]byte(fmt.Sprint("k", o, "-", w))), Tier: fmt.Sprint(w)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	list, err := s.ListAgents(ctx, "t")
	must(t, err)
	if len(list) != objects {
		t.Errorf("ListAgents = %d agents, want %d", len(list), objects)
	}
	for o := range objects {
		a, err := s.GetAgent(ctx, "t", fmt.Sprint("a", o))
		if err != nil || a.Name != fmt.Sprint(writes-1) {
			t.Errorf("agent a%d = %+v, %v; want the last write %d", o, a, err, writes-1)
		}
		for w := range writes {
			k, err := s.KeyByHash(ctx, sha256.Sum256([]byte(fmt.Sprint("k", o, "-", w))))
			if w == writes-1 {
				if err != nil || k.Tier != fmt.Sprint(w) {
					t.Errorf("key k%d by current hash = %+v, %v", o, k, err)
				}
			} else if !errors.Is(err, state.ErrNotFound) {
				t.Errorf("key k%d by replaced hash %d = %+v, %v", o, w, k, err)
			}
		}
	}
}

func BenchmarkGetAgent(b *testing.B) {
	s := cache.Wrap(openBolt(b), cache.Options{})
	defer s.Close()
	must(b, s.CreateAgent(ctx, &adapters.Agent{ID: "agent", Tenant: "tenant", Name: "Support", Tools: []string{"a", "b"}}))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.GetAgent(ctx, "tenant", "agent"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
