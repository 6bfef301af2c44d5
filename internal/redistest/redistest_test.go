package redistest_test

import (
	"testing"

	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/agentgate/agentgate/internal/servertest"
)

// TestPortTaken: a server whose port another process bound since
// FreePort released it fails to start with an error AddrInUse
// recognises (on which its start tries another port), though something
// answers on the port; back on its own port it starts.
func TestPortTaken(t *testing.T) {
	s := redistest.Start(t)
	other := redistest.Start(t)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	port := s.Port
	s.Port = other.Port
	err := s.Restart()
	s.Port = port
	if !servertest.AddrInUse(err) {
		t.Errorf("start on a port another Redis serves: %v, want an error AddrInUse recognises", err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
}
