package bbolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
)

// AppendUsage stores usage records in one transaction and adds their
// input plus output tokens, and their known costs, to the monthly
// counters "key:<KeyID>" (when KeyID is set) and "tenant:<Tenant>" of the
// record's month. A record whose id is stored already (a retried batch)
// is skipped.
func (b *Store) AppendUsage(ctx context.Context, recs []state.UsageRecord) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if len(recs) == 0 {
		return nil
	}
	vals := make([][]byte, len(recs))
	ids := make([]string, len(recs))
	keySize := 0
	for i := range recs {
		if err := state.CheckUsage(&recs[i]); err != nil {
			return err
		}
		vals[i], ids[i] = encodeUsage(&recs[i]), recs[i].ID
		keySize += usageKeySize(recs[i].Tenant)
	}
	return b.update(func(tx *bolt.Tx) error {
		usage, byID := tx.Bucket(bucketUsage), tx.Bucket(bucketUsageIDs)
		usage.FillPercent, byID.FillPercent = appendFill, appendFill
		var sums monthSums
		// The batch's keys share one allocation: bbolt copies a key it
		// is given but keeps a value (a key is usageids' value) until
		// the commit. id is a scratch key.
		keys := make([]byte, 0, keySize)
		var id []byte
		for i, stored := range storedKeys(byID, ids) {
			r := &recs[i]
			if stored {
				continue
			}
			seq, err := usage.NextSequence()
			if err != nil {
				return err
			}
			start := len(keys)
			keys = appendUsageKey(keys, r.Tenant, r.Time, seq)
			k := keys[start:len(keys):len(keys)]
			if err := usage.Put(k, vals[i]); err != nil {
				return err
			}
			if r.ID != "" {
				id = append(id[:0], r.ID...)
				if err := byID.Put(id, k); err != nil {
					return err
				}
			}
			sums.add(r)
		}
		return sums.write(tx.Bucket(bucketCounters), tx.Bucket(bucketSpend))
	})
}

// monthSums adds up a batch's records by counter (a batch holds many
// records of few keys), so that each counter is written once.
type monthSums struct {
	sums map[monthScope]*monthSum
	// last are the sums the previous record went to, and its scope:
	// the next record is most often of the same key and month.
	last      [2]*monthSum
	lastScope monthScope
}

// monthScope is one counter: "tenant:"+tenant, or "key:"+key when key is
// set, of a month.
type monthScope struct {
	tenant, key string
	year        int
	month       time.Month
}

type monthSum struct {
	tokens, spend int64
	// priced: a record with a known cost counts, so the spend counter
	// is written.
	priced bool
}

func (m *monthSums) add(r *state.UsageRecord) {
	y, mo, _ := r.Time.UTC().Date()
	sc := monthScope{tenant: r.Tenant, key: r.KeyID, year: y, month: mo}
	if m.last[0] == nil || sc != m.lastScope {
		m.last, m.lastScope = [2]*monthSum{m.sum(monthScope{tenant: r.Tenant, year: y, month: mo}), nil}, sc
		if r.KeyID != "" {
			m.last[1] = m.sum(monthScope{key: r.KeyID, year: y, month: mo})
		}
	}
	tokens := int64(r.InputTokens) + int64(r.OutputTokens)
	for _, s := range m.last {
		if s == nil {
			continue
		}
		s.tokens += tokens
		if r.Cost != nil {
			s.spend += int64(*r.Cost)
			s.priced = true
		}
	}
}

// sum is the sum of sc, made on first use.
func (m *monthSums) sum(sc monthScope) *monthSum {
	if m.sums == nil {
		m.sums = map[monthScope]*monthSum{}
	}
	s := m.sums[sc]
	if s == nil {
		s = new(monthSum)
		m.sums[sc] = s
	}
	return s
}

// write adds the sums to their counters: tokens to counters, the known
// costs to spent.
func (m *monthSums) write(counters, spent *bolt.Bucket) error {
	for sc, s := range m.sums {
		scope := "tenant:" + sc.tenant
		if sc.key != "" {
			scope = "key:" + sc.key
		}
		k := counterKey(scope, time.Date(sc.year, sc.month, 1, 0, 0, 0, 0, time.UTC))
		if err := counters.Put(k, encodeInt64(decodeInt64(counters.Get(k))+s.tokens)); err != nil {
			return err
		}
		if !s.priced {
			continue
		}
		if err := spent.Put(k, encodeInt64(decodeInt64(spent.Get(k))+s.spend)); err != nil {
			return err
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
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
	return b.monthCounter(ctx, bucketCounters, scope, t)
}

// MonthlySpend returns the micro-dollars of the records with a known cost
// of a counter scope ("key:<id>" or "tenant:<name>") in the calendar month
// (UTC) of t.
func (b *Store) MonthlySpend(ctx context.Context, scope string, t time.Time) (pricing.Micros, error) {
	n, err := b.monthCounter(ctx, bucketSpend, scope, t)
	return pricing.Micros(n), err
}

// monthCounter reads scope's counter of t's month in bk: the token and
// the spend counters are kept alike (counterKey), in buckets of their
// own. A scope no write accepts has none.
func (b *Store) monthCounter(ctx context.Context, bk []byte, scope string, t time.Time) (int64, error) {
	if err := b.enter(ctx); err != nil {
		return 0, err
	}
	defer b.exit()
	if !state.ValidName(scope) {
		return 0, nil
	}
	var n int64
	err := b.view(func(tx *bolt.Tx) error {
		n = decodeInt64(tx.Bucket(bk).Get(counterKey(scope, t)))
		return nil
	})
	return n, err
}

// SumUsage adds up the records f selects, grouped by by. Records are kept
// by tenant, then time: a tenant's records of [From, To) are one range of
// keys, and without a tenant each tenant's range is visited in turn.
func (b *Store) SumUsage(ctx context.Context, f state.UsageFilter, by state.UsageGroup) ([]state.UsageSum, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !state.ValidName(f.Tenant) || !state.ValidName(f.KeyID) {
		return nil, nil
	}
	groups := map[string]*state.UsageSum{}
	err := b.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUsage).Cursor()
		next, _ := c.First()
		if f.Tenant != "" {
			next = []byte(f.Tenant) // the loop below visits this tenant only
		}
		for next != nil {
			tenant := f.Tenant
			if tenant == "" {
				t, _, ok := bytes.Cut(next, []byte{0})
				if !ok {
					return fmt.Errorf("state: usage key %q: %w", next, ErrCorrupt)
				}
				tenant = string(t)
			}
			prefix := join(tenant, "")
			from := prefix
			if !f.From.IsZero() {
				from = usageKey(tenant, f.From, 0)
			}
			for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				var r state.UsageRecord
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
				sum := groups[g]
				if sum == nil {
					sum = &state.UsageSum{Group: g}
					groups[g] = sum
				}
				sum.Add(&r)
			}
			if f.Tenant != "" {
				break
			}
			next, _ = c.Seek(prefixEnd(prefix)) // the next tenant's first record
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return state.SortedSums(groups), nil
}
