// Package memory is agents' long-term memory: what an agent
// remembers across conversations, by kind, per tenant, agent and end user.
//
//   - Episodic: every answered exchange becomes an episode (what was asked,
//     what was answered, when).
//   - Semantic: durable facts, extracted after a turn by the memory manager
//     (one extra model call, on the agent's model or a cheaper configured
//     one, which also updates or supersedes older facts), and knowledge
//     items clients add through an API.
//   - Procedural: standing instructions and preferences ("always answer in
//     French"), extracted the same way or added through an API; they shape
//     the system prompt of every later turn.
//
// Before each turn Recall ranks the items the caller may see (the end
// user's own, plus knowledge added for the agent as a whole) against the
// new message, by embedding cosine similarity when an embedding model is
// configured and by BM25 keyword ranking otherwise, and returns a system
// prompt section and the ids of what it used. After the turn AfterTurn
// queues the write-back to a bounded pool of background workers, so it
// never delays the answer; its writes, and the agents' turn statistics,
// are committed in batches.
//
// The engine (engine/knowledge) owns a Manager and reaches models
// through the Models it provides, so memory's model calls are routed and
// logged like any other.
package memory

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// Where memory items come from (state.Memory.Source).
const (
	// SourceAPI items were added by a client; without an end user they
	// are knowledge of the agent as a whole, recalled for every user.
	SourceAPI = "api"
	// SourceConversation items are episodes.
	SourceConversation = "conversation"
	// SourceManager items were extracted by the memory manager.
	SourceManager = "manager"
)

// Dialect is what the usage records of memory's model calls name as
// their dialect.
const Dialect = "memory"

// Options configure long-term memory. The zero value is ready to use:
// memory on, keyword recall, the agent's model for the memory manager.
type Options struct {
	// Disabled turns recall, write-back and turn statistics off; what
	// clients add and list through APIs still works.
	Disabled bool
	// EmbeddingModel embeds memories and recall queries of agents that
	// name none; empty means keyword (BM25) recall for them.
	EmbeddingModel string
	// Model runs the memory manager for agents that name none; empty
	// means each agent's own model.
	Model string
	// TopK is how many facts (semantic items) a turn recalls; default 5.
	TopK int
	// Episodes is how many earlier exchanges a turn recalls; default 3.
	Episodes int
	// Instructions bounds the standing instructions a turn includes (the
	// newest); default 10.
	Instructions int
	// MinSimilarity drops embedding hits below this cosine similarity.
	MinSimilarity float64
	// Workers run memory-manager jobs; default 2. Queue bounds the jobs
	// waiting (default 256): past it a turn's write-back is dropped, with
	// a warning, rather than delaying anyone.
	Workers int
	Queue   int
	// JobTimeout bounds one job's model calls; default 2 minutes.
	JobTimeout time.Duration
	// EmbedTimeout bounds the embedding of a recall query, on the request
	// path; past it recall ranks by keywords. Default 5s.
	EmbedTimeout time.Duration
	// FlushInterval bounds how long background writes wait in memory
	// before a batch commits them; default 200ms. It is the Shared
	// state's (OpenShared).
	FlushInterval time.Duration
	// CacheAgents bounds the agents whose memories are held in recall
	// indexes (least recently used go first); default 256. It is the
	// Shared state's (OpenShared).
	CacheAgents int
	// LoadWait bounds how long a recall waits for the first load of its
	// agent's memories from the store: past it the turn goes on without
	// long-term memory while the load completes in the background, for
	// the turns that follow. Default 250ms; small agents load well within
	// it, an agent with 100k memories takes about a second.
	LoadWait time.Duration
	// CloseTimeout bounds how long Close waits for running jobs before it
	// cancels them; default 10s.
	CloseTimeout time.Duration
	Logger       *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.TopK, 5)
	def(&o.Episodes, 3)
	def(&o.Instructions, 10)
	def(&o.Workers, 2)
	def(&o.Queue, 256)
	def(&o.CacheAgents, 256)
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defd(&o.JobTimeout, 2*time.Minute)
	defd(&o.EmbedTimeout, 5*time.Second)
	defd(&o.FlushInterval, 200*time.Millisecond)
	defd(&o.CloseTimeout, 10*time.Second)
	defd(&o.LoadWait, 250*time.Millisecond)
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// CallInfo says on whose behalf memory calls a model, for its usage
// record: the caller, the agent, the session and the run it works for.
type CallInfo struct {
	Principal *adapters.Principal
	Agent     *adapters.Agent
	SessionID string
	// ParentID is the run the call belongs to; empty for calls an API
	// request makes directly.
	ParentID string
}

