package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
)

// stepClock is a fake clock that attempts and backoffs move forward.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *stepClock) sleep(_ context.Context, d time.Duration) error {
	c.advance(d)
	return nil
}

// slowProvider takes took of the clock per call, then fails with err or,
// when err is nil, answers.
type slowProvider struct {
	clock *stepClock
	took  time.Duration
	err   error
	mu    sync.Mutex
	calls int
}

func (p *slowProvider) Chat(_ context.Context, _ *adapters.Request, emit adapters.Emit) error {
	p.mu.Lock()
	p.calls++
	p.mu.Unlock()
	p.clock.advance(p.took)
	if p.err != nil {
		return p.err
	}
	for _, ev := range reply("answer") {
		if err := emit(ev); err != nil {
			return err
		}
	}
	return nil
}

// TestRetryDeadline pins down what retries.deadline bounds: no retry or
// fallback starts after it, nor after a backoff that would end past it,
// and an attempt in progress is not cut by it.
func TestRetryDeadline(t *testing.T) {
	timeout := &adapters.Error{Kind: adapters.KindTimeout, Message: "upstream stream was silent for 4s"}
	limited := &adapters.Error{Kind: adapters.KindRateLimited, RetryAfter: 20 * time.Second}
	tests := []struct {
		name              string
		took              time.Duration // per primary attempt
		err               error         // of every primary attempt
		maxBackoff        time.Duration
		primary, fallback int // calls made
		answered          bool
	}{
		// Attempts at 0s, 4s and 8s (backoffs of at most 1ms): the third
		// starts before the 10s deadline and runs past it; no fourth, no
		// fallback.
		{"attempts start only before the deadline", 4 * time.Second, timeout, time.Millisecond, 3, 0, false},
		// A 20s Retry-After would end past the deadline: the model's
		// retries stop, and the fallback starts at once.
		{"no backoff past the deadline", 0, limited, 30 * time.Second, 1, 1, true},
		// An attempt longer than the deadline still answers.
		{"an attempt in progress is not cut", 15 * time.Second, nil, time.Millisecond, 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &stepClock{now: testClock}
			primary := &slowProvider{clock: clock, took: tt.took, err: tt.err}
			fallback := &slowProvider{clock: clock}
			rt, _ := newTestRuntime(t, Config{
				Providers: map[string]adapters.Provider{"primary": primary, "fallback": fallback},
				Routes:    []models.Route{{Pattern: "gpt-primary", Provider: "primary"}, {Pattern: "gpt-fallback", Provider: "fallback"}},
				Retry:     models.RetryPolicy{Max: 5, Backoff: time.Millisecond, MaxBackoff: tt.maxBackoff, Deadline: 10 * time.Second},
				Now:       clock.Now,
				Sleep:     clock.sleep,
			})
			agent := &adapters.Agent{ID: "agent-1", Model: "gpt-primary", Fallbacks: []string{"gpt-fallback"}}
			res, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: agent,
				Messages: []adapters.Message{userMsg("hi")}}, func(adapters.Event) error { return nil })
			if primary.calls != tt.primary || fallback.calls != tt.fallback {
				t.Errorf("calls: primary %d, fallback %d; want %d, %d", primary.calls, fallback.calls, tt.primary, tt.fallback)
			}
			switch {
			case tt.answered && (err != nil || res.Text != "answer"):
				t.Errorf("Run = %+v, %v; want the answer", res, err)
			case !tt.answered:
				wantError(t, err, adapters.KindTimeout, "", "")
			}
		})
	}
}
