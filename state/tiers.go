package state

import (
	"context"
	"strings"

	"github.com/agentgate/agentgate/pricing"
)

// Tiers keeps the tiers set at run time through the admin API (those of
// the configuration are not stored).
type Tiers interface {
	// PutTier creates or replaces a tier.
	PutTier(ctx context.Context, t *Tier) error
	// ListTiers returns the stored tiers, by name.
	ListTiers(ctx context.Context) ([]*Tier, error)
	// DeleteTier removes a tier, or returns ErrNotFound.
	DeleteTier(ctx context.Context, name string) error
}

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
	// MonthlyBudgetUSD is what a key may spend per calendar month (UTC),
	// in dollars; TenantMonthlyBudgetUSD what all of a tenant's keys on
	// this tier may spend together. They are shown beside the month's
	// spend (profile, admin views, gauges); admission does not refuse
	// requests for them yet.
	MonthlyBudgetUSD       pricing.Micros `json:"monthly_budget_usd,omitempty"`
	TenantMonthlyBudgetUSD pricing.Micros `json:"tenant_monthly_budget_usd,omitempty"`
	// Models limits the models a key on this tier may call directly
	// (model passthrough, embeddings) to these names or prefixes ending
	// in "*"; empty allows every routed model. Agents are not affected.
	Models []string `json:"models,omitempty"`
}

// AllowsModel reports whether t lets a key call model directly.
func (t Tier) AllowsModel(model string) bool {
	if len(t.Models) == 0 {
		return true
	}
	for _, m := range t.Models {
		if p, ok := strings.CutSuffix(m, "*"); ok && strings.HasPrefix(model, p) || m == model {
			return true
		}
	}
	return false
}
