package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/agentgate/agentgate/state"
)

var (
	putTierSQL = withNotify(`INSERT INTO tiers (name, body) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET body = excluded.body RETURNING name`, "w.name", 2)
	deleteTierSQL = withNotify(`DELETE FROM tiers WHERE name = $1 RETURNING name`, "w.name", 1)
)

// PutTier creates or replaces a tier set at run time.
func (s *Store) PutTier(ctx context.Context, t *state.Tier) error {
	if err := s.enter(); err != nil {
		return err
	}
	if !state.ValidID(t.Name) {
		return state.InvalidID("tier", t.Name)
	}
	body, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("state: encode tier %q: %w", t.Name, err)
	}
	var name string
	return s.fail(s.pool.QueryRow(ctx, putTierSQL, t.Name, body, s.payload(state.Change{Kind: state.ChangeTier, ID: t.Name})).Scan(&name))
}

// ListTiers returns the tiers set at run time, by name.
func (s *Store) ListTiers(ctx context.Context) ([]*state.Tier, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, "SELECT body FROM tiers ORDER BY name")
	if err != nil {
		return nil, s.fail(err)
	}
	list, err := pgx.CollectRows(rows, jsonRow[state.Tier])
	return list, s.fail(err)
}

// DeleteTier removes a tier set at run time, or returns
// state.ErrNotFound.
func (s *Store) DeleteTier(ctx context.Context, name string) error {
	if err := s.enter(); err != nil {
		return err
	}
	if !state.ValidID(name) {
		return state.ErrNotFound
	}
	var got string
	err := s.pool.QueryRow(ctx, deleteTierSQL, name, s.payload(state.Change{Kind: state.ChangeTier, ID: name})).Scan(&got)
	if err != nil {
		return fmt.Errorf("state: tier %q: %w", name, s.fail(err))
	}
	return nil
}
