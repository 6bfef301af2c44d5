package egzora

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
)

// timeFormat is RFC 3339 in UTC with milliseconds, which Python's
// datetime.fromisoformat and every JSON client read.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(timeFormat)
	return &s
}

// agentView is an agent as GET /v1/agents lists it.
type agentView struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Description      string   `json:"description"`
	SystemPrompt     string   `json:"system_prompt"`
	Tools            []string `json:"tools"`
	Model            string   `json:"model"`
	ReasoningEnabled bool     `json:"reasoning_enabled"`
	// HistoryTurns is how many earlier turns of a session each chat sees.
	HistoryTurns int    `json:"history_turns"`
	Status       string `json:"status"`
	// CreatedAt is null when unknown.
	CreatedAt *string `json:"created_at"`
}

// listAgents answers GET /v1/agents with a JSON array of the agents the
// caller's tenant can use: shared ones, then the tenant's own.
func (d *Dialect) listAgents(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	agents, err := d.env.Engine.Agents().List(r.Context(), p)
	if err != nil {
		return err
	}
	out := make([]agentView, 0, len(agents))
	for _, a := range agents {
		v := agentView{ID: a.ID, Name: a.Name, Description: a.Description, SystemPrompt: a.SystemPrompt,
			Tools: a.Tools, Model: a.Model, ReasoningEnabled: a.Reasoning, HistoryTurns: a.HistoryTurns,
			Status: a.Status, CreatedAt: formatTime(a.CreatedAt)}
		if v.Tools == nil {
			v.Tools = []string{}
		}
		if v.HistoryTurns == 0 {
			v.HistoryTurns = adapters.DefaultHistoryTurns
		}
		if v.Status == "" {
			v.Status = adapters.StatusActive
		}
		out = append(out, v)
	}
	dialects.WriteRawJSON(w, http.StatusOK, marshal(out))
	return nil
}

// profileView is GET /v1/auth/profile. The monthly figures are the key's,
// for the current calendar month (UTC); total and remaining are null when
// the key's tier has no monthly limit. Spent is the known cost of the
// key's calls this month in dollars (calls of models without a price are
// not counted); the budget and what remains of it are null when the tier
// has no monthly budget.
type profileView struct {
	Email                     *string         `json:"email"`
	SubscriptionTier          string          `json:"subscription_tier"`
	TotalMonthlyTokens        *int64          `json:"total_monthly_tokens"`
	UsedMonthlyTokens         int64           `json:"used_monthly_tokens"`
	RemainingMonthlyTokens    *int64          `json:"remaining_monthly_tokens"`
	SpentMonthlyUSD           pricing.Micros  `json:"spent_monthly_usd"`
	MonthlyBudgetUSD          *pricing.Micros `json:"monthly_budget_usd"`
	RemainingMonthlyBudgetUSD *pricing.Micros `json:"remaining_monthly_budget_usd"`
	Tenant                    string          `json:"tenant"`
	KeyID                     string          `json:"key_id"`
	PeriodStart               string          `json:"period_start"`
	PeriodEnd                 string          `json:"period_end"`
	ResetAt                   string          `json:"reset_at"`
}

func (d *Dialect) profile(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	ctx := r.Context()
	rt := d.env.Engine
	// Commit the usage of requests already answered, so the figures count
	// the chats just made to the token.
	if err := rt.Models().Recorder().Flush(ctx); err != nil {
		return err
	}
	now := rt.Now()
	used, err := rt.Store().MonthlyTokens(ctx, "key:"+p.KeyID, now)
	if err != nil {
		return err
	}
	spent, err := rt.Store().MonthlySpend(ctx, "key:"+p.KeyID, now)
	if err != nil {
		return err
	}
	start, end := state.MonthStart(now), state.MonthEnd(now)
	v := profileView{SubscriptionTier: p.Tier, UsedMonthlyTokens: used, SpentMonthlyUSD: spent, Tenant: p.Tenant, KeyID: p.KeyID,
		PeriodStart: start.Format(time.RFC3339), PeriodEnd: end.Format(time.RFC3339), ResetAt: end.Format(time.RFC3339)}
	if p.Email != "" {
		v.Email = &p.Email
	}
	tier, ok := rt.Tiers().Get(p.Tier)
	if ok && tier.MonthlyTokens > 0 {
		total, remaining := tier.MonthlyTokens, max(tier.MonthlyTokens-used, 0)
		v.TotalMonthlyTokens, v.RemainingMonthlyTokens = &total, &remaining
	}
	if ok && tier.MonthlyBudgetUSD > 0 {
		budget, remaining := tier.MonthlyBudgetUSD, max(tier.MonthlyBudgetUSD-spent, 0)
		v.MonthlyBudgetUSD, v.RemainingMonthlyBudgetUSD = &budget, &remaining
	}
	dialects.WriteRawJSON(w, http.StatusOK, marshal(v))
	return nil
}

