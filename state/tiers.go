package state

import (
	"context"
	"fmt"
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
	// this tier may spend together. Admission reserves a request's
	// estimated cost against them and settles its real cost, like the
	// monthly token quotas.
	MonthlyBudgetUSD       pricing.Micros `json:"monthly_budget_usd,omitempty"`
	TenantMonthlyBudgetUSD pricing.Micros `json:"tenant_monthly_budget_usd,omitempty"`
	// Unpriced is what a tier with a budget does with a request calling
	// a model without a price: UnpricedDeny (the default, "" too)
	// refuses it with a 403 naming the model; UnpricedAllow lets it
	// through outside the budgets (its cost is unknown).
	Unpriced string `json:"unpriced,omitempty"`
	// Models limits the models a key on this tier may call directly
	// (model passthrough, embeddings) to these names or prefixes ending
	// in "*"; empty allows every routed model. Agents are not affected.
	Models []string `json:"models,omitempty"`
}

// The values of Tier.Unpriced.
const (
	UnpricedDeny  = "deny"
	UnpricedAllow = "allow"
)

// Check reports what is wrong with t, naming the field.
func (t Tier) Check() error {
	for _, f := range []struct {
		name string
		v    int64
	}{{"monthly_tokens", t.MonthlyTokens}, {"tenant_monthly_tokens", t.TenantMonthlyTokens}, {"rpm", t.RPM}, {"tpm", t.TPM},
		{"concurrent", t.Concurrent}, {"monthly_budget_usd", int64(t.MonthlyBudgetUSD)}, {"tenant_monthly_budget_usd", int64(t.TenantMonthlyBudgetUSD)}} {
		if f.v < 0 {
			return fmt.Errorf("%s must not be negative (0 means unlimited), got %d", f.name, f.v)
		}
	}
	switch t.Unpriced {
	case "", UnpricedDeny, UnpricedAllow:
	default:
		return fmt.Errorf("unpriced must be %q or %q, got %q", UnpricedAllow, UnpricedDeny, t.Unpriced)
	}
	return nil
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
