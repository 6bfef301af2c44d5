// Package agentgate registers the agentgate Caddy modules, its dialects and
// its providers. Import it (or build with `xcaddy build --with
// github.com/agentgate/agentgate`) to add agentgate to a Caddy binary.
package agentgate

import (
	// The Caddy modules: app, handler, admin API, CLI.
	_ "github.com/agentgate/agentgate/caddymodule"

	// Dialects: one registration line each.
	_ "github.com/agentgate/agentgate/adapters/dialects/agentsv2"
	_ "github.com/agentgate/agentgate/adapters/dialects/anthropic"
	_ "github.com/agentgate/agentgate/adapters/dialects/egzora"
	_ "github.com/agentgate/agentgate/adapters/dialects/engrami"
	_ "github.com/agentgate/agentgate/adapters/dialects/gemini"
	_ "github.com/agentgate/agentgate/adapters/dialects/openai"
	_ "github.com/agentgate/agentgate/adapters/dialects/responses"
	_ "github.com/agentgate/agentgate/adapters/dialects/tenzro"

	// Storage backends (agentgate.storage): one registration line each.
	_ "github.com/agentgate/agentgate/state/bbolt"
	_ "github.com/agentgate/agentgate/state/postgres"

	// Limits backends (agentgate.limits): one registration line each.
	_ "github.com/agentgate/agentgate/limits/memory"
	_ "github.com/agentgate/agentgate/limits/redis"

	// Providers: one registration line each.
	_ "github.com/agentgate/agentgate/adapters/providers/anthropic"
	_ "github.com/agentgate/agentgate/adapters/providers/gemini"
	_ "github.com/agentgate/agentgate/adapters/providers/mock"
	_ "github.com/agentgate/agentgate/adapters/providers/openai"
)
