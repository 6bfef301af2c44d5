package memory

import (
	"context"
	"errors"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.uber.org/zap"

	"github.com/agentgate/agentgate/state"
)

// Shared is the memory state of one store, shared by every Manager over
// it (a Caddy reload builds a new engine before the old one stops, over
// the same store): the recall indexes of the agents in use, loaded from
// the store on first use, and the batched writer of memories and turn
// statistics. Sharing it keeps the indexes consistent with the writes of
// both managers. Writes of other gateway instances sharing the store
// reach the indexes through the store's changes (follow), within the
// store's delay in telling them. Its owner (the one that holds the store
// across reloads) opens it with OpenShared and closes it after the last
// Manager over it.
//
// Lock order: commitMu, then an agent's mu, then wmu, then mu.
type Shared struct {
	store    state.Store
	log      *zap.Logger
	interval time.Duration

	// mu guards the cache of agent indexes.
	mu     sync.Mutex
	agents *lru.Cache[agentKey, *agentMem]

	// commitMu is held while the store is written or an index loaded from
	// it, so an index never misses a write in flight.
	commitMu sync.Mutex

	// wmu guards what waits to be written, and every index change.
	wmu     sync.Mutex
	pending []*state.Memory
	turns   []state.TurnRecord
	flushes []chan struct{}
	clears  map[agentKey][]clearMark
	gen     uint64

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	// unfollow stops following the store's changes.
	unfollow func()
	// loads are the background loads of indexes (load); loadCtx ends
	// them at Close.
	loads     sync.WaitGroup
	loadCtx   context.Context
	stopLoads context.CancelFunc
}

type agentKey struct{ tenant, agent string }

// agentMem is one agent's index; idx is nil until loaded. idx and
// loadErr (the failure of the last background load) are set under mu and
// the Shared's wmu; they are read under either. loading, guarded by the
// Shared's mu, is closed when the background load in progress ends.
type agentMem struct {
	mu      sync.Mutex
	idx     *Index
	loading chan struct{}
	loadErr error
}

// clearMark records that items matching f were cleared at generation
// gen: background writes begun before (from older turns) must not bring
// them back.
type clearMark struct {
	gen uint64
	f   Filter
	at  time.Time
}

// maxBatch is how many queued writes trigger an early commit.
const maxBatch = 512

// OpenShared starts the memory state of store: opts' FlushInterval,
// CacheAgents and Logger apply. Close stops it.
func OpenShared(store state.Store, opts Options) *Shared {
	opts.defaults()
	cache, _ := lru.New[agentKey, *agentMem](opts.CacheAgents)
	s := &Shared{store: store, log: opts.Logger, interval: opts.FlushInterval, agents: cache,
		clears: map[agentKey][]clearMark{}, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.loadCtx, s.stopLoads = context.WithCancel(context.Background())
	s.unfollow = store.Subscribe(s.follow)
	go s.loop()
	return s
}

// Close stops following the store, cancels the loads in progress, and
// commits what is queued.
func (s *Shared) Close() {
	s.unfollow()
	s.stopLoads()
	s.loads.Wait()
	close(s.stop)
	<-s.done
}

// follow brings the loaded indexes up to date with a change of the store:
// memories another instance wrote or deleted are read again (deleted ones
// are no longer found) and applied to their agent's index, if loaded.
// After a gap in the store's changes every index is dropped, to be loaded
// again on next use. This instance's own writes are in its indexes
// already.
func (s *Shared) follow(c state.Change) {
	switch {
	case c.Kind == state.ChangeGap:
		s.mu.Lock()
		s.agents.Purge()
		s.mu.Unlock()
	case c.Kind == state.ChangeMemory && !c.Local:
		s.refresh(agentKey{c.Tenant, c.ID}, c.Items)
	}
}

// followTimeout bounds the read of the items one change names.
const followTimeout = 10 * time.Second

// refresh reads items ids of agent k (all when nil) into its index, if
// loaded; a failed read drops the index rather than keep it stale.
func (s *Shared) refresh(k agentKey, ids []string) {
	s.mu.Lock()
	am, ok := s.agents.Peek(k)
	s.mu.Unlock()
	if !ok {
		return // loaded from the store, change included, on first use
	}
	am.mu.Lock() // after a load in progress, which may predate the change
	defer am.mu.Unlock()
	if am.idx == nil {
		return
	}
	var items []*state.Memory
	err := errDropIndex
	if ids != nil {
		ctx, cancel := context.WithTimeout(context.Background(), followTimeout)
		items, err = s.store.GetMemories(ctx, k.tenant, k.agent, ids)
		cancel()
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err != nil {
		if !errors.Is(err, errDropIndex) {
			s.log.Warn("reading memories another instance changed; the agent's index reloads on next use", zap.Error(err))
		}
		am.idx = nil
		return
	}
	found := make(map[string]bool, len(items))
	for _, m := range items {
		found[m.ID] = true
	}
	gone := make(map[string]bool, len(ids))
	for _, id := range ids {
		if !found[id] {
			gone[id] = true
		}
	}
	am.idx.Add(items...)
	am.idx.RemoveIf(func(m *state.Memory) bool { return gone[m.ID] })
}

// errDropIndex marks a change that names no items: the index is dropped.
var errDropIndex = errors.New("reload the index")

func (s *Shared) loop() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.kick:
		case <-s.stop:
			s.commit()
			return
		}
		s.commit()
	}
}

