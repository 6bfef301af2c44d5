package limits

import (
	"context"
	"errors"
	"time"

	"github.com/agentgate/agentgate/state"
)

// Backend keeps the state of the limits, at its own time: an instance's
// clock decides nothing, so instances with skewed clocks agree. A shared
// backend makes each call one round trip, atomic.
type Backend interface {
	// Admit evaluates req.Rules at the backend's time. When every rule
	// fits its amount, it takes them all, holding a Slots or Quota
	// rule's amount under the lease req.Lease until req.TTL from now;
	// when one does not, it takes nothing. A Quota rule whose scope has
	// no figure for the month yet takes its seed from req.Seeds; one
	// without a seed is answered in Unseeded, and nothing is taken.
	Admit(ctx context.Context, req *Request) (Answer, error)
	// Renew moves the expiry of what each lease holds to ttl from the
	// backend's now. What has expired already is not brought back.
	Renew(ctx context.Context, leases []Held, ttl time.Duration) error
	// Settle ends a lease: it frees its slots and reservations (those it
	// still holds: one that expired is not freed twice), gives back to
	// or takes from each bucket the difference between what the lease
	// took and what the request really used, and adds what it spent to
	// each quota's month (Settlement.Months), where the backend has a
	// figure for that month. It applies whether or not the lease has
	// expired.
	Settle(ctx context.Context, s *Settlement) error
	// Close releases the backend's resources.
	Close() error
}

// ErrUnavailable marks a backend that could not be reached: a Limiter
// then admits or refuses as its OnError says.
var ErrUnavailable = errors.New("limits backend unavailable")

// ErrRejected marks the error of a call the backend answered but could
// not carry out because of the call itself (a key of the wrong type, a
// script's runtime error, a reply that cannot be read, a rule it cannot
// hold): the same call would fail again, and the backend is reachable.
// A backend wraps such errors with it; every other error says the
// backend could not be reached, including answers about the backend's
// own state (loading, busy, read-only, out of memory), which pass.
// A Limiter does not hold calls back after a rejected one, admits or
// refuses the request as its OnError says, and does not retry a
// rejected settlement.
var ErrRejected = errors.New("limits backend rejected the call")

// Request is one admission.
type Request struct {
	// Lease names what the admission holds; TTL is how long it holds it
	// unless renewed.
	Lease string
	TTL   time.Duration
	Rules []Rule
	// Amounts is what the request takes from each rule.
	Amounts []int64
	// Seeds are the figures of quota months the backend had none of.
	Seeds []Seed
	// Peek evaluates the rules (with amounts of zero) and takes nothing.
	Peek bool
}

// Seed is what the durable usage records say a Quota rule's scope used
// in a month, for a backend that has no figure for it.
type Seed struct {
	// Rule is the rule's index in Request.Rules.
	Rule  int
	Month string // state.MonthKey
	Used  int64
}

// Answer is a backend's evaluation of a Request.
type Answer struct {
	// Now is the backend's time of the evaluation.
	Now time.Time
	// Unseeded are the indexes of Quota rules the backend has no figure
	// for in Now's month: nothing was taken.
	Unseeded []int
	Admitted bool
	// Refused is the index of the first rule that did not fit, or -1.
	Refused int
	// States are the rules' figures, one per rule.
	States []State
}

// State is a rule's figures at a decision.
type State struct {
	// Remaining is what the rule still allows: after the request's
	// amount when it was admitted, before it when refused.
	Remaining int64
	// RetryAfter is when the refused amount would fit (buckets; one
	// second for slots; the month's end for quotas); Reset when the rule
	// is back to its whole Max (buckets) or starts afresh (quotas).
	RetryAfter, Reset time.Duration
	// Used and Reserved are a Quota's month figures before the request:
	// tokens settled, and held by requests in flight.
	Used, Reserved int64
}

// Held is what a lease holds: its rules of class Slots and Quota.
type Held struct {
	Lease string
	Rules []Rule
}

// Settlement ends a lease with what its request really spent.
type Settlement struct {
	Lease string
	Rules []Rule
	// Taken is what admission took from each rule (zeros for a request
	// admitted without the backend).
	Taken []int64
	Spent []Spend
}

// Refund is what the settlement gives back to bucket rule i: what
// admission took minus what the request used by the rule's measure of
// its whole cost (negative: the request owes it). A request counts once
// in a bucket of requests however many calls it made.
func (s *Settlement) Refund(i int) int64 {
	var spent Cost
	for _, sp := range s.Spent {
		spent = spent.Add(sp.Cost)
	}
	return s.Taken[i] - s.Rules[i].Kind.Amount(spent)
}

// MonthAmount is what a request spent of a quota in one month.
type MonthAmount struct {
	Month  string // state.MonthKey
	Amount int64
}

// Months is what the request spent of quota rule i, by month.
func (s *Settlement) Months(i int) []MonthAmount {
	var out []MonthAmount
	for _, sp := range s.Spent {
		a := s.Rules[i].Kind.Amount(sp.Cost)
		if a == 0 {
			continue
		}
		m := state.MonthKey(sp.At)
		if n := len(out); n > 0 && out[n-1].Month == m {
			out[n-1].Amount += a
		} else {
			out = append(out, MonthAmount{Month: m, Amount: a})
		}
	}
	return out
}
