package models

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

// RetryPolicy bounds how Complete retries a failed model call. Calls
// are retried only before anything of the answer has reached the client,
// and only for failures that another try may cure: connection errors,
// timeouts, 429 and 5xx.
type RetryPolicy struct {
	// Max is the number of retries per model; 0 means the default (2),
	// negative means none.
	Max int
	// Backoff is the first wait, doubled each retry up to MaxBackoff, with
	// full jitter; a Retry-After from the upstream replaces it.
	Backoff, MaxBackoff time.Duration
	// Deadline, counted from the start of one model call, is when its
	// retrying stops: no retry or fallback starts after it, nor after a
	// backoff that would end past it. It does not cut an attempt in
	// progress: the provider's timeouts bound that (a non-streamed answer
	// may legitimately take minutes; a stalled stream fails within the
	// stream timeouts).
	Deadline time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Max == 0 {
		p.Max = 2
	}
	if p.Max < 0 {
		p.Max = 0
	}
	if p.Backoff <= 0 {
		p.Backoff = 250 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 4 * time.Second
	}
	if p.Deadline <= 0 {
		p.Deadline = 30 * time.Second
	}
	return p
}

// wait is how long to wait before retry n (0-based) after err.
func (p RetryPolicy) wait(n int, err error) time.Duration {
	var e *adapters.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return min(e.RetryAfter, p.MaxBackoff)
	}
	d := p.Backoff << n
	if d > p.MaxBackoff || d <= 0 {
		d = p.MaxBackoff
	}
	return time.Duration(rand.Int64N(int64(d)) + 1) // full jitter
}

// retryable reports whether another attempt may cure err.
func retryable(err error) bool {
	var e *adapters.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Kind {
	case adapters.KindRateLimited, adapters.KindUnavailable, adapters.KindTimeout:
		return true
	case adapters.KindUpstream:
		return e.UpstreamStatus >= 500
	}
	return false
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
