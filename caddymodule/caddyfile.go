package caddymodule

import (
	"encoding/json"
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("agentgate", parseGlobal)
	httpcaddyfile.RegisterHandlerDirective("agentgate", parseDirective)
	// Before basic_auth: agentgate's routes carry their own API-key auth,
	// and it must run before respond, reverse_proxy and file_server (and
	// before encode and templates, which would buffer streams) so a site
	// can serve agentgate beside an existing app without an order line.
	httpcaddyfile.RegisterDirectiveOrder("agentgate", httpcaddyfile.Before, "basic_auth")
}

// parseGlobal parses the agentgate global option:
//
//	agentgate {
//	    data_dir <dir>
//	    storage bbolt [<dir>]               # the default: one file in data_dir
//	    storage postgres <dsn> { … }        # shared by several instances; see state/postgres
//	    limits memory { … }                 # the default: one process's memory; see limits/memory
//	    limits redis <url> { … }            # shared by several instances; see limits/redis
//	    max_body_bytes <n>
//	    max_image_bytes <n>
//	    usage_flush_interval <duration>
//	    metrics {
//	        tenant_label on|off     # per-tenant labels and quota gauges; default off
//	    }
//	    tracing {
//	        record_content on|off   # prompts and completions on the spans; default off
//	    }
//	    provider <name> <type> {
//	        base_url <url...>        # several: a pool
//	        api_key <key...>         # several: a pool
//	        models <model...>
//	        timeout <duration>                # one call; default 10m
//	        stream_header_timeout <duration>  # streamed call: wait for headers; default 30s
//	        stream_idle_timeout <duration>    # streamed call: longest silence; default 60s
//	        <option> <value>        # provider-specific (mock: delay, reply)
//	    }
//	    route <model|prefix*> <provider> [<target model>] {
//	        lacks images|tools|reasoning|documents...   # what these models cannot take
//	        drop                              # drop it instead of a 400
//	    }
//	    retries {
//	        max <n>                  # per model; default 2
//	        backoff <duration>       # first wait, doubled per retry; default 250ms
//	        max_backoff <duration>   # default 4s
//	        deadline <duration>      # no retry or fallback starts after it; default 30s
//	    }
//	    paused_run_ttl <duration>    # default 24h
//	    passthrough off|<provider>   # OpenAI endpoints not translated (files, batches,
//	                                 # images, audio…) go upstream as they came; <provider>
//	                                 # serves those naming no model. Default: on, to the only
//	                                 # OpenAI-compatible provider
//	    toolkit <name> http { method <name> <url> { … } }   # see parseToolkit
//	    mcp <name> <endpoint> { … }                         # see parseMCP
//	    agent <id> {
//	        name <name>
//	        description <text>
//	        tenant <tenant>
//	        system_prompt <text>
//	        model <model>
//	        provider <name>
//	        temperature <float>
//	        top_p <float>
//	        max_tokens <int>
//	        reasoning on|off
//	        reasoning_effort low|medium|high
//	        history_turns <int>
//	        tools <tool...>
//	        fallbacks <model...>
//	        max_iterations <int>
//	        status active|inactive|draft   # default active; others are listed, refused with 400
//	    }
//	    tier <name> {
//	        monthly_tokens <n>          # per key; 0 or absent: unlimited
//	        tenant_monthly_tokens <n>   # all of a tenant's keys on this tier together
//	        rpm <n>                     # requests per minute per key
//	        tpm <n>                     # tokens per minute per key
//	        concurrent <n>              # requests in flight per key
//	        models <model|prefix*...>   # models keys may call directly (default: any routed)
//	        monthly_budget_usd <dollars>        # per key, per month: the estimated cost is reserved, the real one settled
//	        tenant_monthly_budget_usd <dollars> # all of a tenant's keys on this tier
//	        unpriced allow|deny                 # under a budget, a model without a price: deny (default) is a 403
//	                                            # naming it; allow lets it through outside the budgets
//	    }
//	    price <model|prefix*> { input … output … }   # see parsePrice
//	    key <secret> {
//	        tenant <tenant>
//	        tier <tier>
//	        email <email>
//	        projects <project...>
//	    }
//	}
func parseGlobal(d *caddyfile.Dispenser, existing any) (any, error) {
	app := new(App)
	if prev, ok := existing.(httpcaddyfile.App); ok {
		// Repeated agentgate blocks (e.g. from imported snippets) merge.
		if err := json.Unmarshal(prev.Value, app); err != nil {
			return nil, err
		}
	}
	d.Next() // the option name
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "data_dir":
			err = oneArg(d, &app.DataDir)
		case "storage":
			err = parseStorage(d, app)
		case "limits":
			err = parseLimits(d, app)
		case "max_body_bytes":
			err = intArg(d, &app.MaxBodyBytes)
		case "max_image_bytes":
			err = intArg(d, &app.MaxImageBytes)
		case "usage_flush_interval":
			err = durationArg(d, &app.UsageFlushInterval)
		case "provider":
			err = parseProvider(d, app)
		case "route":
			err = parseRoute(d, app)
		case "agent":
			err = parseAgent(d, app)
		case "key":
			err = parseKey(d, app)
		case "tier":
			err = parseTier(d, app)
		case "toolkit":
			err = parseToolkit(d, app)
		case "mcp":
			err = parseMCP(d, app)
		case "retries":
			err = parseRetries(d, app)
		case "paused_run_ttl":
			err = durationArg(d, &app.PausedRunTTL)
		case "metrics":
			err = parseMetrics(d, app)
		case "tracing":
			err = parseTracing(d, app)
		case "embedding_model":
			err = oneArg(d, &app.EmbeddingModel)
		case "price":
			err = parsePrice(d, app)
		case "passthrough":
			err = parsePassthrough(d, app)
		default:
			return nil, d.Errf("unrecognized agentgate option %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return httpcaddyfile.App{Name: "agentgate", Value: caddyconfig.JSON(app, nil)}, nil
}

func parseProvider(d *caddyfile.Dispenser, app *App) error {
	var pc ProviderConfig
	if !d.Args(&pc.Name, &pc.Type) {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch key := d.Val(); key {
		case "base_url":
			// Several base URLs (or repeated lines) form a pool.
			urls := d.RemainingArgs()
			if len(urls) == 0 {
				return d.ArgErr()
			}
			if pc.BaseURL == "" {
				pc.BaseURL, urls = urls[0], urls[1:]
			}
			pc.BaseURLs = append(pc.BaseURLs, urls...)
		case "api_key":
			// Several keys (or repeated lines) form a pool.
			keys := d.RemainingArgs()
			if len(keys) == 0 {
				return d.ArgErr()
			}
			if pc.APIKey == "" {
				pc.APIKey, keys = keys[0], keys[1:]
			}
			pc.APIKeys = append(pc.APIKeys, keys...)
		case "models":
			pc.Models = append(pc.Models, d.RemainingArgs()...)
		case "timeout":
			err = durationArg(d, &pc.Timeout)
		case "stream_header_timeout":
			err = durationArg(d, &pc.StreamHeaderTimeout)
		case "stream_idle_timeout":
			err = durationArg(d, &pc.StreamIdleTimeout)
		default:
			var v string
			if err = oneArg(d, &v); err == nil {
				if pc.Options == nil {
					pc.Options = map[string]string{}
				}
				pc.Options[key] = v
			}
		}
		if err != nil {
			return err
		}
	}
	app.Providers = append(app.Providers, pc)
	return nil
}

func parseAgent(d *caddyfile.Dispenser, app *App) error {
	var ac AgentConfig
	if !d.Args(&ac.ID) {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "name":
			err = oneArg(d, &ac.Name)
		case "description":
			err = oneArg(d, &ac.Description)
		case "tenant":
			err = oneArg(d, &ac.Tenant)
		case "system_prompt":
			err = oneArg(d, &ac.SystemPrompt)
		case "model":
			err = oneArg(d, &ac.Model)
		case "provider":
			err = oneArg(d, &ac.Provider)
		case "temperature":
			ac.Temperature = new(float64)
			err = floatArg(d, ac.Temperature)
		case "top_p":
			ac.TopP = new(float64)
			err = floatArg(d, ac.TopP)
		case "max_tokens":
			var n int64
			err = intArg(d, &n)
			m := int(n)
			ac.MaxTokens = &m
		case "reasoning":
			var v string
			if err = oneArg(d, &v); err == nil {
				switch v {
				case "on", "true":
					ac.Reasoning = true
				case "off", "false":
					ac.Reasoning = false
				default:
					err = d.Errf("reasoning must be on or off, got %q", v)
				}
			}
		case "reasoning_effort":
			err = oneArg(d, &ac.ReasoningEffort)
		case "history_turns":
			var n int64
			err = intArg(d, &n)
			ac.HistoryTurns = int(n)
		case "tools":
			ac.Tools = append(ac.Tools, d.RemainingArgs()...)
		case "fallbacks":
			ac.Fallbacks = append(ac.Fallbacks, d.RemainingArgs()...)
		case "max_iterations":
			var n int64
			err = intArg(d, &n)
			ac.MaxIterations = int(n)
		case "guardrails":
			if ac.Guardrails == nil {
				ac.Guardrails = &adapters.Guardrails{}
			}
			err = parseGuardrails(d, ac.Guardrails)
		case "knowledge":
			if ac.Knowledge == nil {
				ac.Knowledge = &adapters.Knowledge{}
			}
			err = parseKnowledge(d, ac.Knowledge)
		case "status":
			if err = oneArg(d, &ac.Status); err == nil && !adapters.ValidStatus(ac.Status) {
				err = d.Errf("status must be active, inactive or draft, got %q", ac.Status)
			}
		default:
			err = d.Errf("unrecognized agent option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	app.Agents = append(app.Agents, ac)
	return nil
}

// parseGuardrails parses an agent's guardrails block:
//
//	guardrails {
//	    deny <name> <regexp> [input|output|both]     # default both
//	    redact <name> <regexp> [input|output|both]
//	    redact_pii email phone card
//	    max_input_chars <n>
//	    output_json_schema <json>
//	}
func parseGuardrails(d *caddyfile.Dispenser, g *adapters.Guardrails) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch opt := d.Val(); opt {
		case "deny", "redact":
			args := d.RemainingArgs()
			if len(args) < 2 || len(args) > 3 {
				return d.Errf("%s: want <name> <regexp> [input|output|both]", opt)
			}
			rule := adapters.GuardRule{Name: args[0], Pattern: args[1]}
			if len(args) == 3 {
				switch args[2] {
				case adapters.GuardInput, adapters.GuardOutput:
					rule.AppliesTo = args[2]
				case "both":
				default:
					return d.Errf("%s %s: applies to input, output or both, got %q", opt, args[0], args[2])
				}
			}
			if opt == "deny" {
				g.DenyPatterns = append(g.DenyPatterns, rule)
			} else {
				g.RedactPatterns = append(g.RedactPatterns, rule)
			}
		case "redact_pii":
			kinds := d.RemainingArgs()
			if len(kinds) == 0 {
				return d.ArgErr()
			}
			g.RedactPII = append(g.RedactPII, kinds...)
		case "max_input_chars":
			var n int64
			err = intArg(d, &n)
			g.MaxInputChars = int(n)
		case "output_json_schema":
			var v string
			if err = oneArg(d, &v); err == nil {
				if !json.Valid([]byte(v)) {
					return d.Errf("output_json_schema: not valid JSON: %s", v)
				}
				g.OutputJSONSchema = json.RawMessage(v)
			}
		default:
			err = d.Errf("unrecognized guardrails option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseKnowledge parses `knowledge <source...> { top_k <n>; min_score <f>;
// embedding_model <m> }`.
func parseKnowledge(d *caddyfile.Dispenser, k *adapters.Knowledge) error {
	k.Sources = append(k.Sources, d.RemainingArgs()...)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "top_k":
			var n int64
			err = intArg(d, &n)
			k.TopK = int(n)
		case "min_score":
			err = floatArg(d, &k.MinScore)
		case "embedding_model":
			err = oneArg(d, &k.EmbeddingModel)
		default:
			err = d.Errf("unrecognized knowledge option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if len(k.Sources) == 0 {
		return d.Err("knowledge: at least one source is required")
	}
	return nil
}

func parseRoute(d *caddyfile.Dispenser, app *App) error {
	args := d.RemainingArgs()
	if len(args) < 2 || len(args) > 3 {
		return d.ArgErr()
	}
	rc := RouteConfig{Match: args[0], Provider: args[1]}
	if len(args) == 3 {
		rc.Target = args[2]
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "lacks":
			for _, what := range d.RemainingArgs() {
				switch what {
				case "images":
					rc.Lacks.Images = true
				case "tools":
					rc.Lacks.Tools = true
				case "reasoning":
					rc.Lacks.Reasoning = true
				case "documents":
					rc.Lacks.Documents = true
				default:
					return d.Errf("lacks: unknown input %q (images, tools, reasoning, documents)", what)
				}
			}
		case "drop":
			rc.Lacks.Drop = true
		default:
			return d.Errf("unrecognized route option %q", d.Val())
		}
	}
	app.Routes = append(app.Routes, rc)
	return nil
}

func parseRetries(d *caddyfile.Dispenser, app *App) error {
	rc := &RetryConfig{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "max":
			var n int64
			err = intArg(d, &n)
			rc.Max = int(n)
		case "backoff":
			err = durationArg(d, &rc.Backoff)
		case "max_backoff":
			err = durationArg(d, &rc.MaxBackoff)
		case "deadline":
			err = durationArg(d, &rc.Deadline)
		default:
			err = d.Errf("unrecognized retries option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	app.Retries = rc
	return nil
}

func parseTier(d *caddyfile.Dispenser, app *App) error {
	var t state.Tier
	if !d.Args(&t.Name) {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var dst *int64
		switch d.Val() {
		case "models":
			t.Models = append(t.Models, d.RemainingArgs()...)
			if len(t.Models) == 0 {
				return d.ArgErr()
			}
			continue
		case "monthly_budget_usd", "tenant_monthly_budget_usd":
			opt := d.Val()
			var s string
			if err := oneArg(d, &s); err != nil {
				return err
			}
			m, err := pricing.ParseMicros(s)
			if err != nil {
				return d.Errf("tier %s: %s: %v", t.Name, opt, err)
			}
			if opt == "monthly_budget_usd" {
				t.MonthlyBudgetUSD = m
			} else {
				t.TenantMonthlyBudgetUSD = m
			}
			continue
		case "unpriced":
			if err := oneArg(d, &t.Unpriced); err != nil {
				return err
			}
			if t.Unpriced != state.UnpricedAllow && t.Unpriced != state.UnpricedDeny {
				return d.Errf("tier %s: unpriced must be allow or deny, got %q", t.Name, t.Unpriced)
			}
			continue
		case "monthly_tokens":
			dst = &t.MonthlyTokens
		case "tenant_monthly_tokens":
			dst = &t.TenantMonthlyTokens
		case "rpm":
			dst = &t.RPM
		case "tpm":
			dst = &t.TPM
		case "concurrent":
			dst = &t.Concurrent
		default:
			return d.Errf("unrecognized tier option %q", d.Val())
		}
		if err := intArg(d, dst); err != nil {
			return err
		}
		if *dst < 0 {
			return d.Errf("%s must not be negative", d.Val())
		}
	}
	app.Tiers = append(app.Tiers, t)
	return nil
}

func parseMetrics(d *caddyfile.Dispenser, app *App) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if app.Metrics == nil {
		app.Metrics = new(MetricsConfig)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "tenant_label":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			switch v {
			case "on", "true":
				app.Metrics.TenantLabel = true
			case "off", "false":
				app.Metrics.TenantLabel = false
			default:
				return d.Errf("tenant_label must be on or off, got %q", v)
			}
		default:
			return d.Errf("unrecognized metrics option %q", d.Val())
		}
	}
	return nil
}

func parseKey(d *caddyfile.Dispenser, app *App) error {
	var kc KeyConfig
	if !d.Args(&kc.Key) {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "tenant":
			err = oneArg(d, &kc.Tenant)
		case "tier":
			err = oneArg(d, &kc.Tier)
		case "email":
			err = oneArg(d, &kc.Email)
		case "projects":
			kc.Projects = append(kc.Projects, d.RemainingArgs()...)
		default:
			err = d.Errf("unrecognized key option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	app.Keys = append(app.Keys, kc)
	return nil
}

// parseDirective parses the agentgate handler directive:
//
//	agentgate [<matcher>] {
//	    dialects <name...>
//	}
func parseDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var hd Handler
	err := hd.UnmarshalCaddyfile(h.Dispenser)
	return &hd, err
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "dialects":
			h.Dialects = append(h.Dialects, d.RemainingArgs()...)
			if len(h.Dialects) == 0 {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized agentgate directive option %q", d.Val())
		}
	}
	return nil
}

// parseStorage parses `storage <module> …`: the rest is the
// agentgate.storage module's own syntax.
func parseStorage(d *caddyfile.Dispenser, app *App) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	name := d.Val()
	unm, err := caddyfile.UnmarshalModule(d, "agentgate.storage."+name)
	if err != nil {
		return err
	}
	app.Storage = caddyconfig.JSONModuleObject(unm, "module", name, nil)
	return nil
}

// parseLimits parses `limits <module> …`: the rest is the
// agentgate.limits module's own syntax.
func parseLimits(d *caddyfile.Dispenser, app *App) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	name := d.Val()
	unm, err := caddyfile.UnmarshalModule(d, "agentgate.limits."+name)
	if err != nil {
		return err
	}
	app.Limits = caddyconfig.JSONModuleObject(unm, "module", name, nil)
	return nil
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

func intArg(d *caddyfile.Dispenser, dst *int64) error {
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return d.Errf("%s: not an integer: %q", d.Val(), s)
	}
	*dst = n
	return nil
}

func floatArg(d *caddyfile.Dispenser, dst *float64) error {
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return d.Errf("not a number: %q", s)
	}
	*dst = f
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("not a duration: %q", s)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// Interface guards.
var _ caddyfile.Unmarshaler = (*Handler)(nil)
