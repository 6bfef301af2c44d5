package memory

import (
	"context"
	"strings"

	"go.uber.org/zap"

	"github.com/agentgate/agentgate/state"
)

// Recalled is what a turn recalls: the items, in the order the section
// lists them (instructions, facts, episodes), and the system prompt
// section that presents them.
type Recalled struct {
	Items   []*state.Memory
	Section string
}

// IDs are the ids of the recalled items.
func (r *Recalled) IDs() []string {
	if r == nil {
		return nil
	}
	out := make([]string, len(r.Items))
	for i, it := range r.Items {
		out[i] = it.ID
	}
	return out
}

// Recall returns what t's agent remembers that bears on t.Asked, for t's
// end user: its standing instructions (procedural memory, every one, the
// newest first up to Options.Instructions), the facts (semantic) and
// earlier exchanges of other conversations (episodic) that rank best for
// the message, each kind only when the agent keeps it. It returns nil
// when there is nothing to recall, and when the agent's memories are not
// loaded within LoadWait of its first recall (they load on in the
// background). Ranking is by cosine similarity of
// embeddings when the agent has an embedding model (the message is
// embedded, within EmbedTimeout), and by BM25 otherwise or when embedding
// fails.
func (m *Manager) Recall(ctx context.Context, t *Turn) (*Recalled, error) {
	mc := t.Agent.Memory
	if m.opts.Disabled || t.Agent.ID == "" || t.Principal == nil || !mc.Enabled() || strings.TrimSpace(t.Asked) == "" {
		return nil, nil
	}
	idx, err := m.s.indexWithin(ctx, agentKey{t.Principal.Tenant, t.Agent.ID}, m.opts.LoadWait)
	if err != nil {
		return nil, err
	}
	if idx == nil {
		m.log.Info("the agent's memories are still loading; this turn recalls nothing", zap.String("agent", t.Agent.ID))
		return nil, nil
	}
	if idx.Len() == 0 {
		return nil, nil
	}
	user := t.UserID
	var (
		vec   []float32
		model = m.EmbeddingModel(t.Agent)
	)
	if model != "" && (mc.Semantic || mc.Episodic) && idx.HasVectors(model) {
		ectx, cancel := context.WithTimeout(ctx, m.opts.EmbedTimeout)
		vecs, err := m.models.Embed(ectx, CallInfo{Principal: t.Principal, Agent: t.Agent, SessionID: t.SessionID, ParentID: t.RunID},
			model, []string{t.Asked})
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil || len(vecs) != 1:
			m.log.Warn("embedding a recall query failed; recalling by keywords", zap.String("agent", t.Agent.ID),
				zap.String("model", model), zap.Error(err))
		default:
			vec = vecs[0]
		}
	}
	var out Recalled
	if mc.Procedural {
		list := idx.List(func(it *state.Memory) bool { return it.Kind == state.MemoryProcedural && Visible(it, user) })
		if len(list) > m.opts.Instructions {
			list = list[:m.opts.Instructions]
		}
		out.Items = append(out.Items, list...)
	}
	search := func(kind string, k int, extra func(*state.Memory) bool) {
		hits := idx.Search(Query{Text: t.Asked, Vector: vec, Model: model, K: k, MinSimilarity: m.opts.MinSimilarity,
			Filter: func(it *state.Memory) bool {
				return it.Kind == kind && Visible(it, user) && (extra == nil || extra(it))
			}})
		for _, h := range hits {
			out.Items = append(out.Items, h.Item)
		}
	}
	if mc.Semantic {
		search(state.MemorySemantic, m.opts.TopK, nil)
	}
	if mc.Episodic {
		// The episodes of this conversation are in its history already.
		var other func(*state.Memory) bool
		if t.SessionID != "" {
			other = func(it *state.Memory) bool { return it.SessionID != t.SessionID }
		}
		search(state.MemoryEpisodic, m.opts.Episodes, other)
	}
	if len(out.Items) == 0 {
		return nil, nil
	}
	out.Section = Section(out.Items)
	return &out, nil
}

// SectionHeading opens the system prompt section of recalled memory.
const SectionHeading = "## Long-term memory"

// Section presents recalled items to the model: standing instructions to
// follow, facts it knows, and earlier exchanges, each kind under its own
// heading, items in the order given.
func Section(items []*state.Memory) string {
	var b strings.Builder
	b.WriteString(SectionHeading)
	b.WriteString("\nWhat you remember from earlier conversations. Use it where it is relevant; do not mention that you have a memory unless asked.\n")
	kinds := []struct{ kind, heading string }{
		{state.MemoryProcedural, "Standing instructions (follow them):"},
		{state.MemorySemantic, "Known facts:"},
		{state.MemoryEpisodic, "Earlier conversations:"},
	}
	for _, k := range kinds {
		first := true
		for _, it := range items {
			if it.Kind != k.kind {
				continue
			}
			if first {
				b.WriteString("\n")
				b.WriteString(k.heading)
				b.WriteString("\n")
				first = false
			}
			b.WriteString("- ")
			if it.Kind == state.MemoryEpisodic && !it.Created.IsZero() {
				b.WriteString("[" + it.Created.UTC().Format("2006-01-02") + "] ")
			}
			b.WriteString(oneLine(it.Content))
			b.WriteString("\n")
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(strings.NewReplacer("\r\n", " / ", "\n", " / ", "\r", " / ").Replace(s)), " ")
}
