package cache

import (
	"encoding/json"
	"slices"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// Deep copies of the cached types. clone_test.go fills every field of each
// type by reflection and fails if a copy shares memory with its original,
// so a reference-typed field added to these types later cannot slip past.

func cloneAgent(a *adapters.Agent) *adapters.Agent {
	if a == nil {
		return nil
	}
	c := *a
	c.Sampling = cloneSampling(a.Sampling)
	c.Tools = slices.Clone(a.Tools)
	c.Tags = slices.Clone(a.Tags)
	c.Fallbacks = slices.Clone(a.Fallbacks)
	c.Guardrails = cloneGuardrails(a.Guardrails)
	c.Knowledge = cloneKnowledge(a.Knowledge)
	c.SubAgents = slices.Clone(a.SubAgents)
	if a.Extensions != nil {
		c.Extensions = make(map[string]json.RawMessage, len(a.Extensions))
		for k, v := range a.Extensions {
			c.Extensions[k] = slices.Clone(v)
		}
	}
	return &c
}

func cloneGuardrails(g *adapters.Guardrails) *adapters.Guardrails {
	if g == nil {
		return nil
	}
	c := *g
	c.DenyPatterns = slices.Clone(g.DenyPatterns)
	c.RedactPatterns = slices.Clone(g.RedactPatterns)
	c.RedactPII = slices.Clone(g.RedactPII)
	c.OutputJSONSchema = slices.Clone(g.OutputJSONSchema)
	return &c
}

func cloneKnowledge(k *adapters.Knowledge) *adapters.Knowledge {
	if k == nil {
		return nil
	}
	c := *k
	c.Sources = slices.Clone(k.Sources)
	return &c
}

func cloneSampling(s adapters.Sampling) adapters.Sampling {
	s.Temperature = clonePtr(s.Temperature)
	s.TopP = clonePtr(s.TopP)
	s.TopK = clonePtr(s.TopK)
	s.MaxTokens = clonePtr(s.MaxTokens)
	s.Seed = clonePtr(s.Seed)
	s.Stop = slices.Clone(s.Stop)
	s.ResponseFormat = slices.Clone(s.ResponseFormat)
	return s
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func cloneKey(k *state.APIKey) *state.APIKey {
	if k == nil {
		return nil
	}
	c := *k
	c.Projects = slices.Clone(k.Projects)
	return &c
}

func cloneVersion(v *state.AgentVersion) *state.AgentVersion {
	if v == nil {
		return nil
	}
	c := *v
	c.Agent = *cloneAgent(&v.Agent)
	return &c
}

func cloneTier(t *state.Tier) *state.Tier {
	c := *t
	c.Models = slices.Clone(t.Models)
	return &c
}

// CloneAgent returns a deep copy of a, sharing no memory with it, for
// other in-memory indexes of agents (the engine's registry) that hand out
// agents their callers may change.
func CloneAgent(a *adapters.Agent) *adapters.Agent { return cloneAgent(a) }
