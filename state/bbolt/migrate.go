package bbolt

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/state"
)

// migrations[v-1] upgrades a store of schema version v to v+1. OpenBolt
// runs the ones a store needs, in order, in the transaction that records
// the new version, so a store is migrated wholly or not at all (a crash
// or an error leaves it as it was, to be migrated at the next open). The
// array's length makes a new schemaVersion fail to compile until its
// migration is written.
var migrations = [schemaVersion - 1]func(tx *bolt.Tx) error{
	migrateSessionsPerAgent,    // 1 → 2
	migrateCosts,               // 2 → 3
	migrateUsageErrors,         // 3 → 4
	migrateTurnRecordCodec,     // 4 → 5
	migrateSessionsBesideTurns, // 5 → 6
}

// Schema versions 2 to 5 kept the sessions' metadata in a bucket of its
// own: tenant \0 agent \0 project \0 id → state.Session.
var v5Sessions = []byte("agentsessions")

// migrateSessionsBesideTurns makes a store of schema 5 one of schema 6:
// every session's metadata moves from its bucket to the bucket of turns,
// under the same key, just before its turns, and that bucket's sequence
// counts the sessions. The old bucket is removed once moved, so running
// it again (or on a store without it) does nothing.
func migrateSessionsBesideTurns(tx *bolt.Tx) error {
	old := tx.Bucket(v5Sessions)
	if old == nil {
		return nil
	}
	sessions, err := tx.CreateBucketIfNotExists(bucketSessions)
	if err != nil {
		return err
	}
	n := sessions.Sequence()
	err = old.ForEach(func(k, v []byte) error {
		if !isSessionKey(k) {
			return fmt.Errorf("session key %q: %w", k, ErrCorrupt)
		}
		if sessions.Get(k) == nil {
			n++
		}
		// Copies: values read in a write transaction stay valid only
		// while their page is untouched.
		return sessions.Put(bytes.Clone(k), bytes.Clone(v))
	})
	if err != nil {
		return err
	}
	if err := sessions.SetSequence(n); err != nil {
		return err
	}
	return tx.DeleteBucket(v5Sessions)
}

// migrateTurnRecordCodec makes a store of schema 4 one of schema 5: turn
// records are written in a binary form (turnreccodec.go), and those
// written before, in JSON, read as they are. Nothing is rewritten; the
// version is raised so that an older agentgate, which reads turn records
// as JSON only, refuses the file instead of failing on feedback.
func migrateTurnRecordCodec(*bolt.Tx) error { return nil }

// migrateUsageErrors makes a store of schema 3 one of schema 4: usage
// records gain the error text of a failed call (codec version 3; records
// written before read back without one). Nothing is rewritten; the
// version is raised so that an older agentgate, which cannot read
// version 3 records, refuses the file instead of failing on its usage
// log.
func migrateUsageErrors(*bolt.Tx) error { return nil }

// migrateCosts makes a store of schema 2 one of schema 3: usage records
// gain a cost (codec version 2; records of version 1 read back with an
// unknown cost) and the spend bucket keeps the monthly spend counters.
// Nothing is rewritten: the costs of records written before are unknown,
// so the months they fall in start with no spend. The version is raised
// so that an older agentgate, which cannot read version 2 records,
// refuses the file instead of failing on its usage log.
func migrateCosts(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bucketSpend)
	return err
}

// Schema version 1's buckets of sessions and their turns, keyed by tenant
// and id across all agents: tenant \0 id → state.Session and tenant \0 id \0 seq
// → []adapters.Message.
var (
	v1Sessions = []byte("sessions")
	v1Turns    = []byte("turns")
)

// migrateSessionsPerAgent moves every session of schema 1 (and its turns)
// to schema 2's buckets, keyed by tenant, agent, project and id: the agent
// and project are those the session records. The old buckets are removed
// once moved, so running it again (or on a store without them) does
// nothing.
func migrateSessionsPerAgent(tx *bolt.Tx) error {
	if old := tx.Bucket(v1Sessions); old != nil {
		if err := moveV1Sessions(tx, old); err != nil {
			return err
		}
		if err := tx.DeleteBucket(v1Sessions); err != nil {
			return err
		}
	}
	// Turns without a session (none are written) go with their bucket.
	if tx.Bucket(v1Turns) != nil {
		return tx.DeleteBucket(v1Turns)
	}
	return nil
}

// moveV1Sessions copies the sessions of old, and their turns, under their
// schema 2 keys (in schema 2's buckets: the migration to 6 moves them on).
func moveV1Sessions(tx *bolt.Tx, old *bolt.Bucket) error {
	sessions, err := tx.CreateBucketIfNotExists(v5Sessions)
	if err != nil {
		return err
	}
	turns, err := tx.CreateBucketIfNotExists(bucketSessions)
	if err != nil {
		return err
	}
	oldTurns := tx.Bucket(v1Turns)
	return old.ForEach(func(k, v []byte) error {
		tenant, id, ok := bytes.Cut(k, []byte{0})
		if !ok {
			return fmt.Errorf("session key %q has no tenant: %w", k, ErrCorrupt)
		}
		var s state.Session
		if err := decode(v, &s, "session", string(id)); err != nil {
			return err
		}
		s.Tenant, s.ID = string(tenant), string(id)
		key := s.Key()
		if err := state.CheckSessionKey(key); err != nil {
			return fmt.Errorf("session %q: %w", id, err)
		}
		// Values read in a write transaction stay valid only while their
		// page is untouched: copies are safe whatever bbolt does next.
		if err := sessions.Put(sessionKey(key), bytes.Clone(v)); err != nil {
			return err
		}
		if oldTurns == nil {
			return nil
		}
		from, to := append(bytes.Clone(k), 0), turnPrefix(key)
		c := oldTurns.Cursor()
		for tk, tv := c.Seek(from); tk != nil && bytes.HasPrefix(tk, from); tk, tv = c.Next() {
			if err := turns.Put(append(bytes.Clone(to), tk[len(from):]...), bytes.Clone(tv)); err != nil {
				return err
			}
		}
		return nil
	})
}
