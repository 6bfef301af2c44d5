package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
)

// Export implements state.Snapshots: every object, read in one
// repeatable-read transaction, so the records are a consistent snapshot
// of the database.
func (s *Store) Export(ctx context.Context, fn func(*state.Record) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return s.fail(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	for _, step := range []struct {
		sql  string
		scan func(pgx.Rows) (*state.Record, error)
	}{
		{"SELECT body, revision FROM agents ORDER BY tenant, id", func(r pgx.Rows) (*state.Record, error) {
			var body []byte
			var rev int64
			if err := r.Scan(&body, &rev); err != nil {
				return nil, err
			}
			a, err := decodeAgent(body, rev, "")
			return &state.Record{Agent: a}, err
		}},
		{"SELECT version, body FROM agent_versions ORDER BY tenant, agent_id, version", func(r pgx.Rows) (*state.Record, error) {
			var n int
			var body []byte
			if err := r.Scan(&n, &body); err != nil {
				return nil, err
			}
			v, err := decodeVersion(n, body)
			return &state.Record{Version: v}, err
		}},
		{"SELECT body FROM api_keys ORDER BY id", func(r pgx.Rows) (*state.Record, error) {
			k, err := jsonRow[state.APIKey](r)
			return &state.Record{Key: k}, err
		}},
		{"SELECT id, seen_ns FROM declared_keys ORDER BY id", func(r pgx.Rows) (*state.Record, error) {
			d := new(state.DeclaredKeyRecord)
			var ns int64
			err := r.Scan(&d.ID, &ns)
			d.Seen = time.Unix(0, ns).UTC()
			return &state.Record{Declared: d}, err
		}},
		{"SELECT body FROM tiers ORDER BY name", func(r pgx.Rows) (*state.Record, error) {
			t, err := jsonRow[state.Tier](r)
			return &state.Record{Tier: t}, err
		}},
	} {
		if err := exportRows(ctx, tx, step.sql, step.scan, fn); err != nil {
			return s.fail(err)
		}
	}
	if err := exportSessions(ctx, tx, fn); err != nil {
		return s.fail(err)
	}
	for _, step := range []struct {
		sql  string
		scan func(pgx.Rows) (*state.Record, error)
	}{
		{"SELECT status, body FROM runs ORDER BY tenant, id", func(r pgx.Rows) (*state.Record, error) {
			var status string
			var body []byte
			if err := r.Scan(&status, &body); err != nil {
				return nil, err
			}
			run, err := decodeRun(body, status, "")
			return &state.Record{Run: run}, err
		}},
		{usageSelect + " ORDER BY seq", func(r pgx.Rows) (*state.Record, error) {
			u, err := scanUsage(r)
			return &state.Record{Usage: &u}, err
		}},
		{"SELECT scope, month, tokens, spend_micros FROM counters ORDER BY scope, month", func(r pgx.Rows) (*state.Record, error) {
			c := new(state.CounterRecord)
			var spend int64
			err := r.Scan(&c.Scope, &c.Month, &c.Tokens, &spend)
			c.Spend = pricing.Micros(spend)
			return &state.Record{Counter: c}, err
		}},
		{"SELECT tenant, name, n FROM counts ORDER BY tenant, name", func(r pgx.Rows) (*state.Record, error) {
			c := new(state.CountRecord)
			return &state.Record{Count: c}, r.Scan(&c.Tenant, &c.Name, &c.N)
		}},
		{"SELECT body, embedding FROM memories ORDER BY tenant, agent_id, id", func(r pgx.Rows) (*state.Record, error) {
			m, err := scanMemory(r)
			return &state.Record{Memory: m}, err
		}},
		{"SELECT tenant, agent_id, conversations, responses, response_ms, up, down FROM agent_stats ORDER BY tenant, agent_id", func(r pgx.Rows) (*state.Record, error) {
			st := new(state.StatsRecord)
			return &state.Record{Stats: st}, r.Scan(&st.Tenant, &st.AgentID, &st.Conversations, &st.Responses, &st.ResponseMs, &st.Up, &st.Down)
		}},
		{"SELECT body FROM turn_records ORDER BY tenant, agent_id, run_id", func(r pgx.Rows) (*state.Record, error) {
			t, err := jsonRow[state.TurnRecord](r)
			return &state.Record{Turn: t}, err
		}},
	} {
		if err := exportRows(ctx, tx, step.sql, step.scan, fn); err != nil {
			return s.fail(err)
		}
	}
	if err := exportDocuments(ctx, tx, fn); err != nil {
		return s.fail(err)
	}
	for _, step := range []struct {
		sql  string
		scan func(pgx.Rows) (*state.Record, error)
	}{
		{"SELECT tenant, name, documents, chunks, revision, updated_at FROM sources ORDER BY tenant, name", func(r pgx.Rows) (*state.Record, error) {
			var tenant string
			var info state.SourceInfo
			err := r.Scan(&tenant, &info.Name, &info.Documents, &info.Chunks, &info.Revision, &info.Updated)
			info.Updated = info.Updated.UTC()
			return &state.Record{Source: &state.SourceRecord{Tenant: tenant, SourceInfo: info}}, err
		}},
		{"SELECT body FROM responses ORDER BY tenant, id", func(r pgx.Rows) (*state.Record, error) {
			resp, err := jsonRow[state.StoredResponse](r)
			return &state.Record{Response: resp}, err
		}},
	} {
		if err := exportRows(ctx, tx, step.sql, step.scan, fn); err != nil {
			return s.fail(err)
		}
	}
	if err := exportConversations(ctx, tx, fn); err != nil {
		return s.fail(err)
	}
	err = exportRows(ctx, tx, "SELECT id, tenant, provider, created_at FROM objects ORDER BY id", func(r pgx.Rows) (*state.Record, error) {
		o := new(state.ObjectRecord)
		err := r.Scan(&o.ID, &o.Tenant, &o.Provider, &o.Created)
		o.Created = o.Created.UTC()
		return &state.Record{Object: o}, err
	}, fn)
	return s.fail(err)
}

// exportConversations reads conversations with their items in one
// ordered query.
func exportConversations(ctx context.Context, tx pgx.Tx, fn func(*state.Record) error) error {
	rows, err := tx.Query(ctx, `SELECT c.tenant, c.id, c.metadata, c.created_at, c.last_seq, i.id, i.seq, i.item
		FROM conversations c LEFT JOIN conversation_items i ON i.tenant = c.tenant AND i.conversation = c.id
		ORDER BY c.tenant, c.id, i.seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var cur *state.ConversationRecord
	flush := func() error {
		if cur == nil {
			return nil
		}
		rec := &state.Record{Conversation: cur}
		cur = nil
		return fn(rec)
	}
	for rows.Next() {
		var c state.Conversation
		var metadata, item []byte
		var itemID *string
		var seq *int64
		if err := rows.Scan(&c.Tenant, &c.ID, &metadata, &c.Created, &c.LastSeq, &itemID, &seq, &item); err != nil {
			return err
		}
		if cur == nil || cur.Tenant != c.Tenant || cur.ID != c.ID {
			if err := flush(); err != nil {
				return err
			}
			c.Created = c.Created.UTC()
			if len(metadata) > 0 {
				c.Metadata = metadata
			}
			cur = &state.ConversationRecord{Conversation: c, Items: []state.ConversationItem{}}
		}
		if itemID != nil && seq != nil {
			cur.Items = append(cur.Items, state.ConversationItem{ID: *itemID, Seq: *seq, Item: item})
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return flush()
}

// exportRows calls fn with each row of sql as scan reads it.
func exportRows(ctx context.Context, tx pgx.Tx, sql string, scan func(pgx.Rows) (*state.Record, error), fn func(*state.Record) error) error {
	rows, err := tx.Query(ctx, sql)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		rec, err := scan(rows)
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return rows.Err()
}

// exportSessions reads sessions with their turns in one ordered query.
func exportSessions(ctx context.Context, tx pgx.Tx, fn func(*state.Record) error) error {
	rows, err := tx.Query(ctx, `SELECT s.tenant, s.agent_id, s.project, s.id, s.created_at, s.updated_at, t.messages
		FROM sessions s LEFT JOIN turns t ON t.tenant = s.tenant AND t.agent_id = s.agent_id AND t.project = s.project AND t.session_id = s.id
		ORDER BY s.tenant, s.agent_id, s.project, s.id, t.seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var cur *state.SessionRecord
	flush := func() error {
		if cur == nil {
			return nil
		}
		cur.Turns = len(cur.Messages)
		rec := &state.Record{Session: cur}
		cur = nil
		return fn(rec)
	}
	for rows.Next() {
		var s state.Session
		var msgs []byte
		if err := rows.Scan(&s.Tenant, &s.AgentID, &s.Project, &s.ID, &s.Created, &s.Updated, &msgs); err != nil {
			return err
		}
		if cur == nil || cur.Key() != s.Key() {
			if err := flush(); err != nil {
				return err
			}
			s.Created, s.Updated = s.Created.UTC(), s.Updated.UTC()
			cur = &state.SessionRecord{Session: s}
		}
		if msgs != nil {
			var turn []adapters.Message
			if err := json.Unmarshal(msgs, &turn); err != nil {
				return fmt.Errorf("state: decode turn of session %q: %w", s.ID, err)
			}
			cur.Messages = append(cur.Messages, turn)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return flush()
}

// exportDocuments reads documents with their chunks in one ordered query.
func exportDocuments(ctx context.Context, tx pgx.Tx, fn func(*state.Record) error) error {
	rows, err := tx.Query(ctx, `SELECT d.tenant, d.id, d.body, c.body, c.vector
		FROM documents d LEFT JOIN chunks c ON c.tenant = d.tenant AND c.source = d.source AND c.doc_id = d.id
		ORDER BY d.tenant, d.id, c.seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var cur *state.DocumentRecord
	var curKey [2]string
	flush := func() error {
		if cur == nil {
			return nil
		}
		rec := &state.Record{Document: cur}
		cur = nil
		return fn(rec)
	}
	for rows.Next() {
		var tenant, id string
		var body, chunk, vec []byte
		if err := rows.Scan(&tenant, &id, &body, &chunk, &vec); err != nil {
			return err
		}
		if cur == nil || curKey != [2]string{tenant, id} {
			if err := flush(); err != nil {
				return err
			}
			cur, curKey = new(state.DocumentRecord), [2]string{tenant, id}
			if err := json.Unmarshal(body, &cur.Document); err != nil {
				return fmt.Errorf("state: decode document %q: %w", id, err)
			}
		}
		if chunk != nil {
			var c state.Chunk
			if err := json.Unmarshal(chunk, &c); err != nil {
				return fmt.Errorf("state: decode chunk of document %q: %w", id, err)
			}
			if c.Vector, err = bytesFloat(vec); err != nil {
				return err
			}
			cur.Chunks = append(cur.Chunks, c)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return flush()
}

// Import implements state.Snapshots: the records are written in one
// transaction (one round trip for the batch), as they were exported.
func (s *Store) Import(ctx context.Context, recs []*state.Record) error {
	if err := s.enter(); err != nil {
		return err
	}
	b := &pgx.Batch{}
	for _, r := range recs {
		if err := state.CheckRecord(r); err != nil {
			return fmt.Errorf("state: import %s: %w", r.Kind(), err)
		}
		if err := queueImport(b, r); err != nil {
			return fmt.Errorf("state: import %s: %w", r.Kind(), err)
		}
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
	if err != nil {
		return s.fail(err)
	}
	// Whatever was kept fresh by changes is stale now.
	s.feed.Publish(state.Change{Kind: state.ChangeGap, Live: true, Local: true})
	return nil
}

func queueImport(b *pgx.Batch, r *state.Record) error {
	js := func(v any) (string, error) {
		body, err := json.Marshal(v)
		return string(body), err
	}
	switch {
	case r.Agent != nil:
		a := r.Agent
		body, err := js(a)
		b.Queue(`INSERT INTO agents (tenant, id, revision, created_at, body) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (tenant, id) DO UPDATE SET revision = excluded.revision, created_at = excluded.created_at, body = excluded.body`,
			a.Tenant, a.ID, a.Revision, a.CreatedAt, body)
		return err
	case r.Version != nil:
		v := r.Version
		body, err := js(v)
		b.Queue(`INSERT INTO agent_versions (tenant, agent_id, version, body) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant, agent_id, version) DO UPDATE SET body = excluded.body`, v.Tenant, v.AgentID, v.Version, body)
		return err
	case r.Key != nil:
		k := r.Key
		body, err := js(k)
		b.Queue(`INSERT INTO api_keys (id, hash, created_at, body) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, created_at = excluded.created_at, body = excluded.body`,
			k.ID, k.Hash[:], k.Created, body)
		return err
	case r.Declared != nil:
		b.Queue(`INSERT INTO declared_keys (id, seen_ns) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET seen_ns = excluded.seen_ns`,
			r.Declared.ID, r.Declared.Seen.UnixNano())
	case r.Tier != nil:
		body, err := js(r.Tier)
		b.Queue(`INSERT INTO tiers (name, body) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET body = excluded.body`, r.Tier.Name, body)
		return err
	case r.Session != nil:
		sr := r.Session
		k := sr.Key()
		b.Queue(`INSERT INTO sessions (tenant, agent_id, project, id, turns, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (tenant, agent_id, project, id) DO UPDATE SET turns = excluded.turns, created_at = excluded.created_at, updated_at = excluded.updated_at`,
			k.Tenant, k.AgentID, k.Project, k.ID, len(sr.Messages), sr.Created, sr.Updated)
		b.Queue(`DELETE FROM turns WHERE tenant = $1 AND agent_id = $2 AND project = $3 AND session_id = $4`, k.Tenant, k.AgentID, k.Project, k.ID)
		seqs := make([]int32, len(sr.Messages))
		bodies := make([]string, len(sr.Messages))
		for i, msgs := range sr.Messages {
			body, err := js(msgs)
			if err != nil {
				return err
			}
			seqs[i], bodies[i] = int32(i+1), body
		}
		b.Queue(`INSERT INTO turns (tenant, agent_id, project, session_id, seq, messages)
			SELECT $1, $2, $3, $4, * FROM unnest($5::int[], $6::json[])`, k.Tenant, k.AgentID, k.Project, k.ID, seqs, bodies)
	case r.Run != nil:
		run := r.Run
		body, err := js(run)
		b.Queue(`INSERT INTO runs (tenant, id, status, expires_at, body) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (tenant, id) DO UPDATE SET status = excluded.status, expires_at = excluded.expires_at, body = excluded.body`,
			run.Tenant, run.ID, run.Status, run.Expires, body)
		return err
	case r.Usage != nil:
		u := r.Usage
		var cost *int64
		if u.Cost != nil {
			n := int64(*u.Cost)
			cost = &n
		}
		b.Queue(`INSERT INTO usage (id, at, tenant, key_id, dialect, agent_id, model, provider, session_id, parent_id,
			input_tokens, output_tokens, reasoning_tokens, cached_tokens, estimated, latency_ms, status, cost_micros, error)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
			ON CONFLICT (id) WHERE id <> '' DO NOTHING`,
			u.ID, u.Time, u.Tenant, u.KeyID, u.Dialect, u.AgentID, u.Model, u.Provider, u.SessionID, u.ParentID,
			u.InputTokens, u.OutputTokens, u.ReasoningTokens, u.CachedTokens, u.Estimated, u.LatencyMs, u.Status, cost, u.Error)
	case r.Counter != nil:
		c := r.Counter
		b.Queue(`INSERT INTO counters (scope, month, tokens, spend_micros) VALUES ($1, $2, $3, $4)
			ON CONFLICT (scope, month) DO UPDATE SET tokens = excluded.tokens, spend_micros = excluded.spend_micros`,
			c.Scope, c.Month, c.Tokens, int64(c.Spend))
	case r.Count != nil:
		c := r.Count
		b.Queue(`INSERT INTO counts (tenant, name, n) VALUES ($1, $2, $3) ON CONFLICT (tenant, name) DO UPDATE SET n = excluded.n`, c.Tenant, c.Name, c.N)
	case r.Memory != nil:
		m := r.Memory
		body, err := js(m)
		b.Queue(`INSERT INTO memories (tenant, agent_id, id, user_id, created_at, body, embedding) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (tenant, agent_id, id) DO UPDATE SET user_id = excluded.user_id, created_at = excluded.created_at,
				body = excluded.body, embedding = excluded.embedding`,
			m.Tenant, m.AgentID, m.ID, m.UserID, m.Created, body, floatBytes(m.Embedding))
		return err
	case r.Stats != nil:
		st := r.Stats
		b.Queue(`INSERT INTO agent_stats (tenant, agent_id, conversations, responses, response_ms, up, down) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (tenant, agent_id) DO UPDATE SET conversations = excluded.conversations, responses = excluded.responses,
				response_ms = excluded.response_ms, up = excluded.up, down = excluded.down`,
			st.Tenant, st.AgentID, st.Conversations, st.Responses, st.ResponseMs, st.Up, st.Down)
	case r.Turn != nil:
		t := r.Turn
		body, err := js(t)
		b.Queue(`INSERT INTO turn_records (tenant, agent_id, run_id, body) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant, agent_id, run_id) DO UPDATE SET body = excluded.body`, t.Tenant, t.AgentID, t.RunID, body)
		return err
	case r.Document != nil:
		d := r.Document
		body, err := js(&d.Document)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO documents (tenant, id, source, created_at, body) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (tenant, id) DO UPDATE SET source = excluded.source, created_at = excluded.created_at, body = excluded.body`,
			d.Tenant, d.ID, d.Source, d.Created, body)
		b.Queue(`DELETE FROM chunks WHERE tenant = $1 AND doc_id = $2`, d.Tenant, d.ID)
		seqs := make([]int32, len(d.Chunks))
		bodies := make([]string, len(d.Chunks))
		vectors := make([][]byte, len(d.Chunks))
		for i := range d.Chunks {
			c := &d.Chunks[i]
			cb, err := js(c)
			if err != nil {
				return err
			}
			seqs[i], bodies[i], vectors[i] = int32(c.Seq), cb, floatBytes(c.Vector)
		}
		b.Queue(`INSERT INTO chunks (tenant, source, doc_id, seq, body, vector)
			SELECT $1, $2, $3, * FROM unnest($4::int[], $5::json[], $6::bytea[])`, d.Tenant, d.Source, d.ID, seqs, bodies, vectors)
	case r.Source != nil:
		src := r.Source
		b.Queue(`INSERT INTO sources (tenant, name, documents, chunks, revision, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (tenant, name) DO UPDATE SET documents = excluded.documents, chunks = excluded.chunks,
				revision = excluded.revision, updated_at = excluded.updated_at`,
			src.Tenant, src.Name, src.Documents, src.Chunks, int64(src.Revision), src.Updated)
	case r.Response != nil:
		resp := r.Response
		body, err := js(resp)
		b.Queue(`INSERT INTO responses (tenant, id, body) VALUES ($1, $2, $3) ON CONFLICT (tenant, id) DO UPDATE SET body = excluded.body`,
			resp.Tenant, resp.ID, body)
		return err
	case r.Conversation != nil:
		c := r.Conversation
		b.Queue(`INSERT INTO conversations (tenant, id, metadata, created_at, last_seq) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (tenant, id) DO UPDATE SET metadata = excluded.metadata, created_at = excluded.created_at, last_seq = excluded.last_seq`,
			c.Tenant, c.ID, nullJSON(c.Metadata), c.Created, c.LastSeq)
		b.Queue(`DELETE FROM conversation_items WHERE tenant = $1 AND conversation = $2`, c.Tenant, c.ID)
		seqs := make([]int64, len(c.Items))
		ids := make([]string, len(c.Items))
		bodies := make([]string, len(c.Items))
		for i, it := range c.Items {
			seqs[i], ids[i], bodies[i] = it.Seq, it.ID, string(it.Item)
		}
		b.Queue(`INSERT INTO conversation_items (tenant, conversation, seq, id, item)
			SELECT $1, $2, * FROM unnest($3::bigint[], $4::text[], $5::json[])`, c.Tenant, c.ID, seqs, ids, bodies)
	case r.Object != nil:
		o := r.Object
		b.Queue(`INSERT INTO objects (id, tenant, provider, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant, provider = excluded.provider, created_at = excluded.created_at`,
			o.ID, o.Tenant, o.Provider, o.Created)
	default:
		return fmt.Errorf("empty record")
	}
	return nil
}
