package limits

import "github.com/agentgate/agentgate/internal/clock"

// Opener opens a Backend: the agentgate.limits Caddy modules (limits
// memory, limits redis) implement it.
type Opener interface {
	// Location names the state the backend keeps (never a password):
	// configurations naming the same location share one open backend
	// across reloads.
	Location() string
	// Open opens the backend; clk is the gateway's clock, for a backend
	// that keeps time in the process.
	Open(clk clock.Clock) (Backend, error)
	// LimiterOptions are the module's settings of the Limiter over the
	// backend (LeaseTTL, Deny); the caller adds the Seeder and the log.
	LimiterOptions() Options
}