func (s *Shared) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// commit writes what is queued: memories and turn records.
func (s *Shared) commit() {
	s.commitMu.Lock()
	s.wmu.Lock()
	items, turns, waiters := s.pending, s.turns, s.flushes
	s.pending, s.turns, s.flushes = nil, nil, nil
	s.wmu.Unlock()
	ctx := context.Background()
	if len(items) > 0 {
		if err := s.store.PutMemories(ctx, items); err != nil {
			s.retry(items, nil, err)
		}
	}
	if len(turns) > 0 {
		if err := s.store.RecordTurns(ctx, turns); err != nil {
			s.retry(nil, turns, err)
		}
	}
	s.commitMu.Unlock()
	for _, ch := range waiters {
		close(ch)
	}
}

// retry keeps writes the store refused for the next commit, unless the
// store can never take them (an invalid id): those are dropped, logged.
func (s *Shared) retry(items []*state.Memory, turns []state.TurnRecord, err error) {
	if errors.Is(err, state.ErrInvalidID) || errors.Is(err, state.ErrClosed) {
		s.log.Error("dropping memory writes the store refused", zap.Int("memories", len(items)), zap.Int("turns", len(turns)), zap.Error(err))
		return
	}
	s.log.Error("writing memories; will retry", zap.Int("memories", len(items)), zap.Int("turns", len(turns)), zap.Error(err))
	s.wmu.Lock()
	s.pending = append(items, s.pending...)
	s.turns = append(turns, s.turns...)
	s.wmu.Unlock()
}

