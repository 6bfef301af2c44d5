package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/agentgate/agentgate/state"
)

// PutResponse creates or replaces a stored response.
func (s *Store) PutResponse(ctx context.Context, r *state.StoredResponse) error {
	if err := s.enter(); err != nil {
		return err
	}
	if !state.ValidName(r.Tenant) {
		return state.InvalidID("tenant", r.Tenant)
	}
	if !state.ValidID(r.ID) {
		return state.InvalidID("response id", r.ID)
	}
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("state: encode response %q: %w", r.ID, err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO responses (tenant, id, body) VALUES ($1, $2, $3)
		ON CONFLICT (tenant, id) DO UPDATE SET body = excluded.body`, r.Tenant, r.ID, body)
	return s.fail(err)
}

// GetResponse returns tenant's stored response id, or
// state.ErrNotFound.
func (s *Store) GetResponse(ctx context.Context, tenant, id string) (*state.StoredResponse, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if !state.ValidName(tenant) || !state.ValidID(id) {
		return nil, state.ErrNotFound
	}
	var body []byte
	if err := s.pool.QueryRow(ctx, "SELECT body FROM responses WHERE tenant = $1 AND id = $2", tenant, id).Scan(&body); err != nil {
		return nil, s.fail(err)
	}
	r := new(state.StoredResponse)
	if err := json.Unmarshal(body, r); err != nil {
		return nil, fmt.Errorf("state: decode response %q: %w", id, err)
	}
	return r, nil
}

// DeleteResponse removes tenant's stored response id, or returns
// state.ErrNotFound.
func (s *Store) DeleteResponse(ctx context.Context, tenant, id string) error {
	if err := s.enter(); err != nil {
		return err
	}
	if !state.ValidName(tenant) || !state.ValidID(id) {
		return state.ErrNotFound
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM responses WHERE tenant = $1 AND id = $2", tenant, id)
	if err != nil {
		return s.fail(err)
	}
	if tag.RowsAffected() == 0 {
		return state.ErrNotFound
	}
	return nil
}
