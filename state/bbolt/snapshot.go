package bbolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
)

// Export implements state.Snapshots: every object, read in one read
// transaction, so the records are a consistent snapshot of the store.
func (b *Store) Export(ctx context.Context, fn func(*state.Record) error) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	return b.view(func(tx *bolt.Tx) error {
		for _, step := range []func(*bolt.Tx, func(*state.Record) error) error{
			exportJSON(bucketAgents, "agent", func(r *state.Record) any { r.Agent = new(adapters.Agent); return r.Agent }),
			exportJSON(bucketVersions, "version", func(r *state.Record) any { r.Version = new(state.AgentVersion); return r.Version }),
			exportJSON(bucketKeys, "key", func(r *state.Record) any { r.Key = new(state.APIKey); return r.Key }),
			exportDeclaredKeys,
			exportJSON(bucketTiers, "tier", func(r *state.Record) any { r.Tier = new(state.Tier); return r.Tier }),
			exportSessions,
			exportJSON(bucketRuns, "run", func(r *state.Record) any { r.Run = new(state.Run); return r.Run }),
			exportUsage,
			exportCounters,
			exportCounts,
			exportMemories,
			exportStats,
			exportTurnRecords,
			exportDocuments,
			exportSources,
			exportJSON(bucketResponses, "response", func(r *state.Record) any { r.Response = new(state.StoredResponse); return r.Response }),
			exportConversations,
			exportObjects,
		} {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := step(tx, fn); err != nil {
				return err
			}
		}
		return nil
	})
}

// exportJSON exports a bucket of JSON values, each decoded into what into
// sets in a fresh record.
func exportJSON(bucket []byte, kind string, into func(*state.Record) any) func(*bolt.Tx, func(*state.Record) error) error {
	return func(tx *bolt.Tx, fn func(*state.Record) error) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			rec := new(state.Record)
			if err := decode(v, into(rec), kind, string(k)); err != nil {
				return err
			}
			return fn(rec)
		})
	}
}

func exportDeclaredKeys(tx *bolt.Tx, fn func(*state.Record) error) error {
	return tx.Bucket(bucketDeclaredKeys).ForEach(func(k, v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("state: declared key %q: %w", k, ErrCorrupt)
		}
		seen := time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
		return fn(&state.Record{Declared: &state.DeclaredKeyRecord{ID: string(k), Seen: seen}})
	})
}

// exportSessions exports each session with its turns, which follow its
// metadata in the bucket.
func exportSessions(tx *bolt.Tx, fn func(*state.Record) error) error {
	c := tx.Bucket(bucketSessions).Cursor()
	k, v := c.First()
	for k != nil {
		if !isSessionKey(k) { // a turn of no session (none are written)
			k, v = c.Next()
			continue
		}
		s := new(state.SessionRecord)
		if err := decode(v, &s.Session, "session", string(k)); err != nil {
			return err
		}
		prefix := append(bytes.Clone(k), 0)
		for k, v = c.Next(); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			msgs, err := decodeTurn(v, s.ID)
			if err != nil {
				return err
			}
			s.Messages = append(s.Messages, msgs)
		}
		if err := fn(&state.Record{Session: s}); err != nil {
			return err
		}
	}
	return nil
}

func exportTurnRecords(tx *bolt.Tx, fn func(*state.Record) error) error {
	return tx.Bucket(bucketTurnRecords).ForEach(func(k, v []byte) error {
		r := new(state.TurnRecord)
		if err := decodeTurnRecord(k, v, r); err != nil {
			return fmt.Errorf("state: turn record %q: %w", k, ErrCorrupt)
		}
		return fn(&state.Record{Turn: r})
	})
}

func exportUsage(tx *bolt.Tx, fn func(*state.Record) error) error {
	return tx.Bucket(bucketUsage).ForEach(func(k, v []byte) error {
		r := new(state.UsageRecord)
		if err := decodeUsage(v, r); err != nil {
			return fmt.Errorf("state: usage record %x: %w", k, ErrCorrupt)
		}
		return fn(&state.Record{Usage: r})
	})
}

// exportCounters exports each monthly counter with its spend (a spend
// counter exists only beside a token counter: both are written for every
// record).
func exportCounters(tx *bolt.Tx, fn func(*state.Record) error) error {
	spend := tx.Bucket(bucketSpend)
	return tx.Bucket(bucketCounters).ForEach(func(k, v []byte) error {
		scope, month, ok := bytes.Cut(k, []byte{0})
		if !ok {
			return fmt.Errorf("state: counter key %q: %w", k, ErrCorrupt)
		}
		return fn(&state.Record{Counter: &state.CounterRecord{Scope: string(scope), Month: string(month), Tokens: decodeInt64(v),
			Spend: pricing.Micros(decodeInt64(spend.Get(k)))}})
	})
}

