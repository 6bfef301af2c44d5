package postgres

import (
	"context"
	"time"

	"github.com/agentgate/agentgate/state"
)

// ClaimObjects implements state.Objects in one statement; an owned id
// keeps its owner (ON CONFLICT DO NOTHING), whichever instance claims it.
func (s *Store) ClaimObjects(ctx context.Context, tenant, provider string, ids []string, at time.Time) error {
	if err := s.enter(); err != nil {
		return err
	}
	if !state.ValidName(tenant) {
		return state.InvalidID("tenant", tenant)
	}
	for _, id := range ids {
		if !state.ValidID(id) {
			return state.InvalidID("object id", id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO objects (id, tenant, provider, created_at)
		SELECT id, $2, $3, $4 FROM unnest($1::text[]) AS id ORDER BY id ON CONFLICT (id) DO NOTHING`, ids, tenant, provider, at)
	return s.fail(err)
}

// ObjectOwners implements state.Objects.
func (s *Store) ObjectOwners(ctx context.Context, ids []string) (map[string]state.ObjectOwner, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	out := make(map[string]state.ObjectOwner, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if state.ValidID(id) {
			valid = append(valid, id)
		}
	}
	rows, err := s.pool.Query(ctx, "SELECT id, tenant, provider, created_at FROM objects WHERE id = ANY($1)", valid)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var o state.ObjectOwner
		if err := rows.Scan(&id, &o.Tenant, &o.Provider, &o.Created); err != nil {
			return nil, s.fail(err)
		}
		o.Created = o.Created.UTC()
		out[id] = o
	}
	return out, s.fail(rows.Err())
}

// ReleaseObject implements state.Objects.
func (s *Store) ReleaseObject(ctx context.Context, tenant, id string) error {
	if err := s.enter(); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, "DELETE FROM objects WHERE id = $1 AND tenant = $2", id, tenant)
	return s.fail(err)
}
