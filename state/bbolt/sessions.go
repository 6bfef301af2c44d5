package bbolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// GetSession returns the session k names, or state.ErrNotFound.
func (b *Store) GetSession(ctx context.Context, k state.SessionKey) (*state.Session, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if state.CheckSessionKey(k) != nil {
		return nil, state.ErrNotFound
	}
	var s state.Session
	err := b.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSessions).Get(sessionKey(k))
		if v == nil {
			return state.ErrNotFound
		}
		return decode(v, &s, "session", k.ID)
	})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// AppendTurn adds one turn's messages to the session s.Key() names,
// creating it (created at s.Created unless zero) when it does not exist.
// s.Updated is the turn's time: the store keeps no clock of its own.
// Concurrent calls share one transaction and one fsync: the calls that
// arrive while the store commits form the next group, committed as soon
// as that commit ends, with no wait on a timer (commit.go). It is durable
// when it returns nil.
func (b *Store) AppendTurn(ctx context.Context, s *state.Session, msgs []adapters.Message) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	k := s.Key()
	if err := state.CheckSessionKey(k); err != nil {
		return err
	}
	turn, err := encodeTurn(msgs)
	if err != nil {
		return fmt.Errorf("state: encode turn of session %q: %w", s.ID, err)
	}
	now := s.Updated.UTC()
	key, prefix := sessionKey(k), turnPrefix(k)
	created := s.Created
	if created.IsZero() {
		created = now
	}
	// The commit may run this more than once, each time in a new transaction,
	// so it changes nothing outside the transaction but turns, which the
	// run that commits sets last. The metadata's key sorts just before the
	// turns': both are written to one leaf, mostly, and one path to it.
	updated, err := now.MarshalJSON()
	if err != nil {
		return fmt.Errorf("state: turn of session %q: %w", s.ID, err)
	}
	var turns int
	err = b.batch(func(tx *bolt.Tx) error {
		sessions := tx.Bucket(bucketSessions)
		v, n, err := nextTurn(sessions.Get(key), updated)
		if err != nil {
			return err
		}
		if v == nil {
			meta := state.Session{ID: k.ID, Tenant: k.Tenant, AgentID: k.AgentID, Project: k.Project, Created: created}
			if old := sessions.Get(key); old != nil {
				meta = state.Session{}
				if err := decode(old, &meta, "session", k.ID); err != nil {
					return err
				}
			} else if err := countSession(sessions); err != nil {
				return err
			}
			meta.Turns++
			meta.Updated = now
			if v, err = json.Marshal(meta); err != nil {
				return err
			}
			n = meta.Turns
		}
		turns = n
		if err := sessions.Put(turnKey(prefix, uint64(n)), turn); err != nil {
			return err
		}
		return sessions.Put(key, v)
	})
	if err != nil {
		return err
	}
	s.Turns = turns
	return nil
}

// RecentTurns returns the messages of the last n turns of the session k
// names, oldest first. n <= 0, or a session that does not exist, gives
// none.
func (b *Store) RecentTurns(ctx context.Context, k state.SessionKey, n int) ([]adapters.Message, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if n <= 0 || state.CheckSessionKey(k) != nil {
		return nil, nil
	}
	prefix := turnPrefix(k)
	// The turns' values, newest first, copied out of the transaction
	// (bbolt's bytes are valid only in it) into one buffer, ends[i] where
	// the i-th ends: the messages share one copy of them.
	var buf []byte
	var ends []int
	err := b.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSessions).Cursor()
		tk, v := seekLast(c, prefix)
		for ; tk != nil && bytes.HasPrefix(tk, prefix) && len(ends) < n; tk, v = c.Prev() {
			if buf == nil {
				buf, ends = make([]byte, 0, len(v)*min(n, 16)), make([]int, 0, min(n, 16))
			}
			buf = append(buf, v...)
			ends = append(ends, len(buf))
		}
		return nil
	})
	if err != nil || len(ends) == 0 {
		return nil, err
	}
	all := string(buf)
	// Room for a question and an answer a turn, and for the new turn's
	// message, which the engine appends to the history.
	d := historyDecoder{msgs: make([]adapters.Message, 0, 2*len(ends)+1), parts: make([]adapters.Part, 0, 2*len(ends))}
	for i := len(ends) - 1; i >= 0; i-- {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		if err := d.append(all[start:ends[i]], k.ID); err != nil {
			return nil, err
		}
	}
	if len(d.msgs) == 0 {
		return nil, nil
	}
	return d.msgs, nil
}

// inPlace reports whether r, a value found in doc, is where its Index
// says: a value nextTurn can replace by position.
func inPlace(doc []byte, r gjson.Result) bool {
	return r.Exists() && r.Index > 0 && r.Index+len(r.Raw) <= len(doc) && string(doc[r.Index:r.Index+len(r.Raw)]) == r.Raw
}

// countSession counts a new session in the bucket's sequence, which is
// the number of sessions it holds (Totals). The sequence is kept in the
// bucket's header, which every commit to the bucket rewrites anyway.
func countSession(sessions *bolt.Bucket) error {
	return sessions.SetSequence(sessions.Sequence() + 1)
}

// isSessionKey reports whether k, a key of the sessions bucket, is a
// session's metadata (tenant \0 agent \0 project \0 id) rather than one
// of its turns (the same, then \0 and the turn's number).
func isSessionKey(k []byte) bool { return bytes.Count(k, []byte{0}) == 3 }

// nextTurn returns a stored session's metadata with one more turn, last
// updated at updated (a JSON time), and that turn's number, rewriting the
// two fields in the stored JSON rather than decoding and encoding it all
// (every agent turn does this, in the commit every writer waits on). It
// returns nil, and no error, when meta is nil or not JSON with a
// positive integer count of turns: the caller decodes it then.
func nextTurn(meta, updated []byte) ([]byte, int, error) {
	if meta == nil || !gjson.ValidBytes(meta) {
		return nil, 0, nil
	}
	r := gjson.GetBytes(meta, "turns")
	if r.Type != gjson.Number || r.Raw != strconv.FormatInt(r.Int(), 10) || r.Int() < 1 || r.Int() >= math.MaxInt32 {
		return nil, 0, nil
	}
	n := int(r.Int()) + 1
	count := strconv.AppendInt(nil, int64(n), 10)
	if u := gjson.GetBytes(meta, "updated_at"); inPlace(meta, r) && inPlace(meta, u) {
		// Both values replaced in one copy (meta is bbolt's, read-only
		// memory), without sjson parsing the document again for each.
		first, second, firstNew, secondNew := r, u, count, updated
		if u.Index < r.Index {
			first, second, firstNew, secondNew = u, r, updated, count
		}
		v := make([]byte, 0, len(meta)+len(firstNew)+len(secondNew)-len(first.Raw)-len(second.Raw))
		v = append(v, meta[:first.Index]...)
		v = append(v, firstNew...)
		v = append(v, meta[first.Index+len(first.Raw):second.Index]...)
		v = append(v, secondNew...)
		v = append(v, meta[second.Index+len(second.Raw):]...)
		return v, n, nil
	}
	// sjson copies: meta is bbolt's, read-only memory.
	v, err := sjson.SetRawBytes(meta, "turns", count)
	if err != nil {
		return nil, 0, err
	}
	if v, err = sjson.SetRawBytes(v, "updated_at", updated); err != nil {
		return nil, 0, err
	}
	return v, n, nil
}
