package state

// Changes tells of committed writes to the objects gateways keep in
// memory (API keys, agents and their versions, tiers, memories), so that
// caches and in-memory indexes stay fresh when another instance sharing
// the backend writes.
type Changes interface {
	// Subscribe calls fn with each change committed through any handle on
	// the backend (this one included), one call at a time, from a
	// goroutine of the subscription's own, until cancel is called. A
	// change is delivered after its write committed, a moment later: that
	// moment is the staleness bound of what the subscriber keeps fresh.
	// When changes may have been missed, fn gets a ChangeGap.
	Subscribe(fn func(Change)) (cancel func())
}

// ChangeKind is the kind of object a Change is about.
type ChangeKind uint8

// The kinds of change.
const (
	// ChangeKey: Keys holds the hashes of the keys written or removed
	// (the old hash and the new one when a key was rehashed).
	ChangeKey ChangeKind = iota + 1
	// ChangeAgent: tenant Tenant's agent ID, or its published versions.
	ChangeAgent
	// ChangeTier: the tier named ID.
	ChangeTier
	// ChangeMemory: tenant Tenant's memories of agent ID; Items names
	// them (nil means any of the agent's memories).
	ChangeMemory
	// ChangeGap: changes may have been missed. With Live false, the
	// feed stopped (the backend's notification connection is down) and
	// further changes may be missed until a ChangeGap with Live true
	// tells it is back; whatever was kept fresh by the feed is to be
	// reloaded or dropped at both.
	ChangeGap
)

// Change is one committed write, as Changes tells of it.
type Change struct {
	Kind ChangeKind
	// Local marks changes written through the handle that tells of them.
	Local  bool
	Tenant string
	ID     string
	Keys   [][32]byte
	Items  []string
	Live   bool
}