// Models are the model calls memory makes, routed and accounted by the
// engine (usage records with dialect "memory" and the run as parent).
type Models interface {
	// Embed returns an embedding of each input by model.
	Embed(ctx context.Context, c CallInfo, model string, inputs []string) ([][]float32, error)
	// Complete makes one model call with req (its Model is the model name
	// to route) and returns the answer's text.
	Complete(ctx context.Context, c CallInfo, req *adapters.Request) (string, error)
}

// Turn is one exchange of an agent, as recall sees it before the model
// call (Answered empty) and write-back after it.
type Turn struct {
	Principal *adapters.Principal
	Agent     *adapters.Agent
	// UserID is the end user; empty means none in particular.
	UserID    string
	SessionID string
	RunID     string
	Asked     string
	Answered  string
	Latency   time.Duration
	// NewSession marks the first turn of a conversation.
	NewSession bool
}

// Filter selects memory items of an agent.
type Filter struct {
	// Kind is one kind, or empty for every kind.
	Kind string
	// User, when ByUser, selects one end user's items ("" is the items
	// of no particular user).
	User   string
	ByUser bool
	// IDs, when not nil, selects only these items.
	IDs map[string]bool
}

// Match reports whether f selects m.
func (f Filter) Match(m *state.Memory) bool {
	return (f.Kind == "" || m.Kind == f.Kind) && (!f.ByUser || m.UserID == f.User) && (f.IDs == nil || f.IDs[m.ID])
}

// Visible reports whether an item may be recalled for end user user: the
// user's own items, and knowledge added for the agent as a whole. A call
// naming no user sees the items of no particular user.
func Visible(m *state.Memory, user string) bool {
	if user == "" {
		return m.UserID == ""
	}
	return m.UserID == user || m.UserID == "" && m.Source == SourceAPI
}

// Manager is one engine's long-term memory. It is safe for concurrent
// use.
type Manager struct {
	opts   Options
	models Models
	s      *Shared
	log    *zap.Logger

	jobs   chan job
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	busy   int
	idle   []chan struct{}
	closed bool
}

type job struct {
	turn Turn
	gen  uint64
}

// New starts a manager over the memory state of a store (its indexes and
// batched writer, which other managers over the same store share)
// calling models through models. Close stops it; the shared state stays,
// its owner closes it.
func New(shared *Shared, models Models, opts Options) *Manager {
	opts.defaults()
	m := &Manager{opts: opts, models: models, s: shared, log: opts.Logger,
		jobs: make(chan job, opts.Queue)}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	for range opts.Workers {
		m.wg.Go(m.work)
	}
	return m
}

// Enabled reports whether recall and write-back are on.
func (m *Manager) Enabled() bool { return !m.opts.Disabled }

// Options returns the manager's options, defaults filled in.
func (m *Manager) Options() Options { return m.opts }

// EmbeddingModel is the model that embeds agent's memories; empty means
// keyword recall.
func (m *Manager) EmbeddingModel(agent *adapters.Agent) string {
	if agent.Memory.EmbeddingModel != "" {
		return agent.Memory.EmbeddingModel
	}
	return m.opts.EmbeddingModel
}

// managerModel is the model the memory manager of agent calls.
func (m *Manager) managerModel(agent *adapters.Agent) string {
	switch {
	case agent.Memory.Model != "":
		return agent.Memory.Model
	case m.opts.Model != "":
		return m.opts.Model
	}
	return agent.Model
}

// Close stops taking jobs, waits for the running ones (cancelling them
// after CloseTimeout), and commits what they wrote.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	close(m.jobs)
	m.mu.Unlock()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(m.opts.CloseTimeout):
		m.log.Warn("memory jobs still running at shutdown; cancelling them")
		m.cancel()
		<-done
	}
	m.cancel()
}

// Flush waits until the background jobs queued so far have run, then
// commits every queued write, so reads that follow see them. Tests and
// APIs that promise read-your-writes use it.
func (m *Manager) Flush(ctx context.Context) error {
	m.mu.Lock()
	if m.busy > 0 {
		ch := make(chan struct{})
		m.idle = append(m.idle, ch)
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	} else {
		m.mu.Unlock()
	}
	return m.s.flush(ctx)
}

