package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agentgate/agentgate/state"
	"github.com/spf13/cobra"
)

// spendCommand is `caddy agentgate spend`: GET /agentgate/spend as a
// table, one row per group and a total.
func spendCommand() *cobra.Command {
	c := &cobra.Command{Use: "spend", Short: "Prints calls, tokens and cost by model, agent, key, tenant or day", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			q := url.Values{}
			for flag, param := range map[string]string{"tenant": "tenant", "key": "key", "group-by": "group_by", "from": "from", "to": "to"} {
				if f := c.Flags().Lookup(flag); f.Changed {
					q.Set(param, f.Value.String())
				}
			}
			uri := "/agentgate/spend"
			if len(q) > 0 {
				uri += "?" + q.Encode()
			}
			var v spendView
			if err := adminCall(c, http.MethodGet, uri, nil, &v); err != nil {
				return err
			}
			return printSpend(c.OutOrStdout(), &v)
		}}
	c.Flags().String("tenant", "", "only this tenant's usage")
	c.Flags().String("key", "", "only this key's usage (a key id)")
	c.Flags().String("group-by", "model", "model, agent, key, tenant or day")
	c.Flags().String("from", "", "start, inclusive: a date (UTC) or an RFC 3339 time (default: the first of this month)")
	c.Flags().String("to", "", "end, exclusive (default: the first of next month)")
	return c
}

// printSpend writes v as a table.
func printSpend(w io.Writer, v *spendView) error {
	scope := "every tenant"
	if v.Tenant != "" {
		scope = "tenant " + v.Tenant
	}
	if v.Key != "" {
		scope += ", key " + v.Key
	}
	fmt.Fprintf(w, "Spend of %s from %s to %s, by %s\n\n", scope, v.From.UTC().Format(time.RFC3339), v.To.UTC().Format(time.RFC3339), v.GroupBy)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\tCALLS\tINPUT\tOUTPUT\tREASONING\tCACHED\tCOST USD\tUNPRICED\t\n", groupHeader(v.GroupBy))
	row := func(name string, s state.UsageSum) {
		if name == "" {
			name = "(none)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t\n", name, s.Calls, s.InputTokens, s.OutputTokens,
			s.ReasoningTokens, s.CachedTokens, dollars(s.Cost.String()), s.Unpriced)
	}
	for _, g := range v.Groups {
		row(g.Group, g)
	}
	row("TOTAL", v.Total)
	if err := tw.Flush(); err != nil {
		return err
	}
	if v.Total.Unpriced > 0 {
		fmt.Fprintf(w, "\n%d calls of models without a price are not in the cost.\n", v.Total.Unpriced)
	}
	return nil
}

func groupHeader(g state.UsageGroup) string {
	switch g {
	case state.GroupAgent:
		return "AGENT"
	case state.GroupKey:
		return "KEY"
	case state.GroupTenant:
		return "TENANT"
	case state.GroupDay:
		return "DAY"
	}
	return "MODEL"
}

// dollars shows an amount (as pricing.Micros formats it, without
// trailing zeros) with at least two decimals: 3 → 3.00, 0.5 → 0.50,
// 0.000021 as it is.
func dollars(s string) string {
	_, frac, ok := strings.Cut(s, ".")
	switch {
	case !ok:
		return s + ".00"
	case len(frac) == 1:
		return s + "0"
	}
	return s
}
