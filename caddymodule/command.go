package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"text/tabwriter"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "agentgate",
		Usage: "key create|list|revoke [flags] | spend [flags] | status [--json] | store copy --from <store> --to <store>",
		Short: "Manages agentgate API keys of a running Caddy, reports spend and status, and copies stores",
		Long: `
Manages agentgate API keys and reports spend through the admin API of a
running Caddy (the store is locked by that process, so the CLI never opens
it directly).

  caddy agentgate key create --tenant acme [--tier pro] [--email a@b.c] [--project p1 …]
  caddy agentgate key list
  caddy agentgate key revoke <id>
  caddy agentgate spend [--tenant acme] [--key <id>] [--group-by model|agent|key|tenant|day]
                        [--from 2026-01-01] [--to 2026-02-01]
  caddy agentgate status [--json]

--address selects the admin endpoint (default: $AGENTGATE_ADMIN, else localhost:2019).
A created key is printed once; only its hash is stored. status shows
versions, uptime, whether the store and the limits backend answer, each
provider's state, last error and cooldowns, and the counts of agents, keys
and sessions (--json: the admin API's answer as it is).

Copies every object of one store into another, empty one, offline (stop
the gateway first), and says what it copied:

  caddy agentgate store copy --from bbolt:./data --to 'postgres:{env.AGENTGATE_DSN}'

A store is <module>:<argument>, as the Caddyfile's "storage <module>
<argument>" names it: bbolt:<data dir or store file>, postgres:<dsn>.
Placeholders such as {env.X} are expanded, so a DSN's password need not
appear on the command line.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.PersistentFlags().String("address", "", "admin API address (default $AGENTGATE_ADMIN or localhost:2019)")
			key := &cobra.Command{Use: "key", Short: "Creates, lists and revokes API keys"}
			create := &cobra.Command{Use: "create", Short: "Creates an API key and prints it once", Args: cobra.NoArgs,
				RunE: func(c *cobra.Command, _ []string) error {
					f := c.Flags()
					tenant, _ := f.GetString("tenant")
					tier, _ := f.GetString("tier")
					email, _ := f.GetString("email")
					projects, _ := f.GetStringSlice("project")
					body, _ := json.Marshal(createKeyRequest{Tenant: tenant, Tier: tier, Email: email, Projects: projects})
					var out keyView
					if err := adminCall(c, http.MethodPost, "/agentgate/keys", body, &out); err != nil {
						return err
					}
					fmt.Fprintf(c.OutOrStdout(), "id:     %s\ntenant: %s\ntier:   %s\nkey:    %s\n\nThe key is shown only this once.\n", out.ID, out.Tenant, out.Tier, out.Key)
					return nil
				}}
			create.Flags().String("tenant", "default", "tenant the key belongs to")
			create.Flags().String("tier", "free", "tier of the key")
			create.Flags().String("email", "", "contact email shown by /v1/auth/profile")
			create.Flags().StringSlice("project", nil, "limit the key to these projects (repeatable)")
			list := &cobra.Command{Use: "list", Short: "Lists API keys (never their secrets)", Args: cobra.NoArgs,
				RunE: func(c *cobra.Command, _ []string) error {
					var keys []keyView
					if err := adminCall(c, http.MethodGet, "/agentgate/keys", nil, &keys); err != nil {
						return err
					}
					tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tTENANT\tTIER\tPREFIX\tEMAIL\tCREATED")
					for _, k := range keys {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s…\t%s\t%s\n", k.ID, k.Tenant, k.Tier, k.Prefix, k.Email, k.Created.Format("2006-01-02"))
					}
					return tw.Flush()
				}}
			revoke := &cobra.Command{Use: "revoke <id>", Short: "Revokes an API key", Args: cobra.ExactArgs(1),
				RunE: func(c *cobra.Command, args []string) error {
					if err := adminCall(c, http.MethodDelete, "/agentgate/keys/"+args[0], nil, nil); err != nil {
						return err
					}
					fmt.Fprintf(c.OutOrStdout(), "revoked %s\n", args[0])
					return nil
				}}
			key.AddCommand(create, list, revoke)
			cmd.AddCommand(key, spendCommand(), statusCommand())
			store := &cobra.Command{Use: "store", Short: "Copies a gateway's state between stores"}
			storeCopy := &cobra.Command{Use: "copy", Short: "Copies every object of a store into an empty one, offline", Args: cobra.NoArgs,
				RunE: func(c *cobra.Command, _ []string) error {
					from, _ := c.Flags().GetString("from")
					to, _ := c.Flags().GetString("to")
					if from == "" || to == "" {
						return errors.New("--from and --to are required")
					}
					ctx := c.Context()
					if ctx == nil {
						ctx = context.Background()
					}
					return copyStore(ctx, c.OutOrStdout(), from, to)
				}}
			storeCopy.Flags().String("from", "", "the store to copy: bbolt:<dir or file> or postgres:<dsn>")
			storeCopy.Flags().String("to", "", "the empty store to copy into")
			store.AddCommand(storeCopy)
			cmd.AddCommand(store)
		},
	})
}

func adminAddress(c *cobra.Command) string {
	if a, _ := c.Flags().GetString("address"); a != "" {
		return a
	}
	if a := os.Getenv("AGENTGATE_ADMIN"); a != "" {
		return a
	}
	return "localhost:2019"
}

// adminCall sends one admin API request and decodes its JSON answer.
func adminCall(c *cobra.Command, method, uri string, body []byte, out any) error {
	var rd io.Reader
	h := http.Header{}
	if body != nil {
		rd = bytes.NewReader(body)
		h.Set("Content-Type", "application/json")
	}
	resp, err := caddycmd.AdminAPIRequest(adminAddress(c), method, uri, h, rd)
	if err != nil {
		return err // AdminAPIRequest already reports the status and body
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
