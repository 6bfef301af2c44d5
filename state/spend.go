package state

import (
	"sort"
	"time"

	"github.com/agentgate/agentgate/pricing"
)

// UsageFilter selects usage records for SumUsage.
type UsageFilter struct {
	// Tenant and KeyID select one tenant's or one key's records; empty,
	// every tenant's or every key's.
	Tenant, KeyID string
	// From and To bound the records' times: From <= t < To. A zero time
	// leaves that side open.
	From, To time.Time
}

// Matches reports whether f selects r.
func (f *UsageFilter) Matches(r *UsageRecord) bool {
	return (f.Tenant == "" || r.Tenant == f.Tenant) && (f.KeyID == "" || r.KeyID == f.KeyID) &&
		(f.From.IsZero() || !r.Time.Before(f.From)) && (f.To.IsZero() || r.Time.Before(f.To))
}

// UsageGroup is what SumUsage groups records by.
type UsageGroup string

// The groups of SumUsage: the record's model, agent, key, tenant, or UTC
// day (YYYY-MM-DD).
const (
	GroupModel  UsageGroup = "model"
	GroupAgent  UsageGroup = "agent"
	GroupKey    UsageGroup = "key"
	GroupTenant UsageGroup = "tenant"
	GroupDay    UsageGroup = "day"
)

// UsageGroups lists every UsageGroup.
var UsageGroups = []UsageGroup{GroupModel, GroupAgent, GroupKey, GroupTenant, GroupDay}

// Of returns the group r falls in.
func (g UsageGroup) Of(r *UsageRecord) string {
	switch g {
	case GroupAgent:
		return r.AgentID
	case GroupKey:
		return r.KeyID
	case GroupTenant:
		return r.Tenant
	case GroupDay:
		return r.Time.UTC().Format(time.DateOnly)
	}
	return r.Model
}

// UsageSum is the usage and spend of one group of records.
type UsageSum struct {
	Group string `json:"group"`
	// Calls counts the records (model calls).
	Calls           int64 `json:"calls"`
	InputTokens     int64 `json:"input_tokens"`
	OutputTokens    int64 `json:"output_tokens"`
	ReasoningTokens int64 `json:"reasoning_tokens"`
	CachedTokens    int64 `json:"cached_tokens"`
	// Cost is the sum of the known costs; Unpriced counts the calls whose
	// cost is unknown, which it leaves out.
	Cost     pricing.Micros `json:"cost_usd"`
	Unpriced int64          `json:"unpriced_calls"`
}

// Add adds r to s.
func (s *UsageSum) Add(r *UsageRecord) {
	s.Calls++
	s.InputTokens += int64(r.InputTokens)
	s.OutputTokens += int64(r.OutputTokens)
	s.ReasoningTokens += int64(r.ReasoningTokens)
	s.CachedTokens += int64(r.CachedTokens)
	if r.Cost != nil {
		s.Cost += *r.Cost
	} else {
		s.Unpriced++
	}
}

// SortedSums returns the sums of groups in ascending order of the group.
func SortedSums(groups map[string]*UsageSum) []UsageSum {
	out := make([]UsageSum, 0, len(groups))
	for _, s := range groups {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}
