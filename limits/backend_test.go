package limits

import (
	"fmt"
	"testing"
	"time"
)

// TestSettlementFigures: what a settlement gives back to each bucket and
// adds to each quota month, from what admission took and what the
// request's calls spent.
func TestSettlementFigures(t *testing.T) {
	nov := time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC)
	dec := nov.Add(2 * time.Second)
	rpm := Rule{Scope: "key:k", Kind: RequestsPerMinute, Max: 10}
	tpm := Rule{Scope: "key:k", Kind: TokensPerMinute, Max: 1000}
	quota := Rule{Scope: "key:k", Kind: MonthlyTokens, Max: 1000}
	conc := Rule{Scope: "key:k", Kind: Concurrent, Max: 1}
	budget := Rule{Scope: "key:k", Kind: MonthlyMicroUSD, Max: 5000}
	for _, tc := range []struct {
		name             string
		taken            []int64
		spent            []Spend
		wantRPM, wantTPM int64
		wantMonths       string
		wantNeeded       bool
		rules            []Rule
	}{
		{"no call", []int64{1, 100, 100}, nil, 0, 100, "[]", true, []Rule{rpm, tpm, quota}},
		{"two calls in two months", []int64{1, 100, 100}, []Spend{{nov, Cost{Tokens: 30}}, {dec, Cost{Tokens: 20}}, {dec, Cost{Tokens: 5}}}, 0, 45, "[{2026-11 30} {2026-12 25}]", true, []Rule{rpm, tpm, quota}},
		{"beyond the estimate", []int64{1, 100, 100}, []Spend{{nov, Cost{Tokens: 130}}}, 0, -30, "[{2026-11 130}]", true, []Rule{rpm, tpm, quota}},
		{"unchecked", []int64{0, 0, 0}, []Spend{{nov, Cost{Tokens: 40}}}, -1, -40, "[{2026-11 40}]", true, []Rule{rpm, tpm, quota}},
		// A budget counts the money of each call, the tokens bucket its
		// tokens; a call of a model without a price costs no money.
		{"money", []int64{1, 100, 900}, []Spend{{nov, Cost{Tokens: 30, MicroUSD: 700}}, {dec, Cost{Tokens: 20}}, {dec, Cost{Tokens: 5, MicroUSD: 45}}},
			0, 45, "[{2026-11 700} {2026-12 45}]", true, []Rule{rpm, tpm, budget}},
		{"rpm only", []int64{1}, []Spend{{nov, Cost{Tokens: 40}}}, 0, 0, "", false, []Rule{rpm}},
		{"a slot", []int64{1}, nil, 0, 0, "", true, []Rule{conc}},
		{"a slot never taken", []int64{0}, nil, 0, 0, "", false, []Rule{conc}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Settlement{Rules: tc.rules, Taken: tc.taken, Spent: tc.spent}
			if got := s.needed(); got != tc.wantNeeded {
				t.Errorf("needed = %v", got)
			}
			if len(tc.rules) < 3 {
				return
			}
			if got := s.Refund(0); got != tc.wantRPM {
				t.Errorf("rpm refund %d, want %d", got, tc.wantRPM)
			}
			if got := s.Refund(1); got != tc.wantTPM {
				t.Errorf("tpm refund %d, want %d", got, tc.wantTPM)
			}
			if got := fmt.Sprint(s.Months(2)); got != tc.wantMonths {
				t.Errorf("months %s, want %s", got, tc.wantMonths)
			}
		})
	}
}

func TestKinds(t *testing.T) {
	c := Cost{Tokens: 250, MicroUSD: 1_500}
	for _, tc := range []struct {
		k      Kind
		class  Class
		amount int64
		name   string
	}{
		{Concurrent, Slots, 1, "concurrent"},
		{RequestsPerMinute, Bucket, 1, "rpm"},
		{TokensPerMinute, Bucket, 250, "tpm"},
		{MonthlyTokens, Quota, 250, "monthly_tokens"},
		{MonthlyMicroUSD, Quota, 1_500, "monthly_micro_usd"},
		{Kind(0), 0, 0, "kind(0)"},
		{Kind(99), 0, 0, "kind(99)"},
	} {
		if tc.k.Class() != tc.class || tc.k.Amount(c) != tc.amount || tc.k.String() != tc.name {
			t.Errorf("%v: class %v amount %d name %q", tc.k, tc.k.Class(), tc.k.Amount(c), tc.k.String())
		}
	}
	if (Cost{Tokens: 1, MicroUSD: 2}).Add(Cost{Tokens: 10, MicroUSD: 20}) != (Cost{Tokens: 11, MicroUSD: 22}) {
		t.Error("Cost.Add does not add every part")
	}
	if (Kind(TokensPerMinute)).Amount(Cost{Tokens: -5}) != 0 {
		t.Error("a negative cost takes something back")
	}
}
