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

// PutDocument creates or replaces a document and its chunks in one
// transaction, moving on the revision of each source it changes.
func (s *Store) PutDocument(ctx context.Context, d *state.Document, chunks []state.Chunk) error {
	if err := s.enter(); err != nil {
		return err
	}
	switch {
	case !state.ValidName(d.Tenant):
		return state.InvalidID("tenant", d.Tenant)
	case !state.ValidID(d.ID):
		return state.InvalidID("document id", d.ID)
	case !state.ValidID(d.Source):
		return state.InvalidID("knowledge source", d.Source)
	}
	body, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("state: encode document %q: %w", d.ID, err)
	}
	seqs := make([]int32, len(chunks))
	bodies := make([]string, len(chunks))
	vectors := make([][]byte, len(chunks))
	for i := range chunks {
		c := &chunks[i]
		if c.DocID != d.ID {
			return fmt.Errorf("state: chunk %q belongs to document %q, not %q", c.ID, c.DocID, d.ID)
		}
		cb, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("state: encode chunk %q: %w", c.ID, err)
		}
		seqs[i], bodies[i], vectors[i] = int32(c.Seq), string(cb), floatBytes(c.Vector)
	}
	return s.fail(s.inTx(ctx, func(tx pgx.Tx) error {
		var prev []byte
		switch err := tx.QueryRow(ctx, "SELECT body FROM documents WHERE tenant = $1 AND id = $2 FOR UPDATE", d.Tenant, d.ID).Scan(&prev); {
		case err == nil:
			var old state.Document
			if err := json.Unmarshal(prev, &old); err != nil {
				return fmt.Errorf("state: decode document %q: %w", d.ID, err)
			}
			if _, err := tx.Exec(ctx, "DELETE FROM chunks WHERE tenant = $1 AND source = $2 AND doc_id = $3", d.Tenant, old.Source, d.ID); err != nil {
				return err
			}
			if err := bumpSource(ctx, tx, d.Tenant, old.Source, -1, -old.Chunks, d.Updated); err != nil {
				return err
			}
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO documents (tenant, id, source, created_at, body) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (tenant, id) DO UPDATE SET source = excluded.source, created_at = excluded.created_at, body = excluded.body`,
			d.Tenant, d.ID, d.Source, d.Created, body); err != nil {
			return err
		}
		if len(chunks) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO chunks (tenant, source, doc_id, seq, body, vector)
				SELECT $1, $2, $3, * FROM unnest($4::int[], $5::json[], $6::bytea[])`, d.Tenant, d.Source, d.ID, seqs, bodies, vectors); err != nil {
				return err
			}
		}
		return bumpSource(ctx, tx, d.Tenant, d.Source, 1, len(chunks), d.Updated)
	}))
}

