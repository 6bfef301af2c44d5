package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"
)

// GET /agentgate/status explains a running gateway to its operator: what
// runs (versions, since when, which config), whether the store and the
// limits backend answer, how each provider's calls went lately (its last
// error with the cause, keys cooling down after a 429), and how many
// agents, keys and sessions there are. It reads the store once (the
// counts, which double as its health check) and asks the limits backend
// for nothing (an admission of no rules), under a short deadline, so it
// answers even when neither does.

// statusTimeout bounds the status's read of the store.
const statusTimeout = 2 * time.Second

// firstProvision is when an agentgate app was first provisioned in this
// process: the gateway's start, which reloads do not move.
var firstProvision struct {
	once sync.Once
	at   time.Time
}

// statusView is the answer of GET /agentgate/status.
type statusView struct {
	Version        versionView `json:"version"`
	StartedAt      time.Time   `json:"started_at"`
	UptimeSeconds  float64     `json:"uptime_seconds"`
	ConfigLoadedAt time.Time   `json:"config_loaded_at"`
	// Store and Limits are the backends keeping state and limits.
	Store     backendView    `json:"store"`
	Limits    backendView    `json:"limits"`
	Providers []providerView `json:"providers"`
	Counts    countsView     `json:"counts"`
}

type versionView struct {
	Agentgate string `json:"agentgate"`
	// Revision is the VCS revision agentgate was built from, when the
	// build recorded one.
	Revision string `json:"revision,omitempty"`
	Caddy    string `json:"caddy"`
	Go       string `json:"go"`
}

// backendView is a backend and whether it answered just now.
type backendView struct {
	Backend  string `json:"backend"`
	Location string `json:"location,omitempty"`
	Healthy  bool   `json:"healthy"`
	Error    string `json:"error,omitempty"`
}

// providerView is a configured provider and how its calls went lately.
type providerView struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	BaseURLs []string `json:"base_urls,omitempty"`
	// Members is the number of upstreams (base URLs × keys) it spreads
	// calls over.
	Members int `json:"members"`
	// State is "ok" (its latest call succeeded), "failing" (its latest
	// call failed) or "idle" (no call yet).
	State       string         `json:"state"`
	LastSuccess *time.Time     `json:"last_success_at,omitempty"`
	LastError   *providerError `json:"last_error,omitempty"`
	// Cooldowns are the members sidelined after a 429, until when.
	Cooldowns []cooldownView `json:"cooldowns,omitempty"`
}

type cooldownView struct {
	Member           int       `json:"member"`
	Until            time.Time `json:"until"`
	RemainingSeconds float64   `json:"remaining_seconds"`
}

// countsView counts what the gateway serves. Stored counts are absent
// when the store did not answer.
type countsView struct {
	Agents   declaredStored `json:"agents"`
	Keys     declaredStored `json:"keys"`
	Sessions *int64         `json:"sessions"`
}

type declaredStored struct {
	Declared int    `json:"declared"`
	Stored   *int64 `json:"stored"`
}

func handleStatus(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	app, err := activeApp()
	if err != nil {
		return err
	}
	return writeAdminJSON(w, http.StatusOK, app.status(r.Context()))
}

// status reports on a.
func (a *App) status(ctx context.Context) statusView {
	now := a.clock.Now()
	v := statusView{Version: buildVersion(), StartedAt: firstProvision.at, UptimeSeconds: now.Sub(firstProvision.at).Seconds(),
		ConfigLoadedAt: a.loaded,
		Store:          backendView{Backend: a.storeBackend, Location: a.storeLocation},
		Limits:         backendView{Backend: a.limitsBackend},
	}
	if a.limitsLocation != a.limitsBackend {
		v.Limits.Location = a.limitsLocation
	}
	v.Counts.Agents.Declared = len(a.Agents)
	v.Counts.Keys.Declared = len(a.keys.declared)
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	if err := a.limiter.Check(ctx); err != nil {
		v.Limits.Error = err.Error()
	} else {
		v.Limits.Healthy = true
	}
	if totals, err := a.backend.store.Totals(ctx); err != nil {
		v.Store.Error = err.Error()
	} else {
		v.Store.Healthy = true
		v.Counts.Agents.Stored, v.Counts.Keys.Stored, v.Counts.Sessions = &totals.Agents, &totals.Keys, &totals.Sessions
	}
	for _, p := range a.providerInfos {
		v.Providers = append(v.Providers, p.view(now))
	}
	return v
}

