package bbolt

import (
	"encoding/json"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/adapters"

	"github.com/agentgate/agentgate/state"
)

// SeedSessions writes sessions × turnsEach turns of msgs, as AppendTurn
// would have, for benchmarks that need a big store quickly: a few large
// transactions without fsync. state.Session i of tenant is named id(i) and
// talks to agent SeedAgent; seeding is fastest when id(i) sorts like i.
// SeedAgent is the agent of the sessions SeedSessions writes.
const SeedAgent = "a"

func SeedSessions(b *Store, tenant string, sessions, turnsEach int, id func(int) string, msgs []adapters.Message) error {
	turn, err := json.Marshal(msgs)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	b.db.NoSync = true
	defer func() { b.db.NoSync = false }()
	const chunk = 20_000
	for lo := 0; lo < sessions; lo += chunk {
		err := b.update(func(tx *bolt.Tx) error {
			sb := tx.Bucket(bucketSessions)
			sb.FillPercent = 0.9
			for i := lo; i < min(lo+chunk, sessions); i++ {
				sid := id(i)
				sess := state.Session{ID: sid, Tenant: tenant, AgentID: SeedAgent, Turns: turnsEach, Created: now, Updated: now}
				meta, err := json.Marshal(sess)
				if err != nil {
					return err
				}
				if sb.Get(sessionKey(sess.Key())) == nil {
					if err := countSession(sb); err != nil {
						return err
					}
				}
				if err := sb.Put(sessionKey(sess.Key()), meta); err != nil {
					return err
				}
				prefix := turnPrefix(sess.Key())
				for seq := 1; seq <= turnsEach; seq++ {
					if err := sb.Put(turnKey(prefix, uint64(seq)), turn); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return b.db.Sync()
}

// Migrate runs the migration from schema version v on b's store again, in
// a transaction of its own.
func Migrate(b *Store, v int) error { return b.update(migrations[v-1]) }

// PagesWritten is how many page writes (data, freelist and meta pages)
// b's commits have made since it was opened.
func PagesWritten(b *Store) int64 {
	st := b.db.Stats()
	return st.TxStats.GetWrite()
}

// Check runs bbolt's consistency check on b's file: every page reachable
// once, none both reachable and free, keys in order.
func Check(b *Store) error {
	var errs []error
	err := b.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return nil
	})
	return errors.Join(append(errs, err)...)
}
