package bbolt

import (
	"errors"
	"fmt"
)

// Errors of the bbolt backend, beside those of package state. Each is
// returned wrapped with detail; test for them with errors.Is.
var (
	// ErrLocked is returned by Open when another process (typically a
	// second Caddy) holds the store file.
	ErrLocked = errors.New("store is in use by another process")
	// ErrNotStore is returned by Open for a file that is not an agentgate
	// store: not a bbolt database at all, or a bbolt database written by
	// something else.
	ErrNotStore = errors.New("not an agentgate store")
	// ErrSchema is returned by Open for a store written with a schema
	// version this build does not read.
	ErrSchema = errors.New("unsupported store schema")
	// ErrCorrupt is returned when bbolt panicked on the file's contents.
	ErrCorrupt = errors.New("store file is corrupt")
)

// lockedError is ErrLocked with the path and the remedy.
type lockedError struct {
	path string
	// here is set when this process itself has the store open.
	here bool
}

func (e *lockedError) Error() string {
	if e.here {
		return fmt.Sprintf("store %s is already open in this process (share one store across config reloads instead of opening it again)", e.path)
	}
	return fmt.Sprintf("store %s is already in use by another Caddy process (use 'caddy reload' to change config)", e.path)
}

func (e *lockedError) Is(target error) bool { return target == ErrLocked }
