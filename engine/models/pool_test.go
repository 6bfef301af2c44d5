package models

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

func TestPoolMovesAwayFromARateLimitedKey(t *testing.T) {
	now := testClock
	limited := &fakeProvider{Err: &adapters.Error{Kind: adapters.KindRateLimited, RetryAfter: 5 * time.Second}}
	healthy := newFake(reply("ok")...)
	pool := NewPool([]PoolMember{{Provider: limited}, {Provider: healthy}}, func() time.Time { return now })
	for i := 0; i < 3; i++ {
		if err := pool.Chat(context.Background(), &adapters.Request{}, func(adapters.Event) error { return nil }); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	// The limited key was tried once, then cooled down for its Retry-After.
	if n := len(limited.Requests()); n != 1 {
		t.Fatalf("limited key called %d times during its cooldown", n)
	}
	if cd := pool.Cooldowns(); len(cd) != 2 || !cd[0].Equal(now.Add(5*time.Second)) || !cd[1].IsZero() {
		t.Fatalf("Cooldowns = %v", cd)
	}
	if n := len(healthy.Requests()); n != 3 {
		t.Fatalf("healthy key served %d of 3", n)
	}
	now = now.Add(6 * time.Second)
	limited.Err = nil
	limited.Script = [][]adapters.Event{reply("back")}
	for i := 0; i < 4; i++ {
		_ = pool.Chat(context.Background(), &adapters.Request{}, func(adapters.Event) error { return nil })
	}
	if n := len(limited.Requests()); n < 2 {
		t.Fatalf("the key did not come back after its cooldown (%d calls)", n)
	}
}

func TestPoolAllCoolingReportsWhenToRetry(t *testing.T) {
	now := testClock
	a := &fakeProvider{Err: &adapters.Error{Kind: adapters.KindRateLimited, RetryAfter: 3 * time.Second}}
	b := &fakeProvider{Err: &adapters.Error{Kind: adapters.KindRateLimited, RetryAfter: 7 * time.Second}}
	pool := NewPool([]PoolMember{{Provider: a}, {Provider: b}}, func() time.Time { return now })
	err := pool.Chat(context.Background(), &adapters.Request{}, func(adapters.Event) error { return nil })
	wantError(t, err, adapters.KindRateLimited, "", "")
	err = pool.Chat(context.Background(), &adapters.Request{}, func(adapters.Event) error { return nil })
	if e := adapters.AsError(err); e.Kind != adapters.KindRateLimited || e.RetryAfter != 3*time.Second {
		t.Fatalf("all cooling: %+v", e)
	}
}

func TestPoolWeights(t *testing.T) {
	// Under load each member takes calls in proportion to its weight.
	block := make(chan struct{})
	heavy, light := &blockingProvider{release: block}, &blockingProvider{release: block}
	pool := NewPool([]PoolMember{{Provider: heavy, Weight: 3}, {Provider: light, Weight: 1}}, nil)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = pool.Chat(context.Background(), &adapters.Request{}, func(adapters.Event) error { return nil })
		}()
		waitFor(t, func() bool { return heavy.active()+light.active() == i+1 })
	}
	if heavy.active() != 6 || light.active() != 2 {
		t.Fatalf("in flight: weight 3 has %d, weight 1 has %d; want 6 and 2", heavy.active(), light.active())
	}
	close(block)
	wg.Wait()
}

type blockingProvider struct {
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func (b *blockingProvider) Chat(ctx context.Context, _ *adapters.Request, _ adapters.Emit) error {
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
	<-b.release
	return nil
}

func (b *blockingProvider) active() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// waitFor polls cond until it holds; the bound only ends a test that
// would otherwise hang (the goroutine it waits for may be slow to run on a
// loaded machine).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
	}
}