// bumpSource adds to a source's counts and moves its revision on. The
// row stays when the source empties, so its revision never goes back to
// a value an index was built at.
func bumpSource(ctx context.Context, tx pgx.Tx, tenant, source string, docs, chunks int, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO sources (tenant, name, documents, chunks, revision, updated_at) VALUES ($1, $2, greatest($3, 0), greatest($4, 0), 1, $5)
		ON CONFLICT (tenant, name) DO UPDATE SET documents = greatest(sources.documents + $3, 0), chunks = greatest(sources.chunks + $4, 0),
			revision = sources.revision + 1, updated_at = $5`, tenant, source, docs, chunks, now)
	return err
}

// GetDocument returns tenant's document id, or state.ErrNotFound.
func (s *Store) GetDocument(ctx context.Context, tenant, id string) (*state.Document, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if !state.ValidName(tenant) || !state.ValidID(id) {
		return nil, state.ErrNotFound
	}
	rows, err := s.pool.Query(ctx, "SELECT body FROM documents WHERE tenant = $1 AND id = $2", tenant, id)
	if err != nil {
		return nil, s.fail(err)
	}
	d, err := pgx.CollectExactlyOneRow(rows, jsonRow[state.Document])
	return d, s.fail(err)
}

// ListDocuments returns tenant's documents of source (of every source
// when empty), by creation time, then id.
func (s *Store) ListDocuments(ctx context.Context, tenant, source string) ([]*state.Document, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if !state.ValidName(tenant) || !state.ValidName(source) {
		return nil, nil
	}
	var rows pgx.Rows
	var err error
	if source == "" {
		rows, err = s.pool.Query(ctx, "SELECT body FROM documents WHERE tenant = $1 ORDER BY created_at, id", tenant)
	} else {
		rows, err = s.pool.Query(ctx, "SELECT body FROM documents WHERE tenant = $1 AND source = $2 ORDER BY created_at, id", tenant, source)
	}
	if err != nil {
		return nil, s.fail(err)
	}
	list, err := pgx.CollectRows(rows, jsonRow[state.Document])
	if len(list) == 0 {
		list = nil
	}
	return list, s.fail(err)
}

// DeleteDocument removes tenant's document id and its chunks.
func (s *Store) DeleteDocument(ctx context.Context, tenant, id string, at time.Time) error {
	if err := s.enter(); err != nil {
		return err
	}
	if !state.ValidName(tenant) || !state.ValidID(id) {
		return state.ErrNotFound
	}
	return s.fail(s.inTx(ctx, func(tx pgx.Tx) error {
		var body []byte
		if err := tx.QueryRow(ctx, "DELETE FROM documents WHERE tenant = $1 AND id = $2 RETURNING body", tenant, id).Scan(&body); err != nil {
			return err
		}
		var d state.Document
		if err := json.Unmarshal(body, &d); err != nil {
			return fmt.Errorf("state: decode document %q: %w", id, err)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM chunks WHERE tenant = $1 AND source = $2 AND doc_id = $3", tenant, d.Source, id); err != nil {
			return err
		}
		return bumpSource(ctx, tx, tenant, d.Source, -1, -d.Chunks, at.UTC())
	}))
}

// ListSources returns tenant's knowledge sources that hold documents.
func (s *Store) ListSources(ctx context.Context, tenant string) ([]state.SourceInfo, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if !state.ValidName(tenant) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT name, documents, chunks, revision, updated_at FROM sources
		WHERE tenant = $1 AND documents > 0 ORDER BY name`, tenant)
	if err != nil {
		return nil, s.fail(err)
	}
	list, err := pgx.CollectRows(rows, scanSource)
	if len(list) == 0 {
		list = nil
	}
	return list, s.fail(err)
}

func scanSource(row pgx.CollectableRow) (state.SourceInfo, error) {
	var info state.SourceInfo
	err := row.Scan(&info.Name, &info.Documents, &info.Chunks, &info.Revision, &info.Updated)
	info.Updated = info.Updated.UTC()
	return info, err
}

// SourceRevision returns the revision of tenant's source.
func (s *Store) SourceRevision(ctx context.Context, tenant, source string) (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	if !state.ValidName(tenant) || !state.ValidID(source) {
		return 0, nil
	}
	var rev int64
	err := s.pool.QueryRow(ctx, "SELECT revision FROM sources WHERE tenant = $1 AND name = $2", tenant, source).Scan(&rev)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return uint64(rev), s.fail(err)
}

// ScanChunks calls fn with every chunk of tenant's source, by document
// id, then sequence.
func (s *Store) ScanChunks(ctx context.Context, tenant, source string, fn func(*state.Chunk) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	if !state.ValidName(tenant) || !state.ValidID(source) {
		return nil
	}
	rows, err := s.pool.Query(ctx, "SELECT body, vector FROM chunks WHERE tenant = $1 AND source = $2 ORDER BY doc_id, seq", tenant, source)
	if err != nil {
		return s.fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var body, vec []byte
		if err := rows.Scan(&body, &vec); err != nil {
			return s.fail(err)
		}
		c := new(state.Chunk)
		if err := json.Unmarshal(body, c); err != nil {
			return fmt.Errorf("state: decode chunk: %w", err)
		}
		if c.Vector, err = bytesFloat(vec); err != nil {
			return fmt.Errorf("state: chunk %q: %w", c.ID, err)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return s.fail(rows.Err())
}
