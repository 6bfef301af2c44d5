package agents

import (
	"context"
	"errors"
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// Published versions. Publishing snapshots an agent's working copy (its
// configuration as stored, or as declared) as an immutable version
// numbered per tenant and agent: 1, 2, … Versions are the tenant's own, so
// tenants sharing a declared agent each publish theirs. A version belongs
// to the agent it was taken of: an agent deleted and made again under the
// same id starts without versions (numbers are never reused).
//
// What a version fixes is the configuration; an agent's status, deletion
// and ownership stay the live agent's, so deactivating an agent stops its
// pinned versions too.

// PublishVersion publishes the working copy of tenant's agent key (an id
// or a name) as its next version.
func (r *Registry) PublishVersion(ctx context.Context, tenant, key string) (*state.AgentVersion, error) {
	a, err := r.Get(ctx, &adapters.Principal{Tenant: tenant}, key)
	if err != nil {
		return nil, err
	}
	return r.store.PublishVersion(ctx, tenant, a, a.Declared, r.now())
}

// GetVersion returns version n of tenant's agent key: 404 when it was
// never published (or belongs to an earlier agent of the same id).
func (r *Registry) GetVersion(ctx context.Context, tenant, key string, n int) (*state.AgentVersion, error) {
	a, err := r.Get(ctx, &adapters.Principal{Tenant: tenant}, key)
	if err != nil {
		return nil, err
	}
	return r.version(ctx, tenant, a, n)
}

// ListVersions returns the published versions of tenant's agent key,
// oldest first.
func (r *Registry) ListVersions(ctx context.Context, tenant, key string) ([]*state.AgentVersion, error) {
	a, err := r.Get(ctx, &adapters.Principal{Tenant: tenant}, key)
	if err != nil {
		return nil, err
	}
	all, err := r.store.ListVersions(ctx, tenant, a.ID)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, v := range all {
		if versionOf(v, a) {
			out = append(out, v)
		}
	}
	return out, nil
}

// AtVersion returns the configuration of a that a call of tenant
// runs: version n when n > 0 (404 when unknown), else the latest
// published version, else a itself (the working copy). The version used
// is returned too; 0 means the working copy. The returned agent keeps a's
// id, tenant, status and deletion.
func (r *Registry) AtVersion(ctx context.Context, tenant string, a *adapters.Agent, n int) (*adapters.Agent, int, error) {
	if n > 0 {
		v, err := r.version(ctx, tenant, a, n)
		if err != nil {
			return nil, 0, err
		}
		return atVersion(a, v), v.Version, nil
	}
	if a.ID == "" {
		return a, 0, nil
	}
	v, err := r.store.LatestVersion(ctx, tenant, a.ID)
	if errors.Is(err, state.ErrNotFound) {
		return a, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	// Numbers only grow, so when the latest version is an earlier agent's,
	// this agent has published none.
	if !versionOf(v, a) {
		return a, 0, nil
	}
	return atVersion(a, v), v.Version, nil
}

func (r *Registry) version(ctx context.Context, tenant string, a *adapters.Agent, n int) (*state.AgentVersion, error) {
	notFound := &adapters.Error{Kind: adapters.KindNotFound, Code: "version_not_found", Param: "version",
		Message: "version " + strconv.Itoa(n) + " of agent " + adapters.Quote(a.ID) + " was not published"}
	if a.ID == "" {
		notFound.Message = adapters.Quote(a.Model) + " is a model, not an agent: it has no published versions"
		return nil, notFound
	}
	v, err := r.store.GetVersion(ctx, tenant, a.ID, n)
	if errors.Is(err, state.ErrNotFound) || (err == nil && !versionOf(v, a)) {
		return nil, notFound
	}
	return v, err
}

// versionOf reports whether v was published of agent a rather than of an
// earlier agent with the same id: a declared agent's versions are its own
// across configuration reloads; a stored agent's carry its creation time.
func versionOf(v *state.AgentVersion, a *adapters.Agent) bool {
	if v.Declared || a.Declared {
		return v.Declared == a.Declared
	}
	return v.Agent.CreatedAt.Equal(a.CreatedAt)
}

// atVersion is a's configuration as of v, with a's live status.
func atVersion(a *adapters.Agent, v *state.AgentVersion) *adapters.Agent {
	c := v.Agent
	c.ID, c.Tenant, c.Project = a.ID, a.Tenant, a.Project
	c.Status, c.DeletedAt, c.Declared = a.Status, a.DeletedAt, a.Declared
	c.CreatedAt = a.CreatedAt
	return &c
}
