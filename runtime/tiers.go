package runtime

import (
	"sort"
	"sync"
)

// Tier is a service level: what a key on it may spend. Zero means
// unlimited for every limit.
type Tier struct {
	Name string `json:"name"`
	// MonthlyTokens caps the tokens a key spends per calendar month (UTC).
	MonthlyTokens int64 `json:"monthly_tokens"`
	// TenantMonthlyTokens caps the tokens all of a tenant's keys on this
	// tier spend per month together.
	TenantMonthlyTokens int64 `json:"tenant_monthly_tokens,omitempty"`
	// RPM and TPM cap requests and tokens per minute per key.
	RPM int64 `json:"rpm"`
	TPM int64 `json:"tpm"`
	// Concurrent caps a key's requests in flight (streams included).
	Concurrent int64 `json:"concurrent"`
}

// Tiers is the set of tiers, changeable at run time (admin API).
type Tiers struct {
	mu    sync.RWMutex
	tiers map[string]Tier
}

// NewTiers returns a set holding tiers.
func NewTiers(tiers ...Tier) *Tiers {
	t := &Tiers{tiers: make(map[string]Tier, len(tiers))}
	for _, tr := range tiers {
		t.tiers[tr.Name] = tr
	}
	return t
}

// Get returns the tier called name.
func (t *Tiers) Get(name string) (Tier, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	tr, ok := t.tiers[name]
	return tr, ok
}

// Put creates or replaces a tier.
func (t *Tiers) Put(tr Tier) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tiers[tr.Name] = tr
}

// List returns every tier by name.
func (t *Tiers) List() []Tier {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Tier, 0, len(t.tiers))
	for _, tr := range t.tiers {
		out = append(out, tr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
