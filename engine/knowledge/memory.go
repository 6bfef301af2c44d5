package knowledge

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/knowledge/memory"
	"github.com/agentgate/agentgate/engine/models"
)

// Long-term memory (package memory) in a run: recall before the first
// model call adds what the agent remembers to the system prompt and
// reports the items on the run's result; after a completed run the turn
// is handed to the memory manager, which writes it back in the
// background. Memory's own model calls (embeddings, the memory manager)
// are routed like any call and logged as usage records of dialect
// "memory" whose parent is the run.

// Memory is the long-term memory, for dialects that let clients list,
// add and clear what agents remember.
func (kn *Knowledge) Memory() *memory.Manager { return kn.memory }

// Recollection is what a run's recall found: the system prompt section
// and the items' ids, and what its write-back needs.
type Recollection struct {
	// Section is added to the run's system prompt; empty when nothing was
	// recalled.
	Section string
	// IDs are the recalled items' ids.
	IDs   []string
	asked string
}

// Recall returns what call's agent remembers for run runID; nil when the
// agent keeps no memory. A failure to recall is logged, never the run's
// failure.
func (kn *Knowledge) Recall(ctx context.Context, call *adapters.Call, runID string) *Recollection {
	if !kn.memory.Enabled() || call.Agent.ID == "" || call.Principal == nil {
		return nil
	}
	rc := &Recollection{asked: lastUserText(call.Messages)}
	ctx, span := startRecall(ctx, call.Agent.ID)
	rec, err := kn.memory.Recall(ctx, memoryTurn(call, runID, rc, false))
	if rec != nil && err == nil {
		rc.Section, rc.IDs = rec.Section, rec.IDs()
	}
	endFound(span, len(rc.IDs), err)
	if err != nil && ctx.Err() == nil {
		kn.log.Warn("recalling memory failed; the run goes on without it", zap.String("agent", call.Agent.ID), zap.Error(err))
	}
	return rc
}

// Remember hands a completed run to the memory manager (statistics,
// episode, fact extraction), off the request path: answered is the run's
// answer, latency how long it took, newSession whether its turn began its
// session.
func (kn *Knowledge) Remember(call *adapters.Call, runID string, rc *Recollection, answered string, latency time.Duration, newSession bool) {
	if rc == nil {
		return
	}
	t := memoryTurn(call, runID, rc, newSession)
	t.Answered, t.Latency = answered, latency
	kn.memory.AfterTurn(t)
}

func memoryTurn(c *adapters.Call, runID string, rc *Recollection, newSession bool) *memory.Turn {
	return &memory.Turn{Principal: c.Principal, Agent: c.Agent, UserID: c.UserID, SessionID: c.SessionID, RunID: runID,
		Asked: rc.asked, NewSession: newSession}
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

// memoryModels routes memory's model calls through Models, accounted as
// calls of dialect "memory" outside the request's meter.
type memoryModels struct{ m *models.Models }

func account(c memory.CallInfo) models.Account {
	return models.Account{Principal: c.Principal, Dialect: memory.Dialect, AgentID: c.Agent.ID, SessionID: c.SessionID, ParentID: c.ParentID}
}

// Embed implements memory.Models.
func (mm memoryModels) Embed(ctx context.Context, c memory.CallInfo, model string, inputs []string) ([][]float32, error) {
	vecs, _, err := mm.m.Embed(ctx, &models.Embedding{Account: account(c), Model: model, Inputs: inputs, Unmetered: true})
	return vecs, err
}

// Complete implements memory.Models: one model call, not streamed, on
// the agent's provider when it is the agent's model.
func (mm memoryModels) Complete(ctx context.Context, c memory.CallInfo, req *adapters.Request) (string, error) {
	pinned := ""
	if req.Model == c.Agent.Model {
		pinned = c.Agent.Provider
	}
	return mm.m.CompleteText(ctx, &models.TextCall{Account: account(c), Request: req, Provider: pinned, Unmetered: true})
}
