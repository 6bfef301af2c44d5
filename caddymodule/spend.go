package caddymodule

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
	"github.com/caddyserver/caddy/v2"
)

// spendView is GET /agentgate/spend: usage and spend of the records a
// filter selects, by group, and their total.
type spendView struct {
	From    time.Time        `json:"from"`
	To      time.Time        `json:"to"`
	GroupBy state.UsageGroup `json:"group_by"`
	Tenant  string           `json:"tenant,omitempty"`
	Key     string           `json:"key,omitempty"`
	Groups  []state.UsageSum `json:"groups"`
	Total   state.UsageSum   `json:"total"`
}

// handleSpend answers GET /agentgate/spend?tenant=&key=&group_by=&from=&to=:
// the calls, tokens and cost of the usage records of [from, to) (default:
// the current calendar month, UTC), of one tenant and/or one key if
// given, grouped by model (the default), agent, key, tenant or day. Any
// other parameter, a repeated one or a bad value is a 400 naming it.
func handleSpend(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	app, err := activeApp()
	if err != nil {
		return err
	}
	v, err := parseSpendQuery(r.URL, app.clock.Now())
	if err != nil {
		return err
	}
	ctx := r.Context()
	// Commit the usage of requests already answered, so they are counted.
	if err := app.engine.Models().Recorder().Flush(ctx); err != nil {
		return err
	}
	v.Groups, err = app.backend.store.SumUsage(ctx, state.UsageFilter{Tenant: v.Tenant, KeyID: v.Key, From: v.From, To: v.To}, v.GroupBy)
	if err != nil {
		return err
	}
	if v.Groups == nil {
		v.Groups = []state.UsageSum{}
	}
	for _, g := range v.Groups {
		v.Total.Calls += g.Calls
		v.Total.InputTokens += g.InputTokens
		v.Total.OutputTokens += g.OutputTokens
		v.Total.ReasoningTokens += g.ReasoningTokens
		v.Total.CachedTokens += g.CachedTokens
		v.Total.Cost += g.Cost
		v.Total.Unpriced += g.Unpriced
	}
	return writeAdminJSON(w, http.StatusOK, v)
}

// parseSpendQuery reads GET /agentgate/spend's parameters into the view
// they ask for (its groups not yet filled); the period defaults to now's
// calendar month.
func parseSpendQuery(u *url.URL, now time.Time) (spendView, error) {
	q, err := adminQuery(u, "tenant", "key", "group_by", "from", "to")
	if err != nil {
		return spendView{}, err
	}
	v := spendView{Tenant: q["tenant"], Key: q["key"], GroupBy: state.GroupModel}
	if g, ok := q["group_by"]; ok {
		v.GroupBy = state.UsageGroup(g)
		if !slices.Contains(state.UsageGroups, v.GroupBy) {
			return spendView{}, badParam("group_by", "must be one of model, agent, key, tenant, day; got %q", g)
		}
	}
	v.From, v.To = state.MonthStart(now), state.MonthEnd(now)
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &v.From}, {"to", &v.To}} {
		if s, ok := q[p.name]; ok {
			if *p.dst, err = parseAdminTime(s); err != nil {
				return spendView{}, badParam(p.name, "%v", err)
			}
		}
	}
	if !v.From.Before(v.To) {
		return spendView{}, badParam("to", "must be after from (%s), got %s", v.From.Format(time.RFC3339), v.To.Format(time.RFC3339))
	}
	return v, nil
}

// usageRecordView is a usage record as the admin API shows it: its cost
// is a number of dollars, or null when unknown.
type usageRecordView struct {
	state.UsageRecord
	Cost *pricing.Micros `json:"cost_usd"`
}

// usageScan bounds how many of a tenant's newest records GET
// /agentgate/usage looks through.
const usageScan = 10_000

// handleUsage answers GET /agentgate/usage?tenant=[&key=][&run=][&limit=]:
// the tenant's newest usage records (limit, default 100, at most 1000),
// each with its own cost, and the sum of their known costs. With run,
// the records of that run: the run's own and every record whose chain of
// parent_id leads to it (its retries and fallbacks, sub-agents and memory
// steps), among the tenant's 10,000 newest.
func handleUsage(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	app, err := activeApp()
	if err != nil {
		return err
	}
	q, err := adminQuery(r.URL, "tenant", "key", "run", "limit")
	if err != nil {
		return err
	}
	tenant, ok := q["tenant"]
	if !ok || tenant == "" {
		return badParam("tenant", "is required")
	}
	limit := 100
	if s, ok := q["limit"]; ok {
		if limit, err = strconv.Atoi(s); err != nil || limit <= 0 || limit > 1000 {
			return badParam("limit", "must be an integer from 1 to 1000, got %q", s)
		}
	}
	ctx := r.Context()
	if err := app.engine.Models().Recorder().Flush(ctx); err != nil {
		return err
	}
	recs, err := app.backend.store.ListUsage(ctx, tenant, usageScan)
	if err != nil {
		return err
	}
	if run, ok := q["run"]; ok {
		recs = runRecords(recs, run)
	}
	out := struct {
		Records  []usageRecordView `json:"records"`
		Cost     pricing.Micros    `json:"cost_usd"`
		Unpriced int               `json:"unpriced_calls"`
	}{Records: []usageRecordView{}}
	for _, rec := range recs {
		if len(out.Records) == limit {
			break
		}
		if key, ok := q["key"]; ok && rec.KeyID != key {
			continue
		}
		out.Records = append(out.Records, usageRecordView{UsageRecord: rec, Cost: rec.Cost})
		if rec.Cost != nil {
			out.Cost += *rec.Cost
		} else {
			out.Unpriced++
		}
	}
	return writeAdminJSON(w, http.StatusOK, out)
}

// runRecords keeps the records of run: its own and those whose parent
// chain leads to it.
func runRecords(recs []state.UsageRecord, run string) []state.UsageRecord {
	parent := make(map[string]string, len(recs))
	for _, r := range recs {
		parent[r.ID] = r.ParentID
	}
	inRun := func(id string) bool {
		for range len(recs) + 1 { // a cycle (corrupt data) ends the walk
			if id == run {
				return true
			}
			p, ok := parent[id]
			if !ok || p == "" {
				return false
			}
			id = p
		}
		return false
	}
	var out []state.UsageRecord
	for _, r := range recs {
		if r.ID == run || (r.ParentID != "" && inRun(r.ParentID)) {
			out = append(out, r)
		}
	}
	return out
}

// adminQuery returns u's query parameters, refusing any not in allowed,
// given twice or whose value no store can hold (checkName) with a 400
// naming it.
func adminQuery(u *url.URL, allowed ...string) (map[string]string, error) {
	vals, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("malformed query: %w", err)}
	}
	out := make(map[string]string, len(vals))
	for name, vs := range vals {
		if !slices.Contains(allowed, name) {
			return nil, badParam(name, "unknown query parameter (this endpoint takes %s)", strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return nil, badParam(name, "given %d times; give it once", len(vs))
		}
		if err := checkName(name, vs[0]); err != nil {
			return nil, err
		}
		out[name] = vs[0]
	}
	return out, nil
}

// parseAdminTime reads an RFC 3339 time or a date (midnight UTC).
func parseAdminTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("must be a date (2026-01-31) or an RFC 3339 time (2026-01-31T12:00:00Z), got %q", s)
	}
	return t.UTC(), nil
}

func badParam(name, format string, args ...any) error {
	return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("%s: "+format, append([]any{name}, args...)...)}
}
