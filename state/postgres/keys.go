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

// PutKey creates or replaces an API key record; state.ErrExists when
// another key id has its hash. The change names the old hash too, so
// every instance stops accepting it.
func (s *Store) PutKey(ctx context.Context, k *state.APIKey) error {
	if err := s.enter(); err != nil {
		return err
	}
	if !state.ValidID(k.ID) {
		return state.InvalidID("key id", k.ID)
	}
	if !state.ValidName(k.Tenant) {
		return state.InvalidID("tenant", k.Tenant)
	}
	body, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("state: encode key %q: %w", k.ID, err)
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		change := state.Change{Kind: state.ChangeKey, ID: k.ID, Keys: [][32]byte{k.Hash}}
		var old []byte
		switch err := tx.QueryRow(ctx, "SELECT hash FROM api_keys WHERE id = $1 FOR UPDATE", k.ID).Scan(&old); {
		case err == nil:
			if h := [32]byte(old); h != k.Hash {
				change.Keys = append(change.Keys, h)
			}
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, hash, created_at, body) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, created_at = excluded.created_at, body = excluded.body`,
			k.ID, k.Hash[:], k.Created, body)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, notifySQL, s.payload(change))
		return err
	})
	if isUniqueViolation(err, "api_keys_hash_key") {
		return fmt.Errorf("state: key %q: its hash belongs to another key: %w", k.ID, state.ErrExists)
	}
	return s.fail(err)
}

// KeyByHash returns the key whose secret hashes to hash, or
// state.ErrNotFound.
func (s *Store) KeyByHash(ctx context.Context, hash [32]byte) (*state.APIKey, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	return s.key(ctx, "SELECT body FROM api_keys WHERE hash = $1", hash[:])
}

// GetKey returns the key with this id, or state.ErrNotFound.
func (s *Store) GetKey(ctx context.Context, id string) (*state.APIKey, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if !state.ValidID(id) {
		return nil, state.ErrNotFound
	}
	return s.key(ctx, "SELECT body FROM api_keys WHERE id = $1", id)
}

func (s *Store) key(ctx context.Context, sql string, arg any) (*state.APIKey, error) {
	var body []byte
	if err := s.pool.QueryRow(ctx, sql, arg).Scan(&body); err != nil {
		return nil, s.fail(err)
	}
	k := new(state.APIKey)
	if err := json.Unmarshal(body, k); err != nil {
		return nil, fmt.Errorf("state: decode key: %w", err)
	}
	return k, nil
}

// ListKeys returns every key ordered by creation time, then id.
func (s *Store) ListKeys(ctx context.Context) ([]*state.APIKey, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, "SELECT body FROM api_keys ORDER BY created_at, id")
	if err != nil {
		return nil, s.fail(err)
	}
	list, err := pgx.CollectRows(rows, jsonRow[state.APIKey])
	return list, s.fail(err)
}

// jsonRow decodes a row of one JSON column.
func jsonRow[T any](row pgx.CollectableRow) (*T, error) {
	var body []byte
	if err := row.Scan(&body); err != nil {
		return nil, err
	}
	v := new(T)
	if err := json.Unmarshal(body, v); err != nil {
		return nil, fmt.Errorf("state: decode %T: %w", v, err)
	}
	return v, nil
}

// DeleteKey removes a key, or returns state.ErrNotFound.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	if err := s.enter(); err != nil {
		return err
	}
	if !state.ValidID(id) {
		return state.ErrNotFound
	}
	return s.fail(s.inTx(ctx, func(tx pgx.Tx) error {
		var hash []byte
		if err := tx.QueryRow(ctx, "DELETE FROM api_keys WHERE id = $1 RETURNING hash", id).Scan(&hash); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, notifySQL, s.payload(state.Change{Kind: state.ChangeKey, ID: id, Keys: [][32]byte{[32]byte(hash)}}))
		return err
	}))
}

// DeclaredKeysSeen records the ids never seen before at at and returns
// every id's first sighting, in one round trip; of instances recording
// an id at once the first insert wins. The ids are inserted in order, so
// instances starting together lock them in the same order (in the
// configuration's order, two of them deadlocked: one failed to start).
func (s *Store) DeclaredKeysSeen(ctx context.Context, ids []string, at time.Time) (map[string]time.Time, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if !state.ValidID(id) {
			return nil, state.InvalidID("key id", id)
		}
	}
	out := make(map[string]time.Time, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	b := &pgx.Batch{}
	b.Queue("INSERT INTO declared_keys (id, seen_ns) SELECT id, $2 FROM unnest($1::text[]) AS id ORDER BY id ON CONFLICT (id) DO NOTHING", ids, at.UnixNano())
	b.Queue("SELECT id, seen_ns FROM declared_keys WHERE id = ANY($1)", ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id string
			var seen int64
			if err := rows.Scan(&id, &seen); err != nil {
				return err
			}
			out[id] = time.Unix(0, seen).UTC()
		}
		return rows.Err()
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, s.fail(err)
	}
	return out, nil
}
