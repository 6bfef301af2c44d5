package state

import "context"

// Totals counts a store's objects across tenants, for the operator's view
// of a running gateway (the admin API's GET /agentgate/status). A count
// is exact as of the call and costs one pass over an index, never a read
// of the objects themselves.
type Totals interface {
	// Totals counts the stored agents, API keys and sessions of every
	// tenant. Agents and keys the configuration declares are not stored,
	// and not counted.
	Totals(ctx context.Context) (ObjectTotals, error)
}

// ObjectTotals are the numbers of stored objects of each kind.
type ObjectTotals struct {
	Agents   int64 `json:"agents"`
	Keys     int64 `json:"keys"`
	Sessions int64 `json:"sessions"`
}
