package fakeupstream

import (
	"net/http"
	"sync"
	"time"
)

// streams is what a fake keeps about its streamed answers: the tokens
// they sent and the streams their client left. The fakes embed it, next
// to their TokenDelay and HoldLast fields, which pace puts to work.
type streams struct {
	mu       sync.Mutex
	canceled int
	sent     int
}

// Canceled reports how many streams ended because the client went away.
func (s *streams) Canceled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canceled
}

// Sent reports how many tokens (thinking or reasoning, and answer words)
// streams have sent so far. The OpenAI and Gemini fakes count a token as
// they begin to write it, so Sent never lags what a client can have
// read; the Anthropic fake once it is written and flushed.
func (s *streams) Sent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// countSent counts one token sent.
func (s *streams) countSent() {
	s.mu.Lock()
	s.sent++
	s.mu.Unlock()
}

// clientGone counts a stream its client went away from. It returns
// false, a stream's "stop sending".
func (s *streams) clientGone() bool {
	s.mu.Lock()
	s.canceled++
	s.mu.Unlock()
	return false
}

// pace returns the wait before each of a stream's n tokens: delay (none
// when 0), and before the last one until holdLast is closed (when set).
// It returns false, counting the stream as canceled, when the client
// goes away while it waits.
func (s *streams) pace(r *http.Request, n int, delay time.Duration, holdLast <-chan struct{}) func() bool {
	left := n
	return func() bool {
		if left--; left == 0 && holdLast != nil {
			select {
			case <-holdLast:
			case <-r.Context().Done():
				return s.clientGone()
			}
		}
		if delay == 0 {
			return true
		}
		select {
		case <-time.After(delay):
			return true
		case <-r.Context().Done():
			return s.clientGone()
		}
	}
}