// Limits of GET /v1/logs?limit=N.
const (
	defaultLogLimit = 100
	maxLogLimit     = 1000
)

// logView is one usage record as GET /v1/logs lists it.
type logView struct {
	CreatedAt       *string `json:"created_at"`
	RunID           string  `json:"run_id"`
	AgentID         string  `json:"agent_id"`
	ModelID         string  `json:"model_id"`
	Provider        string  `json:"provider"`
	SessionID       *string `json:"session_id"`
	InputTokens     int     `json:"input_tokens"`
	OutputTokens    int     `json:"output_tokens"`
	ReasoningTokens int     `json:"reasoning_tokens"`
	TotalTokens     int     `json:"total_tokens"`
	// Estimated marks counts the gateway estimated because the upstream
	// reported none.
	Estimated bool  `json:"estimated"`
	LatencyMs int64 `json:"latency_ms"`
	// Status is "ok" or the error code the call ended with.
	Status string `json:"status"`
	// Dialect is the API the call came through (egzora, openai, …).
	Dialect string `json:"dialect"`
	// CostUSD is what the call cost in dollars at the prices in force
	// when it was recorded; null when its model has no price.
	CostUSD *pricing.Micros `json:"cost_usd"`
}

// logs answers GET /v1/logs with the tenant's most recent usage records,
// newest first: every chat of every dialect, by any of the tenant's keys.
// The runtime's recorder writes one record per chat after its response
// has gone out, group-committed with others every usage_flush_interval
// (one fsync per batch, not per request): a clean shutdown loses none, a
// crash at most the last interval's. Flushing first makes the chats
// already answered show here.
func (d *Dialect) logs(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	limit, err := logLimit(r.URL.Query())
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := d.env.Engine.Models().Recorder().Flush(ctx); err != nil {
		return err
	}
	recs, err := d.env.Engine.Store().ListUsage(ctx, p.Tenant, limit)
	if err != nil {
		return err
	}
	out := make([]logView, 0, len(recs))
	for i := range recs {
		out = append(out, toLogView(&recs[i]))
	}
	dialects.WriteRawJSON(w, http.StatusOK, marshal(out))
	return nil
}

// logLimit reads GET /v1/logs?limit=N: absent is the default, more than
// the maximum is the maximum.
func logLimit(q url.Values) (int, error) {
	if !q.Has("limit") {
		return defaultLogLimit, nil
	}
	n, err := strconv.Atoi(q.Get("limit"))
	if err != nil || n <= 0 {
		return 0, adapters.BadField("limit", "must be a positive integer (values over %d are capped), got %s", maxLogLimit, quote(q.Get("limit")))
	}
	return min(n, maxLogLimit), nil
}

func toLogView(rec *state.UsageRecord) logView {
	v := logView{CreatedAt: formatTime(rec.Time), RunID: rec.ID, AgentID: rec.AgentID, ModelID: rec.Model,
		Provider: rec.Provider, InputTokens: rec.InputTokens, OutputTokens: rec.OutputTokens,
		ReasoningTokens: rec.ReasoningTokens, TotalTokens: rec.InputTokens + rec.OutputTokens,
		Estimated: rec.Estimated, LatencyMs: rec.LatencyMs, Status: rec.Status, Dialect: rec.Dialect, CostUSD: rec.Cost}
	if rec.SessionID != "" {
		v.SessionID = &rec.SessionID
	}
	return v
}
