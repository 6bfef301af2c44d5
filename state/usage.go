package state

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/agentgate/agentgate/pricing"

	bolt "go.etcd.io/bbolt"
)

// AppendUsage stores usage records in one transaction and adds their
// input plus output tokens, and their known costs, to the monthly
// counters "key:<KeyID>" (when KeyID is set) and "tenant:<Tenant>" of the
// record's month.
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
	sums, spend := map[string]int64{}, map[string]int64{}
	for i := range recs {
		r := &recs[i]
		tokens := int64(r.InputTokens) + int64(r.OutputTokens)
		scopes := []string{"tenant:" + r.Tenant}
		if r.KeyID != "" {
			scopes = append(scopes, "key:"+r.KeyID)
		}
		for _, scope := range scopes {
			k := string(counterKey(scope, r.Time))
			sums[k] += tokens
			if r.Cost != nil {
				spend[k] += int64(*r.Cost)
			}
		}
	}
	return b.update(func(tx *bolt.Tx) error {
		usage, counters, spent := tx.Bucket(bucketUsage), tx.Bucket(bucketCounters), tx.Bucket(bucketSpend)
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
		for k, n := range spend {
			if err := spent.Put([]byte(k), encodeInt64(decodeInt64(spent.Get([]byte(k)))+n)); err != nil {
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

// MonthlySpend returns the micro-dollars of the records with a known cost
// of a counter scope ("key:<id>" or "tenant:<name>") in the calendar month
// (UTC) of t.
func (b *Bolt) MonthlySpend(ctx context.Context, scope string, t time.Time) (pricing.Micros, error) {
	if err := b.enter(ctx); err != nil {
		return 0, err
	}
	defer b.exit()
	if !validName(scope) {
		return 0, nil
	}
	var n int64
	err := b.view(func(tx *bolt.Tx) error {
		n = decodeInt64(tx.Bucket(bucketSpend).Get(counterKey(scope, t)))
		return nil
	})
	return pricing.Micros(n), err
}

// SumUsage adds up the records f selects, grouped by by. Records are kept
// by tenant, then time: a tenant's records of [From, To) are one range of
// keys, and without a tenant each tenant's range is visited in turn.
func (b *Bolt) SumUsage(ctx context.Context, f UsageFilter, by UsageGroup) ([]UsageSum, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !validName(f.Tenant) || !validName(f.KeyID) {
		return nil, nil
	}
	groups := map[string]*UsageSum{}
	err := b.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUsage).Cursor()
		tenant := f.Tenant
		k, _ := c.First()
		if tenant != "" {
			k = []byte(tenant) // any key of another tenant: its range is skipped below
		}
		for k != nil {
			if f.Tenant == "" {
				t, _, ok := bytes.Cut(k, []byte{0})
				if !ok {
					return fmt.Errorf("state: usage key %q: %w", k, ErrCorrupt)
				}
				tenant = string(t)
			}
			prefix := join(tenant, "")
			from := usageKey(tenant, f.From, 0)
			if f.From.IsZero() {
				from = prefix
			}
			for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				var r UsageRecord
				if err := decodeUsage(v, &r); err != nil {
					return fmt.Errorf("state: usage record of tenant %q: %w", tenant, ErrCorrupt)
				}
				if !f.To.IsZero() && !r.Time.Before(f.To) {
					break
				}
				if f.KeyID != "" && r.KeyID != f.KeyID {
					continue
				}
				g := by.Of(&r)
				s := groups[g]
				if s == nil {
					s = &UsageSum{Group: g}
					groups[g] = s
				}
				s.Add(&r)
			}
			if f.Tenant != "" {
				break
			}
			k, _ = c.Seek(prefixEnd(prefix)) // the next tenant
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]UsageSum, 0, len(groups))
	for _, s := range groups {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out, nil
}
