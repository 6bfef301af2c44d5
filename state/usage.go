package state

import (
	"context"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/agentgate/agentgate/pricing"
)

// Usage keeps usage records (one per model call) and the monthly token
// and spend counters they add up to.
//
// Counters add up exactly: the tokens and known costs of every record
// appended, by any number of concurrent writers on any number of
// instances, are counted once. Appending a record whose id is already
// stored (a batch retried after a failure that left its fate unknown)
// stores and counts nothing for it, so a retry cannot double-bill.
type Usage interface {
	// AppendUsage stores usage records in one transaction and adds their
	// input plus output tokens, and their known costs, to the monthly
	// counters "key:<KeyID>" (when KeyID is set) and "tenant:<Tenant>" of
	// each record's month.
	AppendUsage(ctx context.Context, recs []UsageRecord) error
	// ListUsage returns tenant's most recent usage records, newest first,
	// at most limit of them (none when limit <= 0); records of the same
	// instant come latest-appended first.
	ListUsage(ctx context.Context, tenant string, limit int) ([]UsageRecord, error)
	// MonthlyTokens returns the tokens recorded for a counter scope
	// ("key:<id>" or "tenant:<name>") in the calendar month (UTC) of t.
	MonthlyTokens(ctx context.Context, scope string, t time.Time) (int64, error)
	// MonthlySpend returns the sum of the known costs of a counter
	// scope's records in the calendar month (UTC) of t.
	MonthlySpend(ctx context.Context, scope string, t time.Time) (pricing.Micros, error)
	// SumUsage adds up the records f selects, grouped by by, in ascending
	// order of the group (spend.go).
	SumUsage(ctx context.Context, f UsageFilter, by UsageGroup) ([]UsageSum, error)
}

// UsageRecord is one model call's usage log entry.
type UsageRecord struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"created_at"`
	Tenant    string    `json:"tenant"`
	KeyID     string    `json:"key_id"`
	Dialect   string    `json:"dialect"`
	AgentID   string    `json:"agent_id"`
	Model     string    `json:"model_id"`
	Provider  string    `json:"provider"`
	SessionID string    `json:"session_id,omitempty"`
	// ParentID links sub-calls (fallback attempts, sub-agents, memory
	// steps) to the run they belong to.
	ParentID        string `json:"parent_id,omitempty"`
	InputTokens     int    `json:"input_tokens"`
	OutputTokens    int    `json:"output_tokens"`
	ReasoningTokens int    `json:"reasoning_tokens"`
	CachedTokens    int    `json:"cached_tokens"`
	// Estimated marks token counts the gateway estimated.
	Estimated bool  `json:"estimated"`
	LatencyMs int64 `json:"latency_ms"`
	// Status is "ok" or the error code the call ended with.
	Status string `json:"status"`
	// Cost is what the call cost at the prices in force when its record
	// was written; nil when unknown (the model has no price).
	Cost *pricing.Micros `json:"cost_usd,omitempty"`
	// Error says why a failed call failed: the error and its cause, at
	// most MaxUsageError bytes (UsageError); empty for a call that did not
	// fail.
	Error string `json:"error,omitempty"`
}

// MaxUsageError bounds a usage record's Error.
const MaxUsageError = 300

// UsageError is the Error of a record of a call that failed with msg
// (what the client was told) because of cause: "msg: cause", cut to
// MaxUsageError bytes on a rune boundary, valid UTF-8 without NUL.
func UsageError(msg, cause string) string {
	s := msg
	if cause != "" {
		s += ": " + cause
	}
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "?")
	if len(s) <= MaxUsageError {
		return s
	}
	cut := MaxUsageError - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// CheckUsage reports why r cannot be stored, if it cannot.
func CheckUsage(r *UsageRecord) error {
	switch {
	case !ValidName(r.Tenant):
		return InvalidID("tenant", r.Tenant)
	case !ValidName(r.KeyID):
		return InvalidID("key id", r.KeyID)
	}
	for _, s := range []string{r.ID, r.Dialect, r.AgentID, r.Model, r.Provider, r.SessionID, r.ParentID, r.Status, r.Error} {
		if !ValidName(s) {
			return InvalidID("usage field", s)
		}
	}
	return nil
}

// MonthKey formats the calendar month (UTC) of t as counters use it.
// Every admission and settlement of a quota asks for the current month:
// the last one formatted is kept, so they format nothing.
func MonthKey(t time.Time) string {
	t = t.UTC()
	y, m, _ := t.Date()
	if c := lastMonthKey.Load(); c != nil && c.year == y && c.month == m {
		return c.key
	}
	k := t.Format("2006-01")
	lastMonthKey.Store(&monthKeyMemo{year: y, month: m, key: k})
	return k
}

// monthKeyMemo is a month and its MonthKey.
type monthKeyMemo struct {
	year  int
	month time.Month
	key   string
}

var lastMonthKey atomic.Pointer[monthKeyMemo]

// Counts keeps named per-tenant counters that never reset (how many
// executions an agent ran in a project, …). Concurrent additions add up
// exactly.
type Counts interface {
	// AddCount adds delta to tenant's counter name and returns its new
	// value.
	AddCount(ctx context.Context, tenant, name string, delta int64) (int64, error)
	// CountsWithPrefix returns tenant's counters whose names start with
	// prefix, by name.
	CountsWithPrefix(ctx context.Context, tenant, prefix string) (map[string]int64, error)
}

// Spend is tokens a request's model calls used and what they cost, and
// the time their usage records were stamped: when the calls ended. It
// counts in the quota month of that time, as the records do.
type Spend struct {
	At     time.Time
	Tokens int64
	// Cost is the sum of the calls' known costs (calls of models without
	// a price count nothing), as the spend counters add them up.
	Cost pricing.Micros
}
