package models

import (
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/enginetest"
	"github.com/agentgate/agentgate/state/bbolt"
)

// The shared test support of the engine's packages (internal/enginetest)
// under the names these tests use.
var testClock = enginetest.Clock

type fakeProvider = enginetest.Provider

func newFake(events ...adapters.Event) *fakeProvider { return enginetest.NewProvider(events...) }

func reply(text string) []adapters.Event { return enginetest.Reply(text) }

func openStore(t *testing.T) *bbolt.Store {
	t.Helper()
	return enginetest.OpenStore(t)
}

func userMsg(text string) adapters.Message { return enginetest.UserMsg(text) }

func wantError(t *testing.T, err error, k adapters.ErrorKind, code, param string) {
	t.Helper()
	enginetest.WantError(t, err, k, code, param)
}
