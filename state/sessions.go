package state

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/adapters"
)

// GetSession returns tenant's session id, or ErrNotFound.
func (b *Bolt) GetSession(ctx context.Context, tenant, id string) (*Session, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !validName(tenant) || !validID(id) {
		return nil, ErrNotFound
	}
	ck := sessionCacheKey(tenant, id)
	if v, ok := b.cache.get(ck); ok {
		s := v.(Session)
		return &s, nil
	}
	token := b.cache.begin(ck)
	var s Session
	err := b.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSessions).Get(join(tenant, id))
		if v == nil {
			return ErrNotFound
		}
		return decode(v, &s, "session", id)
	})
	if err != nil {
		return nil, err
	}
	b.cache.fill(ck, token, s)
	return &s, nil
}

// AppendTurn adds one turn's messages to tenant's session s.ID, creating
// the session (with s's AgentID and Project, and s.Created unless zero)
// when it does not exist. s.Updated is the turn's time: the store keeps
// no clock of its own. Concurrent calls share one transaction and one fsync
// (bbolt's Batch: the first call of a group waits up to DB.MaxBatchDelay,
// 10ms, for others to join). It is durable when it returns nil.
func (b *Bolt) AppendTurn(ctx context.Context, s *Session, msgs []adapters.Message) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !validName(s.Tenant) {
		return invalidID("tenant", s.Tenant)
	}
	if !validID(s.ID) {
		return invalidID("session id", s.ID)
	}
	turn, err := json.Marshal(msgs)
	if err != nil {
		return fmt.Errorf("state: encode turn of session %q: %w", s.ID, err)
	}
	now := s.Updated.UTC()
	key, prefix := join(s.Tenant, s.ID), turnPrefix(s.Tenant, s.ID)
	tenant, id, agentID, project, created := s.Tenant, s.ID, s.AgentID, s.Project, s.Created
	if created.IsZero() {
		created = now
	}
	defer b.cache.invalidate(sessionCacheKey(tenant, id))
	// Batch may run this more than once, each time in a new transaction,
	// so it changes nothing outside the transaction.
	return b.batch(func(tx *bolt.Tx) error {
		sessions := tx.Bucket(bucketSessions)
		meta := Session{ID: id, Tenant: tenant, AgentID: agentID, Project: project, Created: created}
		if v := sessions.Get(key); v != nil {
			meta = Session{}
			if err := decode(v, &meta, "session", id); err != nil {
				return err
			}
		}
		meta.Turns++
		meta.Updated = now
		v, err := json.Marshal(meta)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketTurns).Put(turnKey(prefix, uint64(meta.Turns)), turn); err != nil {
			return err
		}
		return sessions.Put(key, v)
	})
}

// RecentTurns returns the messages of the last n turns of tenant's session
// id, oldest first. n <= 0, or a session that does not exist, gives none.
func (b *Bolt) RecentTurns(ctx context.Context, tenant, id string, n int) ([]adapters.Message, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if n <= 0 || !validName(tenant) || !validID(id) {
		return nil, nil
	}
	prefix := turnPrefix(tenant, id)
	var turns [][]adapters.Message
	total := 0
	err := b.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketTurns).Cursor()
		k, v := seekLast(c, prefix)
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(turns) < n; k, v = c.Prev() {
			var msgs []adapters.Message
			if err := decode(v, &msgs, "turn of session", id); err != nil {
				return err
			}
			turns = append(turns, msgs)
			total += len(msgs)
		}
		return nil
	})
	if err != nil || total == 0 {
		return nil, err
	}
	out := make([]adapters.Message, 0, total)
	for _, t := range slices.Backward(turns) {
		out = append(out, t...)
	}
	return out, nil
}
