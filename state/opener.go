package state

// Opener opens a backend: the agentgate.storage Caddy modules
// (storage bbolt, storage postgres) implement it.
type Opener interface {
	// Location names what the store is kept in: a file's path, a
	// database's host, port and name (never a password). Configurations
	// naming the same location share one open store across reloads.
	Location() string
	// Open opens the store, with the read cache the backend calls for in
	// front (state/cache).
	Open() (Store, error)
}
