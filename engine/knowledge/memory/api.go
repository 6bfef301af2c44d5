package memory

import (
	"context"
	"errors"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// What clients manage directly: the items an agent remembers, and its
// statistics. Every call is scoped to one tenant's agent; the caller has
// checked that the agent is the tenant's.

// NewItem is an item a client adds.
type NewItem struct {
	// ID is the item's id; empty means a new "mem_…" id.
	ID string
	// Kind is state.MemorySemantic (knowledge, the default),
	// state.MemoryProcedural (a standing instruction) or
	// state.MemoryEpisodic.
	Kind    string
	Content string
	// UserID makes the item one end user's; empty makes it the agent's,
	// recalled for every user.
	UserID   string
	Metadata map[string]string
}

// MaxContentBytes bounds the content of one item a client adds.
const MaxContentBytes = 16 << 10

// Add stores items for p's agent durably (it returns once they are
// written), embedding them first when the agent has an embedding model
// (an embedding that fails leaves the item to keyword recall). An id the
// agent already uses is a conflict.
func (m *Manager) Add(ctx context.Context, p *adapters.Principal, agent *adapters.Agent, items []NewItem) ([]*state.Memory, error) {
	idx, err := m.s.index(ctx, agentKey{p.Tenant, agent.ID})
	if err != nil {
		return nil, err
	}
	now := m.opts.Now().UTC()
	out := make([]*state.Memory, 0, len(items))
	seen := map[string]bool{}
	for _, n := range items {
		id := n.ID
		if id == "" {
			id = NewID()
		} else if _, taken := idx.Get(id); taken || seen[id] {
			return nil, &adapters.Error{Kind: adapters.KindConflict, Code: "memory_exists", Param: "id",
				Message: "memory item '" + id + "' already exists"}
		}
		seen[id] = true
		kind := n.Kind
		if kind == "" {
			kind = state.MemorySemantic
		}
		out = append(out, &state.Memory{ID: id, Tenant: p.Tenant, AgentID: agent.ID, UserID: n.UserID, Kind: kind,
			Content: strings.TrimSpace(n.Content), Source: SourceAPI, Metadata: n.Metadata, Created: now, Updated: now})
	}
	m.embed(ctx, CallInfo{Principal: p, Agent: agent}, out)
	if err := m.s.put(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// List returns tenant's agent's items f selects, newest first.
func (m *Manager) List(ctx context.Context, tenant, agentID string, f Filter) ([]*state.Memory, error) {
	idx, err := m.s.index(ctx, agentKey{tenant, agentID})
	if err != nil {
		return nil, err
	}
	return idx.List(f.Match), nil
}

// Clear deletes tenant's agent's items f selects and returns how many
// there were. Write-back of turns that ended before the clear does not
// bring them back.
func (m *Manager) Clear(ctx context.Context, tenant, agentID string, f Filter) (int, error) {
	return m.s.clear(ctx, agentKey{tenant, agentID}, f, m.opts.Now())
}

// DeleteAgent deletes every memory of tenant's agent, from the store
// too, and returns how many there were.
func (m *Manager) DeleteAgent(ctx context.Context, tenant, agentID string) (int, error) {
	return m.s.dropAgent(ctx, agentKey{tenant, agentID}, m.opts.Now())
}

// Stats returns tenant's agent's statistics, counting every turn answered
// so far.
func (m *Manager) Stats(ctx context.Context, tenant, agentID string) (state.AgentStats, error) {
	if err := m.s.flush(ctx); err != nil {
		return state.AgentStats{}, err
	}
	return m.s.store.AgentStats(ctx, tenant, agentID)
}

// ErrNoSuchAnswer is returned by Rate for an answer the agent did not
// give (or gave another tenant).
var ErrNoSuchAnswer = errors.New("no such answer")

// Rate records an end user's feedback, "up" or "down", on the agent's
// answer runID (a vote replaces an earlier one).
func (m *Manager) Rate(ctx context.Context, tenant, agentID, runID, rating string) error {
	if err := m.s.flush(ctx); err != nil {
		return err
	}
	err := m.s.store.RateTurn(ctx, tenant, agentID, runID, rating)
	if errors.Is(err, state.ErrNotFound) {
		return ErrNoSuchAnswer
	}
	return err
}
