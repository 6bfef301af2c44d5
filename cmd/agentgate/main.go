// Command agentgate is Caddy with its standard modules and the agentgate
// modules: exactly the main package `xcaddy build --with
// github.com/agentgate/agentgate` generates.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "time/tzdata"

	_ "github.com/agentgate/agentgate"
)

func main() {
	caddycmd.Main()
}
