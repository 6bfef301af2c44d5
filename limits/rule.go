// Package limits admits requests against their key's limits: rate limits,
// concurrency caps and monthly quotas, each a Rule. One call, Admit,
// evaluates every rule of a request at once, all or nothing, at the
// backend's time, and answers with a Lease that holds what the request
// took (a concurrency slot, a quota reservation) until it settles with
// the request's real usage. A lease expires unless renewed, so what an
// instance that died held comes back by itself.
//
// The state lives in a Backend, an agentgate.limits Caddy module:
// limits/memory (one process) or limits/redis (shared by every instance
// of a gateway tier, one round trip per admission). Every backend passes
// the contract suite in limits/limitstest.
//
// A new kind of limit is a new Kind (with the class it behaves as and the
// part of a Cost it counts), plus its configuration where rules are built
// from a tier.
package limits

import (
	"fmt"
	"time"
)

// Kind is what a rule limits.
type Kind uint8

// The kinds of rule.
const (
	// Concurrent caps requests in flight: a slot per request, held by
	// its lease until it settles or expires.
	Concurrent Kind = iota + 1
	// RequestsPerMinute is a token bucket of Max requests refilled
	// smoothly over a minute.
	RequestsPerMinute
	// TokensPerMinute is a token bucket of Max tokens refilled over a
	// minute: a request takes its estimate and, when it settles, gives
	// back or owes the difference to its real usage.
	TokensPerMinute
	// MonthlyTokens caps the tokens spent per calendar month (UTC): a
	// request reserves its estimate, and its settlement replaces the
	// reservation with its real usage.
	MonthlyTokens
	// MonthlyMicroUSD caps the money spent per calendar month (UTC), in
	// micro-dollars: a quota like MonthlyTokens counting Cost.MicroUSD.
	MonthlyMicroUSD
)

// Class is how a kind of rule behaves; backends implement classes, not
// kinds, so a new kind of an existing class needs no backend change.
type Class uint8

// The classes of rule.
const (
	// Slots: at most Max leases hold one at a time.
	Slots Class = iota + 1
	// Bucket: a token bucket of Max refilled over a minute.
	Bucket
	// Quota: used + reserved per calendar month stays within Max.
	Quota
)

var kinds = [...]struct {
	name  string
	class Class
	// amount is what a request costing c takes from the rule.
	amount func(c Cost) int64
}{
	Concurrent:        {"concurrent", Slots, one},
	RequestsPerMinute: {"rpm", Bucket, one},
	TokensPerMinute:   {"tpm", Bucket, tokens},
	MonthlyTokens:     {"monthly_tokens", Quota, tokens},
	MonthlyMicroUSD:   {"monthly_micro_usd", Quota, microUSD},
}

func one(Cost) int64        { return 1 }
func tokens(c Cost) int64   { return c.Tokens }
func microUSD(c Cost) int64 { return c.MicroUSD }

func (k Kind) valid() bool { return k > 0 && int(k) < len(kinds) }

// String names the kind, as backends name its state.
func (k Kind) String() string {
	if !k.valid() {
		return fmt.Sprintf("kind(%d)", uint8(k))
	}
	return kinds[k].name
}

// Class is how k behaves.
func (k Kind) Class() Class {
	if !k.valid() {
		return 0
	}
	return kinds[k].class
}

// Amount is what a request costing c takes from a rule of kind k.
func (k Kind) Amount(c Cost) int64 {
	if !k.valid() {
		return 0
	}
	return max(0, kinds[k].amount(c))
}

// BucketPeriod is what a Bucket refills its Max over.
const BucketPeriod = time.Minute

// Rule is one limit on a request: Max of Kind, shared by every request
// of Scope ("key:<id>", "tenant:<name>": the scopes of the store's
// monthly counters).
type Rule struct {
	Scope string
	Kind  Kind
	Max   int64
}

func (r Rule) String() string { return fmt.Sprintf("%s %s ≤ %d", r.Scope, r.Kind, r.Max) }

// CheckRules returns an error wrapping ErrRejected for the first of
// rules no backend can hold (an unknown kind, a max that is not
// positive): every backend checks its admissions' and settlements'
// rules with it, so that they all reject the same.
func CheckRules(rules []Rule) error {
	for _, r := range rules {
		if !r.Kind.valid() || r.Max <= 0 {
			return fmt.Errorf("%w: rule %s: a known kind and a positive max are needed", ErrRejected, r)
		}
	}
	return nil
}

// Cost is what a request is expected to spend (when admitted) or spent
// (when it settles). Each kind of rule counts one part of it (Amount).
type Cost struct {
	Tokens int64
	// MicroUSD is the money, in millionths of a US dollar: the known
	// cost of the request's model calls (a call of a model without a
	// price counts nothing).
	MicroUSD int64
}

// Add is c and o together: every part of a cost is added here.
func (c Cost) Add(o Cost) Cost {
	return Cost{Tokens: c.Tokens + o.Tokens, MicroUSD: c.MicroUSD + o.MicroUSD}
}

// Spend is part of what a request spent, and when: its tokens count in
// the quota month of At, the time its usage records were stamped (so
// what the store's counters say after a restart is what was settled).
type Spend struct {
	At   time.Time
	Cost Cost
}
