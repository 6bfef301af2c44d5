package dialects

import (
	"context"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine"
)

// ResolveModel finds what a request's model names for dialects whose
// model field may name either: an agent (by id or name) visible to p or,
// failing that, a routed upstream model called directly (passthrough, an
// ad-hoc agent with no prompt, tools or memory, allowed by p's tier), so
// existing SDK code works by changing only its base URL. An unknown name
// is the runtime's not-found error, which the caller words its own way; a
// model outside the tier's allowlist is a 403.
func ResolveModel(ctx context.Context, rt *engine.Engine, p *adapters.Principal, model string) (*adapters.Agent, error) {
	agent, err := rt.Agents().Get(ctx, p, model)
	if err == nil || adapters.AsError(err).Kind != adapters.KindNotFound {
		return agent, err
	}
	agent, perr := rt.Passthrough(p, model)
	if perr == nil {
		return agent, nil
	}
	if adapters.AsError(perr).Kind == adapters.KindForbidden {
		return nil, perr
	}
	return nil, err
}