func (m *Manager) work() {
	for j := range m.jobs {
		ctx, cancel := context.WithTimeout(m.ctx, m.opts.JobTimeout)
		func() {
			defer func() {
				if p := recover(); p != nil {
					m.log.Error("memory job panicked", zap.Any("panic", p), zap.String("run", j.turn.RunID))
				}
			}()
			m.process(ctx, &j)
		}()
		cancel()
		m.done()
	}
}

func (m *Manager) done() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.busy--; m.busy == 0 {
		for _, ch := range m.idle {
			close(ch)
		}
		m.idle = nil
	}
}

// AfterTurn records a finished turn: its statistics (for every agent),
// and, for an agent with memory, a background job that writes the
// episode and runs the memory manager. It never blocks: when the queue
// is full the job is dropped with a warning.
func (m *Manager) AfterTurn(t *Turn) {
	if m.opts.Disabled || t.Agent == nil || t.Agent.ID == "" || t.Principal == nil {
		return
	}
	m.s.recordTurn(state.TurnRecord{Tenant: t.Principal.Tenant, AgentID: t.Agent.ID, RunID: t.RunID, SessionID: t.SessionID,
		NewSession: t.NewSession, LatencyMs: t.Latency.Milliseconds(), Time: m.opts.Now().UTC()})
	mc := t.Agent.Memory
	if !mc.Enabled() || strings.TrimSpace(t.Asked) == "" && strings.TrimSpace(t.Answered) == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	select {
	case m.jobs <- job{turn: *t, gen: m.s.generation()}:
		m.busy++
	default:
		m.log.Warn("memory queue full; this turn is not remembered", zap.String("agent", t.Agent.ID), zap.String("run", t.RunID))
	}
}

// process writes a turn's episode and runs the memory manager.
func (m *Manager) process(ctx context.Context, j *job) {
	t := &j.turn
	mc := t.Agent.Memory
	now := m.opts.Now().UTC()
	var items []*state.Memory
	if mc.Episodic {
		items = append(items, &state.Memory{ID: NewID(), Tenant: t.Principal.Tenant, AgentID: t.Agent.ID, UserID: t.UserID,
			SessionID: t.SessionID, Kind: state.MemoryEpisodic, Content: episode(t.Asked, t.Answered), Source: SourceConversation,
			Metadata: map[string]string{"run_id": t.RunID}, Created: now, Updated: now})
	}
	if mc.Semantic || mc.Procedural {
		extracted, err := m.extract(ctx, t, now)
		if err != nil {
			m.log.Warn("memory manager failed; no facts extracted from this turn", zap.String("agent", t.Agent.ID),
				zap.String("run", t.RunID), zap.Error(err))
		}
		items = append(items, extracted...)
	}
	m.embed(ctx, CallInfo{Principal: t.Principal, Agent: t.Agent, SessionID: t.SessionID, ParentID: t.RunID}, items)
	m.s.enqueue(items, j.gen)
}

// embed gives items embeddings by the agent's embedding model, if it has
// one; items it cannot embed stay keyword-only.
func (m *Manager) embed(ctx context.Context, c CallInfo, items []*state.Memory) {
	model := m.EmbeddingModel(c.Agent)
	if model == "" || len(items) == 0 {
		return
	}
	inputs := make([]string, len(items))
	for i, it := range items {
		inputs[i] = it.Content
	}
	vecs, err := m.models.Embed(ctx, c, model, inputs)
	if err != nil || len(vecs) != len(items) {
		m.log.Warn("embedding memories failed; they are recalled by keywords", zap.String("agent", c.Agent.ID),
			zap.String("model", model), zap.Error(err))
		return
	}
	for i, it := range items {
		if len(vecs[i]) > 0 {
			it.Embedding, it.EmbeddingModel = vecs[i], model
		}
	}
}

// maxEpisodePart bounds each side of an episode, in bytes.
const maxEpisodePart = 2000

func episode(asked, answered string) string {
	return "User: " + clip(strings.TrimSpace(asked), maxEpisodePart) + "\nAssistant: " + clip(strings.TrimSpace(answered), maxEpisodePart)
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !runeStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func runeStart(b byte) bool { return b&0xC0 != 0x80 }

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a new memory item id: "mem_" and 128 random bits.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "mem_" + idEncoding.EncodeToString(b[:])
}