// providerInfo is what the status shows of a configured provider.
type providerInfo struct {
	name, typ string
	baseURLs  []string
	members   int
	// cooldowns reports its members' cooldowns, for a pool; nil else.
	cooldowns func() []time.Time
}

func (p providerInfo) view(now time.Time) providerView {
	v := providerView{Name: p.name, Type: p.typ, BaseURLs: p.baseURLs, Members: p.members, State: "idle"}
	lastOK, lastErr := stateOf(p.name).snapshot()
	if !lastOK.IsZero() {
		v.LastSuccess = &lastOK
		v.State = "ok"
	}
	if lastErr != nil {
		v.LastError = lastErr
		if lastOK.Before(lastErr.At) {
			v.State = "failing"
		}
	}
	if p.cooldowns != nil {
		for i, until := range p.cooldowns() {
			if until.After(now) {
				v.Cooldowns = append(v.Cooldowns, cooldownView{Member: i, Until: until, RemainingSeconds: until.Sub(now).Seconds()})
			}
		}
	}
	return v
}

// publicURL is u without what must not be shown: credentials and query
// (where some put a key).
func publicURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return ""
	}
	parsed.User, parsed.RawQuery, parsed.Fragment = nil, "", ""
	return parsed.String()
}

// modulePath is agentgate's Go module.
const modulePath = "github.com/agentgate/agentgate"

// buildVersion reads the versions the binary was built with.
func buildVersion() versionView {
	simple, _ := caddy.Version()
	v := versionView{Agentgate: "unknown", Caddy: simple}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Go = bi.GoVersion
	if bi.Main.Path == modulePath {
		v.Agentgate = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v.Revision = s.Value
			}
		}
		return v
	}
	for _, d := range bi.Deps {
		if d.Path == modulePath {
			v.Agentgate = d.Version
			if d.Replace != nil {
				v.Agentgate = d.Replace.Version
			}
		}
	}
	if v.Agentgate == "" {
		v.Agentgate = "(devel)"
	}
	return v
}

// statusCommand is `caddy agentgate status`.
func statusCommand() *cobra.Command {
	c := &cobra.Command{Use: "status", Short: "Shows the running gateway's status", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var raw json.RawMessage
			if err := adminCall(c, http.MethodGet, "/agentgate/status", nil, &raw); err != nil {
				return err
			}
			if asJSON, _ := c.Flags().GetBool("json"); asJSON {
				var out bytes.Buffer
				if err := json.Indent(&out, raw, "", "  "); err != nil {
					return err
				}
				out.WriteByte('\n')
				_, err := out.WriteTo(c.OutOrStdout())
				return err
			}
			var st statusView
			if err := json.Unmarshal(raw, &st); err != nil {
				return err
			}
			return printStatus(c.OutOrStdout(), &st)
		}}
	c.Flags().Bool("json", false, "print the admin API's JSON")
	return c
}

// printStatus writes st for a person.
func printStatus(w io.Writer, st *statusView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "agentgate %s (caddy %s), up %s, config loaded %s\n\n", st.Version.Agentgate, st.Version.Caddy,
		time.Duration(st.UptimeSeconds*float64(time.Second)).Round(time.Second), st.ConfigLoadedAt.Format(time.RFC3339))
	for _, b := range []struct {
		what string
		v    backendView
	}{{"store", st.Store}, {"limits", st.Limits}} {
		health := "ok"
		if !b.v.Healthy {
			health = "DOWN: " + b.v.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.what, b.v.Backend, health, b.v.Location)
	}
	stored := func(n *int64) string {
		if n == nil {
			return "?"
		}
		return strconv.FormatInt(*n, 10)
	}
	fmt.Fprintf(tw, "agents\t%d declared, %s stored\n", st.Counts.Agents.Declared, stored(st.Counts.Agents.Stored))
	fmt.Fprintf(tw, "keys\t%d declared, %s stored\n", st.Counts.Keys.Declared, stored(st.Counts.Keys.Stored))
	fmt.Fprintf(tw, "sessions\t%s\n\n", stored(st.Counts.Sessions))
	fmt.Fprintln(tw, "PROVIDER\tTYPE\tSTATE\tCOOLING\tLAST ERROR")
	for _, p := range st.Providers {
		last := ""
		if e := p.LastError; e != nil {
			last = e.At.Format(time.RFC3339) + " " + e.Error
			if e.Cause != "" {
				last += ": " + e.Cause
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\n", p.Name, p.Type, p.State, len(p.Cooldowns), p.Members, last)
	}
	return tw.Flush()
}
