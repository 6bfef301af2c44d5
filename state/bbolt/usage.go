package bbolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/state"
)

// AppendUsage stores usage records in one transaction and adds their
// input plus output tokens to the monthly counters "key:<KeyID>" (when
// KeyID is set) and "tenant:<Tenant>" of the record's month. A record
// whose id is stored already (a retried batch) is skipped.
func (b *Store) AppendUsage(ctx context.Context, recs []state.UsageRecord) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if len(recs) == 0 {
		return nil
	}
	vals := make([][]byte, len(recs))
	for i := range recs {
		if err := state.CheckUsage(&recs[i]); err != nil {
			return err
		}
		vals[i] = encodeUsage(&recs[i])
	}
	return b.update(func(tx *bolt.Tx) error {
		usage, ids, counters := tx.Bucket(bucketUsage), tx.Bucket(bucketUsageIDs), tx.Bucket(bucketCounters)
		// A batch holds many records of few keys: sum each counter first
		// and write it once.
		sums := map[string]int64{}
		for i := range recs {
			r := &recs[i]
			if r.ID != "" && ids.Get([]byte(r.ID)) != nil {
				continue
			}
			seq, err := usage.NextSequence()
			if err != nil {
				return err
			}
			k := usageKey(r.Tenant, r.Time, seq)
			if err := usage.Put(k, vals[i]); err != nil {
				return err
			}
			if r.ID != "" {
				if err := ids.Put([]byte(r.ID), k); err != nil {
					return err
				}
			}
			tokens := int64(r.InputTokens) + int64(r.OutputTokens)
			if r.KeyID != "" {
				sums[string(counterKey("key:"+r.KeyID, r.Time))] += tokens
			}
			sums[string(counterKey("tenant:"+r.Tenant, r.Time))] += tokens
		}
		for k, n := range sums {
			if err := counters.Put([]byte(k), encodeInt64(decodeInt64(counters.Get([]byte(k)))+n)); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListUsage returns tenant's most recent usage records, newest first, at
// most limit of them (none when limit <= 0). Records of the same instant
// come latest-appended first.
func (b *Store) ListUsage(ctx context.Context, tenant string, limit int) ([]state.UsageRecord, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if limit <= 0 || !state.ValidName(tenant) {
		return nil, nil
	}
	prefix := join(tenant, "")
	var recs []state.UsageRecord
	err := b.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUsage).Cursor()
		k, v := seekLast(c, prefix)
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(recs) < limit; k, v = c.Prev() {
			var r state.UsageRecord
			if err := decodeUsage(v, &r); err != nil {
				return fmt.Errorf("state: usage record of tenant %q: %w", tenant, ErrCorrupt)
			}
			recs = append(recs, r)
		}
		return nil
	})
	return recs, err
}

// MonthlyTokens returns the tokens recorded for a counter scope ("key:<id>"
// or "tenant:<name>") in the calendar month (UTC) of t.
func (b *Store) MonthlyTokens(ctx context.Context, scope string, t time.Time) (int64, error) {
	if err := b.enter(ctx); err != nil {
		return 0, err
	}
	defer b.exit()
	if !state.ValidName(scope) {
		return 0, nil
	}
	var n int64
	err := b.view(func(tx *bolt.Tx) error {
		n = decodeInt64(tx.Bucket(bucketCounters).Get(counterKey(scope, t)))
		return nil
	})
	return n, err
}
