package postgres

import (
	"context"

	"github.com/agentgate/agentgate/state"
)

// Totals implements state.Totals: one statement counting the three
// tables (each count an index-only scan once the visibility map is set).
func (s *Store) Totals(ctx context.Context) (state.ObjectTotals, error) {
	if err := s.enter(); err != nil {
		return state.ObjectTotals{}, err
	}
	var t state.ObjectTotals
	err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM agents), (SELECT count(*) FROM api_keys), (SELECT count(*) FROM sessions)`).
		Scan(&t.Agents, &t.Keys, &t.Sessions)
	return t, s.fail(err)
}