func exportCounts(tx *bolt.Tx, fn func(*state.Record) error) error {
	return tx.Bucket(bucketCounts).ForEach(func(k, v []byte) error {
		tenant, name, ok := bytes.Cut(k, []byte{0})
		if !ok {
			return fmt.Errorf("state: count key %q: %w", k, ErrCorrupt)
		}
		return fn(&state.Record{Count: &state.CountRecord{Tenant: string(tenant), Name: string(name), N: decodeInt64(v)}})
	})
}

func exportMemories(tx *bolt.Tx, fn func(*state.Record) error) error {
	return tx.Bucket(bucketMemories).ForEach(func(k, v []byte) error {
		m := new(state.Memory)
		if err := decodeMemory(v, m); err != nil {
			return fmt.Errorf("state: decode memory %q: %w", k, err)
		}
		return fn(&state.Record{Memory: m})
	})
}

func exportStats(tx *bolt.Tx, fn func(*state.Record) error) error {
	return tx.Bucket(bucketAgentStats).ForEach(func(k, v []byte) error {
		tenant, agent, ok := bytes.Cut(k, []byte{0})
		if !ok {
			return fmt.Errorf("state: statistics key %q: %w", k, ErrCorrupt)
		}
		s := &state.StatsRecord{Tenant: string(tenant), AgentID: string(agent)}
		if err := decode(v, &s.AgentStats, "agent statistics", string(agent)); err != nil {
			return err
		}
		return fn(&state.Record{Stats: s})
	})
}

func exportDocuments(tx *bolt.Tx, fn func(*state.Record) error) error {
	chunks := tx.Bucket(bucketChunks).Cursor()
	return tx.Bucket(bucketDocs).ForEach(func(k, v []byte) error {
		d := new(state.DocumentRecord)
		if err := decode(v, &d.Document, "document", string(k)); err != nil {
			return err
		}
		prefix := chunkDocPrefix(d.Tenant, d.Source, d.ID)
		for ck, cv := chunks.Seek(prefix); ck != nil && bytes.HasPrefix(ck, prefix); ck, cv = chunks.Next() {
			var c state.Chunk
			if err := decodeChunk(cv, &c); err != nil {
				return fmt.Errorf("state: decode chunk of document %q: %w", d.ID, err)
			}
			d.Chunks = append(d.Chunks, c)
		}
		return fn(&state.Record{Document: d})
	})
}

func exportSources(tx *bolt.Tx, fn func(*state.Record) error) error {
	return tx.Bucket(bucketDocSources).ForEach(func(k, v []byte) error {
		tenant, _, ok := bytes.Cut(k, []byte{0})
		if !ok {
			return fmt.Errorf("state: knowledge source key %q: %w", k, ErrCorrupt)
		}
		s := &state.SourceRecord{Tenant: string(tenant)}
		if err := decode(v, &s.SourceInfo, "knowledge source", string(k)); err != nil {
			return err
		}
		return fn(&state.Record{Source: s})
	})
}

func exportConversations(tx *bolt.Tx, fn func(*state.Record) error) error {
	return tx.Bucket(bucketConversations).ForEach(func(k, v []byte) error {
		c := new(state.ConversationRecord)
		if err := decode(v, &c.Conversation, "conversation", string(k)); err != nil {
			return err
		}
		items, err := scanItems(tx, c.Tenant, c.ID)
		if err != nil {
			return err
		}
		c.Items = items
		return fn(&state.Record{Conversation: c})
	})
}

func exportObjects(tx *bolt.Tx, fn func(*state.Record) error) error {
	return tx.Bucket(bucketObjects).ForEach(func(k, v []byte) error {
		o := &state.ObjectRecord{ID: string(k)}
		if err := decode(v, &o.ObjectOwner, "object owner", string(k)); err != nil {
			return err
		}
		return fn(&state.Record{Object: o})
	})
}

