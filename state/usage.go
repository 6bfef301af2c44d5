package state

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// AppendUsage stores usage records in one transaction and adds their
// input plus output tokens to the monthly counters "key:<KeyID>" (when
// KeyID is set) and "tenant:<Tenant>" of the record's month.
func (b *Bolt) AppendUsage(ctx context.Context, recs []UsageRecord) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if len(recs) == 0 {
		return nil
	}
	vals := make([][]byte, len(recs))
	for i := range recs {
		r := &recs[i]
		if !validName(r.Tenant) {
			return invalidID("tenant", r.Tenant)
		}
		if !validName(r.KeyID) {
			return invalidID("key id", r.KeyID)
		}
		vals[i] = encodeUsage(r)
	}
	// A batch holds many records of few keys: sum each counter first and
	// write it once.
	sums := map[string]int64{}
	for i := range recs {
		r := &recs[i]
		tokens := int64(r.InputTokens) + int64(r.OutputTokens)
		if r.KeyID != "" {
			sums[string(counterKey("key:"+r.KeyID, r.Time))] += tokens
		}
		sums[string(counterKey("tenant:"+r.Tenant, r.Time))] += tokens
	}
	return b.update(func(tx *bolt.Tx) error {
		usage, counters := tx.Bucket(bucketUsage), tx.Bucket(bucketCounters)
		for i := range recs {
			r := &recs[i]
			seq, err := usage.NextSequence()
			if err != nil {
				return err
			}
			if err := usage.Put(usageKey(r.Tenant, r.Time, seq), vals[i]); err != nil {
				return err
			}
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
func (b *Bolt) ListUsage(ctx context.Context, tenant string, limit int) ([]UsageRecord, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if limit <= 0 || !validName(tenant) {
		return nil, nil
	}
	prefix := join(tenant, "")
	var recs []UsageRecord
	err := b.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUsage).Cursor()
		k, v := seekLast(c, prefix)
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(recs) < limit; k, v = c.Prev() {
			var r UsageRecord
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
func (b *Bolt) MonthlyTokens(ctx context.Context, scope string, t time.Time) (int64, error) {
	if err := b.enter(ctx); err != nil {
		return 0, err
	}
	defer b.exit()
	if !validName(scope) {
		return 0, nil
	}
	var n int64
	err := b.view(func(tx *bolt.Tx) error {
		n = decodeInt64(tx.Bucket(bucketCounters).Get(counterKey(scope, t)))
		return nil
	})
	return n, err
}
