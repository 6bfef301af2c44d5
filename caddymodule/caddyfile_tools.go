package caddymodule

import (
	"encoding/json"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseToolkit parses an HTTP toolkit:
//
//	toolkit <name> http {
//	    method <name> <url> {
//	        description <text>
//	        parameters <json schema>
//	        confirm                      # pause runs until a person confirms
//	        timeout <duration>
//	        header <name> <value>
//	    }
//	}
//
// A method whose URL expands to nothing (an unset {env.X}) stays declared
// and answers the model that it is not configured, so the example
// Caddyfile starts on a fresh machine.
func parseToolkit(d *caddyfile.Dispenser, app *App) error {
	var tk ToolkitConfig
	var kind string
	if !d.Args(&tk.Name, &kind) {
		return d.ArgErr()
	}
	if kind != "http" {
		return d.Errf("toolkit %s: unknown kind %q (supported: http; MCP servers use the mcp option)", tk.Name, kind)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() != "method" {
			return d.Errf("unrecognized toolkit option %q", d.Val())
		}
		var m MethodConfig
		if !d.Args(&m.Name, &m.URL) {
			return d.ArgErr()
		}
		for inner := d.Nesting(); d.NextBlock(inner); {
			var err error
			switch d.Val() {
			case "description":
				err = oneArg(d, &m.Description)
			case "parameters":
				var raw string
				if err = oneArg(d, &raw); err == nil {
					if !json.Valid([]byte(raw)) {
						return d.Errf("method %s: parameters is not valid JSON", m.Name)
					}
					m.Parameters = json.RawMessage(raw)
				}
			case "confirm":
				if d.NextArg() {
					return d.ArgErr()
				}
				m.Confirm = true
			case "timeout":
				err = durationArg(d, &m.Timeout)
			case "header":
				var k, v string
				if !d.Args(&k, &v) {
					return d.ArgErr()
				}
				if m.Headers == nil {
					m.Headers = map[string]string{}
				}
				m.Headers[k] = v
			default:
				err = d.Errf("unrecognized method option %q", d.Val())
			}
			if err != nil {
				return err
			}
		}
		tk.Methods = append(tk.Methods, m)
	}
	app.Toolkits = append(app.Toolkits, tk)
	return nil
}

// parseMCP parses an MCP server declaration:
//
//	mcp <name> <endpoint> {
//	    confirm <tool...>
//	    header <name> <value>
//	    timeout <duration>
//	}
func parseMCP(d *caddyfile.Dispenser, app *App) error {
	var mc MCPConfig
	if !d.Args(&mc.Name, &mc.Endpoint) {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "confirm":
			mc.Confirm = append(mc.Confirm, d.RemainingArgs()...)
		case "header":
			var k, v string
			if !d.Args(&k, &v) {
				return d.ArgErr()
			}
			if mc.Headers == nil {
				mc.Headers = map[string]string{}
			}
			mc.Headers[k] = v
		case "timeout":
			err = durationArg(d, &mc.Timeout)
		default:
			err = d.Errf("unrecognized mcp option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	app.MCPServers = append(app.MCPServers, mc)
	return nil
}
