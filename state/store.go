// Package state defines the contract of the store that keeps agentgate's
// durable objects (agents and their versions, API keys, tiers, sessions,
// paused runs, usage records and counters, memories, documents, stored
// responses, statistics, totals), one interface per role. Backends implement
// every role: state/bbolt (one embedded file, the default) and
// state/postgres (shared by several gateway instances); state/cache wraps
// any of them with a read cache; state/storetest is the contract suite
// every backend passes. The package knows nothing of HTTP or Caddy.
package state

import (
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
)

// Store is every role a backend plays. The roles say what a backend
// shared by several gateway instances guarantees, not how one does it:
// every read and write of tenant data is scoped by tenant, and the
// guarantees under concurrent writers (on one instance or several) are
// those each role states. Times are kept to the microsecond at least
// (PostgreSQL's precision); dialects show seconds or milliseconds.
type Store interface {
	Agents
	Versions
	Keys
	Tiers
	Sessions
	Runs
	Usage
	Counts
	Memories
	Stats
	Documents
	Responses
	Conversations
	Objects
	Changes
	Snapshots
	Totals
	// Close releases the backend; every call afterwards fails with
	// ErrClosed.
	io.Closer
}

// ErrNotFound is returned when an object does not exist or belongs to
// another tenant; callers cannot tell the two apart, by design.
var ErrNotFound = errors.New("not found")

// ErrExists is returned when creating an object whose id is taken.
var ErrExists = errors.New("already exists")

// ErrConflict is returned when an object is not in the state a write
// needs: an agent changed since it was read (its revision moved on), a
// paused run already claimed.
var ErrConflict = errors.New("conflict")

// ErrInvalidID is returned for writes whose tenant, id or scope cannot be
// stored: ids must be non-empty, and no name may contain a NUL byte or be
// invalid UTF-8. Reads naming such an object find nothing.
var ErrInvalidID = errors.New("invalid id")

// ErrClosed is returned by every method of a closed store.
var ErrClosed = errors.New("store is closed")

// ErrUnavailable marks failures to reach a shared backend (the database
// is down, the network between is cut): the request that needed it
// fails with a 503 in its dialect's shape, and the next one tries again.
// It is adapters.ErrStoreUnavailable, so dialects need not import state.
var ErrUnavailable = adapters.ErrStoreUnavailable

// ErrEmptyStoreRequired is returned by Import into a store that holds
// objects already.
var ErrEmptyStoreRequired = errors.New("the store is not empty")

// ValidName reports whether s can be a tenant, a scope or part of a key:
// valid UTF-8 without NUL, the text every backend can store.
func ValidName(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// ValidID reports whether s can be an object id: a non-empty ValidName.
func ValidID(s string) bool { return s != "" && ValidName(s) }

// InvalidID returns ErrInvalidID naming what was refused.
func InvalidID(kind, s string) error {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return &invalidIDError{kind: kind, value: s}
}

type invalidIDError struct{ kind, value string }

func (e *invalidIDError) Error() string {
	return "state: invalid id: " + e.kind + " " + quoteID(e.value)
}
func (e *invalidIDError) Unwrap() error { return ErrInvalidID }

func quoteID(s string) string {
	return "\"" + strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", `\x00`), "?") + "\""
}
