package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentgate/agentgate/state"
)

// PutRun creates or replaces a run. Its status is kept in a column of its
// own, which ClaimRun compares and sets; the body's is ignored on read.
func (s *Store) PutRun(ctx context.Context, r *state.Run) error {
	if err := s.enter(); err != nil {
		return err
	}
	if !state.ValidID(r.ID) || !state.ValidName(r.Tenant) {
		return state.InvalidID("run", r.ID)
	}
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("state: encode run %q: %w", r.ID, err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO runs (tenant, id, status, expires_at, body) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tenant, id) DO UPDATE SET status = excluded.status, expires_at = excluded.expires_at, body = excluded.body`,
		r.Tenant, r.ID, r.Status, r.Expires, body)
	return s.fail(err)
}

// GetRun returns tenant's run id, or state.ErrNotFound.
func (s *Store) GetRun(ctx context.Context, tenant, id string) (*state.Run, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if !state.ValidID(id) || !state.ValidName(tenant) {
		return nil, state.ErrNotFound
	}
	var status string
	var body []byte
	if err := s.pool.QueryRow(ctx, "SELECT status, body FROM runs WHERE tenant = $1 AND id = $2", tenant, id).Scan(&status, &body); err != nil {
		return nil, s.fail(err)
	}
	return decodeRun(body, status, id)
}

func decodeRun(body []byte, status, id string) (*state.Run, error) {
	r := new(state.Run)
	if err := json.Unmarshal(body, r); err != nil {
		return nil, fmt.Errorf("state: decode run %q: %w", id, err)
	}
	r.Status = status
	return r, nil
}

// ClaimRun moves tenant's paused run to status in one statement that
// compares and sets the status: of concurrent claims, on any instances,
// the database lets one through.
func (s *Store) ClaimRun(ctx context.Context, tenant, id, status string) (*state.Run, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if !state.ValidID(id) || !state.ValidName(tenant) {
		return nil, state.ErrNotFound
	}
	var body []byte
	err := s.pool.QueryRow(ctx, `UPDATE runs SET status = $3 WHERE tenant = $1 AND id = $2 AND status = $4 RETURNING body`,
		tenant, id, status, state.RunPaused).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		var now string
		err = s.pool.QueryRow(ctx, "SELECT status FROM runs WHERE tenant = $1 AND id = $2", tenant, id).Scan(&now)
		if err == nil {
			return nil, fmt.Errorf("state: run %q is %s: %w", id, now, state.ErrConflict)
		}
		return nil, s.fail(err)
	}
	if err != nil {
		return nil, s.fail(err)
	}
	return decodeRun(body, state.RunPaused, id)
}

// SweepRuns removes the runs that expired before t (an indexed range).
func (s *Store) SweepRuns(ctx context.Context, t time.Time) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM runs WHERE expires_at < $1", t)
	if err != nil {
		return 0, s.fail(err)
	}
	return int(tag.RowsAffected()), nil
}