// flush commits everything queued so far and waits for it.
func (s *Shared) flush(ctx context.Context) error {
	ch := make(chan struct{})
	s.wmu.Lock()
	s.flushes = append(s.flushes, ch)
	s.wmu.Unlock()
	s.poke()
	select {
	case <-ch:
		return nil
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// generation is the current write generation: a background write begun
// now is dropped if a matching clear happens before it is queued.
func (s *Shared) generation() uint64 {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.gen
}

// entry returns the cache entry of an agent, creating it.
func (s *Shared) entry(k agentKey) *agentMem {
	s.mu.Lock()
	defer s.mu.Unlock()
	if am, ok := s.agents.Get(k); ok {
		return am
	}
	am := &agentMem{}
	s.agents.Add(k, am)
	return am
}

// loaded returns the agent's index if it is loaded (wmu held).
func (s *Shared) loaded(k agentKey) *Index {
	s.mu.Lock()
	am, ok := s.agents.Peek(k)
	s.mu.Unlock()
	if !ok {
		return nil
	}
	return am.idx
}

// index returns the agent's index, loading it from the store on first
// use.
func (s *Shared) index(ctx context.Context, k agentKey) (*Index, error) {
	am := s.entry(k)
	am.mu.Lock()
	idx := am.idx
	am.mu.Unlock()
	if idx != nil {
		return idx, nil
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	am.mu.Lock()
	defer am.mu.Unlock()
	return s.loadLocked(ctx, k, am)
}

// indexWithin returns the agent's index, loading it in the background on
// first use and waiting at most wait for the load: nil when it is not
// ready by then (it goes on loading, for the calls that follow). Recall
// uses it, so a large agent's first load (100k memories take about a
// second) never holds up the request that starts it.
func (s *Shared) indexWithin(ctx context.Context, k agentKey, wait time.Duration) (*Index, error) {
	am := s.entry(k)
	// Read under wmu: a load in progress holds am.mu until it is done.
	s.wmu.Lock()
	idx := am.idx
	s.wmu.Unlock()
	if idx != nil {
		return idx, nil
	}
	loaded := s.load(k, am)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-loaded:
	case <-t.C:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if am.idx == nil {
		return nil, am.loadErr
	}
	return am.idx, nil
}

// load starts the background load of am, unless one is in progress, and
// returns what is closed when it ends.
func (s *Shared) load(k agentKey, am *agentMem) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if am.loading != nil {
		return am.loading
	}
	loaded := make(chan struct{})
	am.loading = loaded
	s.loads.Go(func() {
		s.commitMu.Lock()
		am.mu.Lock()
		_, err := s.loadLocked(s.loadCtx, k, am)
		s.wmu.Lock()
		am.loadErr = err
		s.wmu.Unlock()
		am.mu.Unlock()
		s.commitMu.Unlock()
		if err != nil && s.loadCtx.Err() == nil {
			s.log.Warn("loading an agent's memories for recall", zap.String("tenant", k.tenant), zap.String("agent", k.agent), zap.Error(err))
		}
		s.mu.Lock()
		am.loading = nil
		s.mu.Unlock()
		close(loaded)
	})
	return loaded
}

// loadLocked fills am from the store and the queued writes; commitMu and
// am.mu are held.
func (s *Shared) loadLocked(ctx context.Context, k agentKey, am *agentMem) (*Index, error) {
	if am.idx != nil {
		return am.idx, nil
	}
	items, err := s.store.ListMemories(ctx, k.tenant, k.agent)
	if err != nil {
		return nil, err
	}
	idx := NewIndex()
	idx.Add(items...)
	s.wmu.Lock()
	for _, m := range s.pending {
		if m.Tenant == k.tenant && m.AgentID == k.agent {
			idx.Add(m)
		}
	}
	am.idx = idx
	s.wmu.Unlock()
	return idx, nil
}

// enqueue queues background writes made at generation gen, dropping those
// a later clear covers, and shows them to recall at once.
func (s *Shared) enqueue(items []*state.Memory, gen uint64) {
	if len(items) == 0 {
		return
	}
	s.wmu.Lock()
	n := 0
	for _, m := range items {
		if s.clearedLocked(m, gen) {
			continue
		}
		s.pending = append(s.pending, m)
		if idx := s.loaded(agentKey{m.Tenant, m.AgentID}); idx != nil {
			idx.Add(m)
		}
		n++
	}
	full := len(s.pending) >= maxBatch
	s.wmu.Unlock()
	if full {
		s.poke()
	}
}

func (s *Shared) clearedLocked(m *state.Memory, gen uint64) bool {
	for _, c := range s.clears[agentKey{m.Tenant, m.AgentID}] {
		if c.gen > gen && c.f.Match(m) {
			return true
		}
	}
	return false
}

// put writes items durably now (items a client added: acknowledged means
// stored), then shows them to recall.
func (s *Shared) put(ctx context.Context, items []*state.Memory) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if err := s.store.PutMemories(ctx, items); err != nil {
		return err
	}
	s.wmu.Lock()
	for _, m := range items {
		if idx := s.loaded(agentKey{m.Tenant, m.AgentID}); idx != nil {
			idx.Add(m)
		}
	}
	s.wmu.Unlock()
	return nil
}

// clear removes the agent's items f matches, from the store, the index
// and the queue, and keeps background writes of earlier turns from
// bringing them back. It returns how many it removed.
func (s *Shared) clear(ctx context.Context, k agentKey, f Filter, now time.Time) (int, error) {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	am := s.entry(k)
	am.mu.Lock()
	defer am.mu.Unlock()
	idx, err := s.loadLocked(ctx, k, am)
	if err != nil {
		return 0, err
	}
	s.wmu.Lock()
	s.gen++
	marks := s.clears[k][:0:0]
	for _, c := range s.clears[k] {
		if now.Sub(c.at) < clearMarkTTL {
			marks = append(marks, c)
		}
	}
	s.clears[k] = append(marks, clearMark{gen: s.gen, f: f, at: now})
	keep := s.pending[:0]
	for _, m := range s.pending {
		if m.Tenant == k.tenant && m.AgentID == k.agent && f.Match(m) {
			continue
		}
		keep = append(keep, m)
	}
	clear(s.pending[len(keep):])
	s.pending = keep
	removed := idx.RemoveIf(f.Match)
	s.wmu.Unlock()
	ids := make([]string, 0, len(removed))
	for _, m := range removed {
		ids = append(ids, m.ID)
	}
	if _, err := s.store.DeleteMemories(ctx, k.tenant, k.agent, ids); err != nil {
		return 0, err
	}
	return len(removed), nil
}

// clearMarkTTL is how long a clear keeps background writes of earlier
// turns out: longer than any memory-manager job runs.
const clearMarkTTL = 15 * time.Minute

// dropAgent removes every memory of an agent, from the store too, and
// forgets its index.
func (s *Shared) dropAgent(ctx context.Context, k agentKey, now time.Time) (int, error) {
	n, err := s.clear(ctx, k, Filter{}, now)
	if err != nil {
		return n, err
	}
	// Items the index did not know of (none, normally) go too.
	s.commitMu.Lock()
	m, err := s.store.DeleteMemories(ctx, k.tenant, k.agent, nil)
	s.commitMu.Unlock()
	s.mu.Lock()
	s.agents.Remove(k)
	s.mu.Unlock()
	return n + m, err
}

// recordTurn queues a turn's statistics.
func (s *Shared) recordTurn(r state.TurnRecord) {
	s.wmu.Lock()
	s.turns = append(s.turns, r)
	full := len(s.turns) >= maxBatch
	s.wmu.Unlock()
	if full {
		s.poke()
	}
}
