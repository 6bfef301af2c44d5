package runtime

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/runtime/memory"
	"github.com/agentgate/agentgate/state"
)

// Long-term memory (package memory) in the run: recall before the first
// model call adds what the agent remembers to the system prompt and
// reports the items on Result.MemoryAccessed; after a completed run the
// turn is handed to the memory manager, which writes it back in the
// background. Memory's own model calls (embeddings, the memory manager)
// are routed like any call and logged as usage records of dialect
// "memory" whose parent is the run.

// Memory is the runtime's long-term memory, for dialects that let clients
// list, add and clear what agents remember.
func (rt *Runtime) Memory() *memory.Manager { return rt.memory }

// startMemory builds the memory manager from cfg.
func (rt *Runtime) startMemory(cfg *Config) error {
	opts := cfg.Memory
	if opts.Logger == nil {
		opts.Logger = rt.log
	}
	if opts.Now == nil {
		opts.Now = rt.now
	}
	for what, model := range map[string]string{"embedding_model": opts.EmbeddingModel, "memory model": opts.Model} {
		if model != "" {
			if _, _, ok := rt.router.Resolve(model, ""); !ok {
				return fmt.Errorf("%s: no provider serves model %q", what, model)
			}
		}
	}
	rt.memory = memory.New(cfg.Store, memoryModels{rt}, opts)
	return nil
}

// runMemory is what a run's recall found, for its write-back.
type runMemory struct {
	asked string
}

// recallMemory adds what the agent remembers to the run's system prompt
// and reports it on the result. A failure to recall is logged, never the
// run's failure.
func (rt *Runtime) recallMemory(ctx context.Context, st *runState) *runMemory {
	call := st.call
	if !rt.memory.Enabled() || call.Agent.ID == "" || call.Principal == nil {
		return nil
	}
	rm := &runMemory{asked: lastUserText(call.Messages)}
	rec, err := rt.memory.Recall(ctx, rt.memoryTurn(st, rm))
	if err != nil {
		if ctx.Err() == nil {
			rt.log.Warn("recalling memory failed; the run goes on without it", zap.String("agent", call.Agent.ID), zap.Error(err))
		}
		return rm
	}
	if rec != nil {
		if st.req.System != "" {
			st.req.System += "\n\n"
		}
		st.req.System += rec.Section
		st.res.MemoryAccessed = rec.IDs()
	}
	return rm
}

// rememberRun hands a completed run to the memory manager (statistics,
// episode, fact extraction), off the request path.
func (rt *Runtime) rememberRun(st *runState, rm *runMemory, err error) {
	if rm == nil || err != nil || st.res.Status != StatusCompleted {
		return
	}
	t := rt.memoryTurn(st, rm)
	t.Answered, t.Latency = st.res.Text, st.res.Latency
	rt.memory.AfterTurn(t)
}

func (rt *Runtime) memoryTurn(st *runState, rm *runMemory) *memory.Turn {
	c := st.call
	return &memory.Turn{Principal: c.Principal, Agent: c.Agent, UserID: c.UserID, SessionID: c.SessionID, RunID: st.res.RunID,
		Asked: rm.asked, NewSession: st.newSession}
}

// lastUserText is the text of the last user message: what a turn asks.
func lastUserText(msgs []adapters.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == adapters.RoleUser {
			return msgs[i].Text()
		}
	}
	return ""
}

// memoryModels routes memory's model calls and accounts them.
type memoryModels struct{ rt *Runtime }

// Embed implements memory.Models.
func (m memoryModels) Embed(ctx context.Context, c memory.CallInfo, model string, inputs []string) ([][]float32, error) {
	rt := m.rt
	provider, upstream, ok := rt.router.Resolve(model, "")
	if !ok {
		return nil, &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "embedding_model",
			Message: "no provider serves embedding model " + quote(model)}
	}
	emb, ok := rt.router.Provider(provider).(adapters.Embedder)
	if !ok {
		return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "embeddings_not_supported", Param: "embedding_model",
			Message: "provider " + quote(provider) + " of model " + quote(model) + " does not compute embeddings"}
	}
	t0 := rt.now()
	vecs, usage, err := emb.Embed(ctx, upstream, inputs)
	if err == nil && len(vecs) != len(inputs) {
		err = &adapters.Error{Kind: adapters.KindUpstream, Message: "the embedding model returned the wrong number of vectors"}
	}
	rt.recordMemoryCall(ctx, c, "emb-", upstream, provider, usage, 0, rt.now().Sub(t0).Milliseconds(), err)
	return vecs, err
}

// Complete implements memory.Models: one model call, not streamed, on
// the agent's provider when it is the agent's model.
func (m memoryModels) Complete(ctx context.Context, c memory.CallInfo, req *adapters.Request) (string, error) {
	rt := m.rt
	model, pinned := req.Model, ""
	if model == c.Agent.Model {
		pinned = c.Agent.Provider
	}
	provider, upstream, ok := rt.router.Resolve(model, pinned)
	if !ok {
		return "", &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
			Message: "no provider serves model " + quote(model)}
	}
	r := *req
	r.Model = upstream
	var (
		text  strings.Builder
		usage adapters.Usage
		got   bool
	)
	t0 := rt.now()
	err := rt.router.Provider(provider).Chat(ctx, &r, func(ev adapters.Event) error {
		switch ev.Type {
		case adapters.EventDelta:
			text.WriteString(ev.Text)
		case adapters.EventUsage:
			usage.Add(*ev.Usage)
			got = true
		case adapters.EventStart:
			if ev.Model != "" {
				upstream = ev.Model
			}
		}
		return nil
	})
	if !got && (err == nil || text.Len() > 0) {
		usage = adapters.Usage{InputTokens: EstimateRequestTokens(&r), OutputTokens: EstimateTokens(text.String()), Estimated: true}
	}
	rt.recordMemoryCall(ctx, c, "run-", upstream, provider, usage, imagesIn(r.Messages), rt.now().Sub(t0).Milliseconds(), err, r.Model)
	return text.String(), err
}

// recordMemoryCall writes the usage record of one of memory's model
// calls; asked is the model it was asked as, when model is what the
// upstream reported.
func (rt *Runtime) recordMemoryCall(ctx context.Context, c memory.CallInfo, prefix, model, provider string, u adapters.Usage, images int, latencyMs int64, err error, asked ...string) {
	status := "ok"
	if err != nil {
		status = errorCode(ctx, err, nil)
	}
	p := c.Principal
	rt.recorder.Record(state.UsageRecord{
		ID: NewID(prefix), ParentID: c.ParentID, Time: rt.now(), Tenant: p.Tenant, KeyID: p.KeyID, Dialect: memory.Dialect,
		AgentID: c.Agent.ID, Model: model, Provider: provider, SessionID: c.SessionID,
		InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, ReasoningTokens: u.ReasoningTokens, CachedTokens: u.CachedTokens,
		Estimated: u.Estimated, LatencyMs: latencyMs, Status: status, Cost: rt.cost(u, images, append([]string{model}, asked...)...),
	})
}
