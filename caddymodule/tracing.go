package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TracingConfig tunes the spans agentgate adds to a request's trace. The
// spans themselves need no option: when a site's `tracing` directive
// (Caddy's http.handlers.tracing) traces a request, agentgate's run,
// model calls and their attempts, tools, memory recall, retrieval and
// sub-agents are its children (internal/tracing), exported wherever
// Caddy exports the trace.
type TracingConfig struct {
	// RecordContent records prompts, system instructions, completions and
	// tool arguments and results on the spans (gen_ai.input.messages,
	// gen_ai.system_instructions, gen_ai.output.messages,
	// gen_ai.tool.call.arguments, gen_ai.tool.call.result). Off by
	// default: they hold what users wrote and were told.
	RecordContent bool `json:"record_content,omitempty"`
}

// recordsContent reports whether c asks for content on the spans.
func (c *TracingConfig) recordsContent() bool { return c != nil && c.RecordContent }

// parseTracing parses
//
//	tracing {
//	    record_content on|off   # prompts and completions on the spans; default off
//	}
func parseTracing(d *caddyfile.Dispenser, app *App) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if app.Tracing == nil {
		app.Tracing = new(TracingConfig)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "record_content":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			switch v {
			case "on", "true":
				app.Tracing.RecordContent = true
			case "off", "false":
				app.Tracing.RecordContent = false
			default:
				return d.Errf("record_content must be on or off, got %q", v)
			}
		default:
			return d.Errf("unrecognized tracing option %q", d.Val())
		}
	}
	return nil
}
