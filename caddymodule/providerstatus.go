package caddymodule

import (
	"errors"
	"sync"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

// providerStates keeps, by provider name, how each provider's calls went
// lately, for GET /agentgate/status. Like the metrics it outlives a
// config: a reload does not forget that an upstream is failing.
var providerStates sync.Map // name → *providerState

// providerState is one provider's recent health.
type providerState struct {
	mu      sync.Mutex
	lastOK  time.Time
	lastErr *providerError
}

// providerError is a provider's latest failed call, as the status shows
// it: what the client was told, the upstream's status, the cause. Never a
// key: causes are redacted where they are made (wire.Redact).
type providerError struct {
	At             time.Time `json:"at"`
	Model          string    `json:"model,omitempty"`
	Error          string    `json:"error"`
	UpstreamStatus int       `json:"upstream_status,omitempty"`
	Cause          string    `json:"cause,omitempty"`
}

func stateOf(provider string) *providerState {
	if v, ok := providerStates.Load(provider); ok {
		return v.(*providerState)
	}
	v, _ := providerStates.LoadOrStore(provider, &providerState{})
	return v.(*providerState)
}

// succeeded records a call that ended well at t.
func (s *providerState) succeeded(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.After(s.lastOK) {
		s.lastOK = t
	}
}

// failed records a call the upstream failed at t.
func (s *providerState) failed(t time.Time, model string, err error) {
	msg, cause := adapters.Describe(err)
	pe := &providerError{At: t, Model: model, Error: msg, Cause: cause}
	var e *adapters.Error
	if errors.As(err, &e) {
		pe.UpstreamStatus = e.UpstreamStatus
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastErr == nil || !t.Before(s.lastErr.At) {
		s.lastErr = pe
	}
}

// snapshot returns the latest success and failure.
func (s *providerState) snapshot() (time.Time, *providerError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastOK, s.lastErr
}
