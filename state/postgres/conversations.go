package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/agentgate/agentgate/state"
)

func checkConversation(tenant, id string) error {
	if !state.ValidName(tenant) {
		return state.InvalidID("tenant", tenant)
	}
	if !state.ValidID(id) {
		return state.InvalidID("conversation id", id)
	}
	return nil
}

// nullJSON is raw, or SQL NULL when it is empty.
func nullJSON(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

// insertItems numbers items after last and queues their rows.
func insertItems(ctx context.Context, tx pgx.Tx, tenant, id string, last int64, items []state.ConversationItem) ([]state.ConversationItem, int64, error) {
	out := make([]state.ConversationItem, len(items))
	seqs := make([]int64, len(items))
	ids := make([]string, len(items))
	bodies := make([]string, len(items))
	for i, it := range items {
		if !state.ValidID(it.ID) {
			return nil, 0, state.InvalidID("conversation item id", it.ID)
		}
		last++
		it.Seq = last
		out[i], seqs[i], ids[i], bodies[i] = it, it.Seq, it.ID, string(it.Item)
	}
	if len(items) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO conversation_items (tenant, conversation, seq, id, item)
			SELECT $1, $2, * FROM unnest($3::bigint[], $4::text[], $5::json[])`, tenant, id, seqs, ids, bodies); err != nil {
			return nil, 0, err
		}
	}
	return out, last, nil
}

// CreateConversation implements state.Conversations.
func (s *Store) CreateConversation(ctx context.Context, c *state.Conversation, items []state.ConversationItem) error {
	if err := s.enter(); err != nil {
		return err
	}
	if err := checkConversation(c.Tenant, c.ID); err != nil {
		return err
	}
	var last int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO conversations (tenant, id, metadata, created_at, last_seq) VALUES ($1, $2, $3, $4, 0)
			ON CONFLICT (tenant, id) DO NOTHING`, c.Tenant, c.ID, nullJSON(c.Metadata), c.Created)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return state.ErrExists
		}
		if _, last, err = insertItems(ctx, tx, c.Tenant, c.ID, 0, items); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE conversations SET last_seq = $3 WHERE tenant = $1 AND id = $2`, c.Tenant, c.ID, last)
		return err
	})
	if errors.Is(err, state.ErrExists) || errors.Is(err, state.ErrInvalidID) {
		return err
	}
	if err != nil {
		return s.fail(err)
	}
	c.LastSeq = last
	return nil
}

const conversationColumns = "tenant, id, metadata, created_at, last_seq"

func scanConversation(row pgx.Row) (*state.Conversation, error) {
	c := new(state.Conversation)
	var metadata []byte
	if err := row.Scan(&c.Tenant, &c.ID, &metadata, &c.Created, &c.LastSeq); err != nil {
		return nil, err
	}
	c.Created = c.Created.UTC()
	if len(metadata) > 0 {
		c.Metadata = metadata
	}
	return c, nil
}

// GetConversation implements state.Conversations.
func (s *Store) GetConversation(ctx context.Context, tenant, id string) (*state.Conversation, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if checkConversation(tenant, id) != nil {
		return nil, state.ErrNotFound
	}
	c, err := scanConversation(s.pool.QueryRow(ctx, "SELECT "+conversationColumns+" FROM conversations WHERE tenant = $1 AND id = $2", tenant, id))
	return c, s.fail(err)
}

// SetConversationMetadata implements state.Conversations.
func (s *Store) SetConversationMetadata(ctx context.Context, tenant, id string, metadata json.RawMessage) (*state.Conversation, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if checkConversation(tenant, id) != nil {
		return nil, state.ErrNotFound
	}
	c, err := scanConversation(s.pool.QueryRow(ctx, `UPDATE conversations SET metadata = $3 WHERE tenant = $1 AND id = $2
		RETURNING `+conversationColumns, tenant, id, nullJSON(metadata)))
	return c, s.fail(err)
}

// DeleteConversation implements state.Conversations; its items go with it
// (ON DELETE CASCADE).
func (s *Store) DeleteConversation(ctx context.Context, tenant, id string) error {
	if err := s.enter(); err != nil {
		return err
	}
	if checkConversation(tenant, id) != nil {
		return state.ErrNotFound
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM conversations WHERE tenant = $1 AND id = $2", tenant, id)
	if err != nil {
		return s.fail(err)
	}
	if tag.RowsAffected() == 0 {
		return state.ErrNotFound
	}
	return nil
}

// AppendConversationItems implements state.Conversations: the
// conversation's row is locked while its items are numbered, so
// concurrent appends (on any instance) each get their own places.
func (s *Store) AppendConversationItems(ctx context.Context, tenant, id string, items []state.ConversationItem) ([]state.ConversationItem, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if checkConversation(tenant, id) != nil {
		return nil, state.ErrNotFound
	}
	var out []state.ConversationItem
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var last int64
		if err := tx.QueryRow(ctx, "SELECT last_seq FROM conversations WHERE tenant = $1 AND id = $2 FOR UPDATE", tenant, id).Scan(&last); err != nil {
			return err
		}
		var err error
		if out, last, err = insertItems(ctx, tx, tenant, id, last, items); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE conversations SET last_seq = $3 WHERE tenant = $1 AND id = $2", tenant, id, last)
		return err
	})
	if errors.Is(err, state.ErrInvalidID) {
		return nil, err
	}
	return out, s.fail(err)
}

// ConversationItems implements state.Conversations.
func (s *Store) ConversationItems(ctx context.Context, tenant, id string, page state.ItemPage) ([]state.ConversationItem, bool, error) {
	if err := s.enter(); err != nil {
		return nil, false, err
	}
	if checkConversation(tenant, id) != nil {
		return nil, false, state.ErrNotFound
	}
	var all []state.ConversationItem
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM conversations WHERE tenant = $1 AND id = $2", tenant, id).Scan(&one); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, seq, item FROM conversation_items WHERE tenant = $1 AND conversation = $2 ORDER BY seq`, tenant, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var it state.ConversationItem
			var item []byte
			if err := rows.Scan(&it.ID, &it.Seq, &item); err != nil {
				return err
			}
			it.Item = item
			all = append(all, it)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, false, s.fail(err)
	}
	out, more := state.SelectItems(all, page)
	return out, more, nil
}

// ConversationItem implements state.Conversations.
func (s *Store) ConversationItem(ctx context.Context, tenant, id, itemID string) (*state.ConversationItem, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if checkConversation(tenant, id) != nil {
		return nil, state.ErrNotFound
	}
	it := &state.ConversationItem{ID: itemID}
	var item []byte
	err := s.pool.QueryRow(ctx, `SELECT seq, item FROM conversation_items WHERE tenant = $1 AND conversation = $2 AND id = $3
		ORDER BY seq LIMIT 1`, tenant, id, itemID).Scan(&it.Seq, &item)
	if err != nil {
		return nil, s.fail(err)
	}
	it.Item = item
	return it, nil
}

// DeleteConversationItem implements state.Conversations.
func (s *Store) DeleteConversationItem(ctx context.Context, tenant, id, itemID string) error {
	if err := s.enter(); err != nil {
		return err
	}
	if checkConversation(tenant, id) != nil {
		return state.ErrNotFound
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM conversation_items WHERE tenant = $1 AND conversation = $2 AND seq =
		(SELECT seq FROM conversation_items WHERE tenant = $1 AND conversation = $2 AND id = $3 ORDER BY seq LIMIT 1)`, tenant, id, itemID)
	if err != nil {
		return s.fail(err)
	}
	if tag.RowsAffected() == 0 {
		return state.ErrNotFound
	}
	return nil
}
