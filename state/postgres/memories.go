package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentgate/agentgate/state"
)

// putMemoriesSQL creates or replaces a batch of memories in one INSERT;
// the items come as arrays, one per column.
const putMemoriesSQL = `INSERT INTO memories (tenant, agent_id, id, user_id, created_at, body, embedding)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::json[], $7::bytea[])
ON CONFLICT (tenant, agent_id, id) DO UPDATE SET user_id = excluded.user_id, created_at = excluded.created_at,
	body = excluded.body, embedding = excluded.embedding`

// PutMemories creates or replaces memory items, and tells other instances
// which, in one round trip (a batch runs as one transaction).
func (s *Store) PutMemories(ctx context.Context, items []*state.Memory) error {
	if err := s.enter(); err != nil {
		return err
	}
	if len(items) == 0 {
		return nil
	}
	// One row per key, the last write of it winning, as one INSERT may
	// not touch a row twice.
	type key struct{ tenant, agent, id string }
	last := map[key]int{}
	for i, m := range items {
		if err := state.CheckMemory(m); err != nil {
			return err
		}
		last[key{m.Tenant, m.AgentID, m.ID}] = i
	}
	var tenants, agents, ids, users, bodies []string
	var created []time.Time
	var vectors [][]byte
	byAgent := map[key][]string{}
	var order []key
	for i, m := range items {
		k := key{m.Tenant, m.AgentID, m.ID}
		if last[k] != i {
			continue
		}
		body, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("state: encode memory %q: %w", m.ID, err)
		}
		tenants, agents, ids, users = append(tenants, m.Tenant), append(agents, m.AgentID), append(ids, m.ID), append(users, m.UserID)
		created, bodies, vectors = append(created, m.Created), append(bodies, string(body)), append(vectors, floatBytes(m.Embedding))
		ak := key{m.Tenant, m.AgentID, ""}
		if _, ok := byAgent[ak]; !ok {
			order = append(order, ak)
		}
		byAgent[ak] = append(byAgent[ak], m.ID)
	}
	b := &pgx.Batch{}
	b.Queue(putMemoriesSQL, tenants, agents, ids, users, created, bodies, vectors)
	for _, ak := range order {
		b.Queue(notifySQL, s.payload(state.Change{Kind: state.ChangeMemory, Tenant: ak.tenant, ID: ak.agent, Items: byAgent[ak]}))
	}
	return s.fail(s.pool.SendBatch(ctx, b).Close())
}

// floatBytes is an embedding as stored: little-endian float32s.
func floatBytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	b := make([]byte, 0, 4*len(v))
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

func bytesFloat(b []byte) ([]float32, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("an embedding of %d bytes is not float32s", len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

func scanMemory(row pgx.CollectableRow) (*state.Memory, error) {
	var body, vec []byte
	if err := row.Scan(&body, &vec); err != nil {
		return nil, err
	}
	m := new(state.Memory)
	if err := json.Unmarshal(body, m); err != nil {
		return nil, fmt.Errorf("state: decode memory: %w", err)
	}
	var err error
	if m.Embedding, err = bytesFloat(vec); err != nil {
		return nil, fmt.Errorf("state: memory %q: %w", m.ID, err)
	}
	return m, nil
}

// GetMemories returns those of tenant's memories of agentID with the
// given ids that exist.
func (s *Store) GetMemories(ctx context.Context, tenant, agentID string, ids []string) ([]*state.Memory, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if !state.ValidName(tenant) || !state.ValidID(agentID) || len(ids) == 0 {
		return nil, nil
	}
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if state.ValidID(id) {
			valid = append(valid, id)
		}
	}
	rows, err := s.pool.Query(ctx, "SELECT body, embedding FROM memories WHERE tenant = $1 AND agent_id = $2 AND id = ANY($3)", tenant, agentID, valid)
	if err != nil {
		return nil, s.fail(err)
	}
	list, err := pgx.CollectRows(rows, scanMemory)
	return list, s.fail(err)
}

// ListMemories returns every memory of tenant's agent, oldest first,
// then by id.
func (s *Store) ListMemories(ctx context.Context, tenant, agentID string) ([]*state.Memory, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if !state.ValidName(tenant) || !state.ValidID(agentID) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, "SELECT body, embedding FROM memories WHERE tenant = $1 AND agent_id = $2 ORDER BY created_at, id", tenant, agentID)
	if err != nil {
		return nil, s.fail(err)
	}
	list, err := pgx.CollectRows(rows, scanMemory)
	if len(list) == 0 {
		list = nil
	}
	return list, s.fail(err)
}

// deleteMemoriesSQL removes memories and, when it removed any, tells
// other instances which (the ids asked for; none named: all of them).
const deleteMemoriesSQL = `WITH d AS (
	DELETE FROM memories WHERE tenant = $1 AND agent_id = $2 AND ($3::text[] IS NULL OR id = ANY($3)) RETURNING 1
), c AS (SELECT count(*) AS n FROM d)
SELECT c.n, CASE WHEN c.n > 0 THEN pg_notify('` + changeChannel + `', $4)::text END FROM c`

// DeleteMemories removes tenant's memories of agentID with the given ids
// (all of them when ids is nil) and returns how many it removed.
func (s *Store) DeleteMemories(ctx context.Context, tenant, agentID string, ids []string) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	if !state.ValidName(tenant) || !state.ValidID(agentID) {
		return 0, nil
	}
	var arg []string
	if ids != nil {
		arg = make([]string, 0, len(ids))
		for _, id := range ids {
			if state.ValidID(id) {
				arg = append(arg, id)
			}
		}
	}
	note := s.payload(state.Change{Kind: state.ChangeMemory, Tenant: tenant, ID: agentID, Items: arg})
	var n int
	var sent *string
	if err := s.pool.QueryRow(ctx, deleteMemoriesSQL, tenant, agentID, arg, note).Scan(&n, &sent); err != nil {
		return 0, s.fail(err)
	}
	return n, nil
}
