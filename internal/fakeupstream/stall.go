package fakeupstream

import (
	"net/http"
	"sync"
)

// Stall is where a fake's streamed answer goes silent, as a hung upstream
// does: from there it sends nothing more until the client goes away.
type Stall int

const (
	// NoStall streams the whole answer.
	NoStall Stall = iota
	// StallBeforeHeaders reads the request and never answers it.
	StallBeforeHeaders
	// StallAfterHeaders sends the stream's 200 headers, then nothing.
	StallAfterHeaders
	// StallAfterFirstToken sends the stream up to its first token of
	// text (or thinking), then nothing.
	StallAfterFirstToken
)

// stalls is what a fake keeps about its stalled streams. The fakes embed
// it, next to their Stall and StallCount fields.
type stalls struct {
	mu        sync.Mutex
	planned   int
	abandoned int
}

// plan is where this stream stalls: at, for the first count streams
// (every stream when count is 0); NoStall for the others.
func (s *stalls) plan(at Stall, count int) Stall {
	if at == NoStall {
		return NoStall
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if count > 0 && s.planned >= count {
		return NoStall
	}
	s.planned++
	return at
}

// hang sends nothing until the client goes away.
func (s *stalls) hang(r *http.Request) {
	<-r.Context().Done()
	s.mu.Lock()
	s.abandoned++
	s.mu.Unlock()
}

// Abandoned reports how many stalled streams their client gave up on
// (closing the connection).
func (s *stalls) Abandoned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.abandoned
}

// hangAfterHeaders sends w's headers with a 200, then hangs.
func (s *stalls) hangAfterHeaders(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()
	s.hang(r)
}
