package caddymodule

import (
	"context"
	"errors"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/caddyserver/caddy/v2"
)

// TestWaitStarted: a request the http app accepted before the agentgate
// app's Start ran waits for it; it is answered 503 if the start failed or
// the config was dropped first, and gives up with its own context.
func TestWaitStarted(t *testing.T) {
	newApp := func() (*App, context.CancelFunc) {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		return &App{ctx: ctx, ready: make(chan struct{})}, cancel
	}

	a, cancel := newApp()
	defer cancel()
	got := make(chan error)
	go func() { got <- a.waitStarted(context.Background()) }()
	close(a.ready) // Start ran
	if err := <-got; err != nil {
		t.Errorf("after a start: %v", err)
	}
	if err := a.waitStarted(context.Background()); err != nil {
		t.Errorf("a request after the start: %v", err)
	}

	a, cancel = newApp()
	a.startErr = errors.New("storage: locked")
	close(a.ready)
	if err := a.waitStarted(context.Background()); err != errNotStarted {
		t.Errorf("after a failed start: %v", err)
	}
	cancel()

	a, cancel = newApp()
	go func() { got <- a.waitStarted(context.Background()) }()
	cancel() // Caddy dropped the config before starting it
	if err := <-got; err != errNotStarted || adapters.AsError(err).Status() != 503 {
		t.Errorf("a dropped config: %v", err)
	}

	a, cancel = newApp()
	defer cancel()
	reqCtx, leave := context.WithCancel(context.Background())
	go func() { got <- a.waitStarted(reqCtx) }()
	leave()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Errorf("a client that left: %v", err)
	}
}