// Import implements state.Snapshots: the records are written in one
// transaction, as they were exported.
func (b *Store) Import(ctx context.Context, recs []*state.Record) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	err := b.update(func(tx *bolt.Tx) error {
		for _, r := range recs {
			if err := state.CheckRecord(r); err != nil {
				return fmt.Errorf("state: import %s: %w", r.Kind(), err)
			}
			if err := importRecord(tx, r); err != nil {
				return fmt.Errorf("state: import %s: %w", r.Kind(), err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Whatever was kept fresh by changes is stale now.
	b.publish(state.Change{Kind: state.ChangeGap, Live: true})
	return nil
}

func importRecord(tx *bolt.Tx, r *state.Record) error {
	put := func(bucket, k []byte, v any) error {
		js, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return tx.Bucket(bucket).Put(k, js)
	}
	switch {
	case r.Agent != nil:
		return put(bucketAgents, join(r.Agent.Tenant, r.Agent.ID), r.Agent)
	case r.Version != nil:
		v := r.Version
		return put(bucketVersions, binary.BigEndian.AppendUint64(versionPrefix(v.Tenant, v.AgentID), uint64(v.Version)), v)
	case r.Key != nil:
		if err := put(bucketKeys, []byte(r.Key.ID), r.Key); err != nil {
			return err
		}
		return tx.Bucket(bucketKeyHash).Put(r.Key.Hash[:], []byte(r.Key.ID))
	case r.Declared != nil:
		return tx.Bucket(bucketDeclaredKeys).Put([]byte(r.Declared.ID), binary.BigEndian.AppendUint64(nil, uint64(r.Declared.Seen.UnixNano())))
	case r.Tier != nil:
		return put(bucketTiers, []byte(r.Tier.Name), r.Tier)
	case r.Session != nil:
		s := r.Session
		meta := s.Session
		meta.Turns = len(s.Messages)
		key := sessionKey(meta.Key())
		if tx.Bucket(bucketSessions).Get(key) == nil {
			if err := countSession(tx.Bucket(bucketSessions)); err != nil {
				return err
			}
		}
		if err := put(bucketSessions, key, &meta); err != nil {
			return err
		}
		// The imported turns replace the stored ones, however many there were.
		prefix := turnPrefix(meta.Key())
		c := tx.Bucket(bucketSessions).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		for i, msgs := range s.Messages {
			if err := put(bucketSessions, turnKey(prefix, uint64(i+1)), msgs); err != nil {
				return err
			}
		}
		return nil
	case r.Run != nil:
		return put(bucketRuns, join(r.Run.Tenant, r.Run.ID), r.Run)
	case r.Usage != nil:
		u := r.Usage
		ids := tx.Bucket(bucketUsageIDs)
		if u.ID != "" && ids.Get([]byte(u.ID)) != nil {
			return nil
		}
		usage := tx.Bucket(bucketUsage)
		seq, err := usage.NextSequence()
		if err != nil {
			return err
		}
		k := usageKey(u.Tenant, u.Time, seq)
		if err := usage.Put(k, encodeUsage(u)); err != nil {
			return err
		}
		if u.ID != "" {
			return ids.Put([]byte(u.ID), k)
		}
		return nil
	case r.Counter != nil:
		k := join(r.Counter.Scope, r.Counter.Month)
		if err := tx.Bucket(bucketSpend).Put(k, encodeInt64(int64(r.Counter.Spend))); err != nil {
			return err
		}
		return tx.Bucket(bucketCounters).Put(k, encodeInt64(r.Counter.Tokens))
	case r.Count != nil:
		return tx.Bucket(bucketCounts).Put(join(r.Count.Tenant, r.Count.Name), encodeInt64(r.Count.N))
	case r.Memory != nil:
		v, err := encodeMemory(r.Memory)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketMemories).Put(append(memoryPrefix(r.Memory.Tenant, r.Memory.AgentID), r.Memory.ID...), v)
	case r.Stats != nil:
		return put(bucketAgentStats, join(r.Stats.Tenant, r.Stats.AgentID), &r.Stats.AgentStats)
	case r.Turn != nil:
		return tx.Bucket(bucketTurnRecords).Put(turnRecordKey(r.Turn.Tenant, r.Turn.AgentID, r.Turn.RunID), encodeTurnRecord(r.Turn))
	case r.Document != nil:
		d := r.Document
		if err := put(bucketDocs, join(d.Tenant, d.ID), &d.Document); err != nil {
			return err
		}
		prefix := chunkDocPrefix(d.Tenant, d.Source, d.ID)
		cb := tx.Bucket(bucketChunks)
		if _, err := deletePrefix(cb, prefix); err != nil {
			return err
		}
		for i := range d.Chunks {
			v, err := encodeChunk(&d.Chunks[i])
			if err != nil {
				return err
			}
			if err := cb.Put(chunkKey(prefix, d.Chunks[i].Seq), v); err != nil {
				return err
			}
		}
		return nil
	case r.Source != nil:
		return put(bucketDocSources, join(r.Source.Tenant, r.Source.Name), &r.Source.SourceInfo)
	case r.Response != nil:
		return put(bucketResponses, join(r.Response.Tenant, r.Response.ID), r.Response)
	case r.Conversation != nil:
		c := r.Conversation
		if err := put(bucketConversations, join(c.Tenant, c.ID), &c.Conversation); err != nil {
			return err
		}
		prefix := convItemPrefix(c.Tenant, c.ID)
		if _, err := deletePrefix(tx.Bucket(bucketConvItems), prefix); err != nil {
			return err
		}
		for _, it := range c.Items {
			if err := put(bucketConvItems, convItemKey(prefix, it.Seq), it); err != nil {
				return err
			}
		}
		return nil
	case r.Object != nil:
		return put(bucketObjects, []byte(r.Object.ID), &r.Object.ObjectOwner)
	}
	return fmt.Errorf("empty record")
}
