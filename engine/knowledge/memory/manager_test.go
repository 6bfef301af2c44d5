package memory

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

// fakeModels answers the memory manager with a fixed extraction and
// embeds text as letter counts; gate, when set, holds Complete until it
// is closed.
type fakeModels struct {
	mu        sync.Mutex
	answer    string
	completes []*adapters.Request
	embeds    [][]string
	embedErr  error
	gate      chan struct{}
	calls     []CallInfo
}

func (f *fakeModels) Complete(ctx context.Context, c CallInfo, req *adapters.Request) (string, error) {
	f.mu.Lock()
	f.completes = append(f.completes, req)
	f.calls = append(f.calls, c)
	gate, answer := f.gate, f.answer
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return answer, nil
}

func (f *fakeModels) Embed(ctx context.Context, c CallInfo, model string, inputs []string) ([][]float32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.embeds = append(f.embeds, inputs)
	f.calls = append(f.calls, c)
	if f.embedErr != nil {
		return nil, f.embedErr
	}
	out := make([][]float32, len(inputs))
	for i, s := range inputs {
		v := make([]float32, 26)
		for _, r := range strings.ToLower(s) {
			if r >= 'a' && r <= 'z' {
				v[r-'a']++
			}
		}
		out[i] = v
	}
	return out, nil
}

func openStore(t testing.TB) *bbolt.Store {
	t.Helper()
	s, err := bbolt.Open(filepath.Join(t.TempDir(), "m.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openShared opens the memory state of store, closed when the test ends.
func openShared(t testing.TB, store state.Store) *Shared {
	t.Helper()
	s := OpenShared(store, Options{FlushInterval: time.Hour}) // tests flush explicitly
	t.Cleanup(s.Close)
	return s
}

func newManager(t testing.TB, store state.Store, models Models, opts Options) *Manager {
	t.Helper()
	if opts.LoadWait == 0 {
		opts.LoadWait = time.Minute // recall sees its first load whatever the machine's speed
	}
	m := New(openShared(t, store), models, opts)
	t.Cleanup(m.Close)
	return m
}

var (
	principal = &adapters.Principal{KeyID: "k", Tenant: "t1"}
	agentAll  = &adapters.Agent{ID: "ag", Model: "gpt", Memory: adapters.MemoryConfig{Semantic: true, Episodic: true, Procedural: true}}
)

const adaFacts = `{"facts":[{"content":"The user's name is Ada."},"The user's favourite colour is teal."],"instructions":["Always answer in French."],"forget":[]}`

func turn(user, session, asked, answered string) *Turn {
	return &Turn{Principal: principal, Agent: agentAll, UserID: user, SessionID: session, RunID: "run-" + session,
		Asked: asked, Answered: answered, NewSession: true, Latency: 1500 * time.Millisecond}
}

func flush(t testing.TB, m *Manager) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func contents(items []*state.Memory) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Content
	}
	slices.Sort(out)
	return out
}

func TestWriteBackAndRecall(t *testing.T) {
	store := openStore(t)
	fm := &fakeModels{answer: adaFacts}
	m := newManager(t, store, fm, Options{})
	m.AfterTurn(turn("ada", "s1", "Hi, I'm Ada, I love teal. Answer in French please.", "Enchanté, Ada !"))
	flush(t, m)

	// Everything is in the store once flushed.
	stored, err := store.ListMemories(context.Background(), "t1", "ag")
	if err != nil || len(stored) != 4 {
		t.Fatalf("stored %d items, %v", len(stored), err)
	}
	for _, it := range stored {
		if it.UserID != "ada" || it.Tenant != "t1" || it.SessionID != "s1" {
			t.Fatalf("item %+v", it)
		}
	}
	// The manager was called on the agent's model with the exchange, as
	// the run's child.
	if len(fm.completes) != 1 || fm.completes[0].Model != "gpt" || fm.calls[0].ParentID != "run-s1" ||
		!strings.Contains(fm.completes[0].Messages[0].Text(), "User: Hi, I'm Ada") {
		t.Fatalf("manager call %+v %+v", fm.completes, fm.calls)
	}

	// A new conversation of Ada recalls the instruction, the colour and
	// the episode.
	rec, err := m.Recall(context.Background(), turn("ada", "s2", "What is my favourite colour? Do I love teal?", ""))
	if err != nil || rec == nil {
		t.Fatalf("recall: %v %v", rec, err)
	}
	got := contents(rec.Items)
	for _, want := range []string{"Always answer in French.", "The user's favourite colour is teal."} {
		if !slices.Contains(got, want) {
			t.Errorf("recall lacks %q: %q", want, got)
		}
	}
	if !strings.Contains(rec.Section, "Standing instructions (follow them):\n- Always answer in French.") ||
		!strings.Contains(rec.Section, "Earlier conversations:\n- [") {
		t.Errorf("section:\n%s", rec.Section)
	}
	if len(rec.IDs()) != len(rec.Items) {
		t.Error("IDs")
	}
	// The same conversation does not recall its own episode (it is in
	// the history).
	rec, _ = m.Recall(context.Background(), turn("ada", "s1", "What is my favourite colour? Do I love teal?", ""))
	for _, it := range rec.Items {
		if it.Kind == state.MemoryEpisodic {
			t.Errorf("recalled an episode of the same conversation: %q", it.Content)
		}
	}
	// Another user, another tenant, a call naming no user: nothing.
	for _, tt := range []*Turn{turn("bob", "s3", "What is my favourite colour?", ""), turn("", "s4", "favourite colour teal French", "")} {
		if rec, err := m.Recall(context.Background(), tt); rec != nil || err != nil {
			t.Errorf("user %q recalled %q (%v)", tt.UserID, contents(rec.Items), err)
		}
	}
	other := turn("ada", "s5", "What is my favourite colour?", "")
	other.Principal = &adapters.Principal{Tenant: "t2"}
	if rec, _ := m.Recall(context.Background(), other); rec != nil {
		t.Errorf("another tenant recalled %q", contents(rec.Items))
	}
	// An agent without memory recalls nothing and remembers nothing.
	plain := turn("ada", "s6", "What is my favourite colour?", "")
	plain.Agent = &adapters.Agent{ID: "ag", Model: "gpt"}
	if rec, _ := m.Recall(context.Background(), plain); rec != nil {
		t.Error("an agent without memory recalled")
	}
}

func TestStatsAndRating(t *testing.T) {
	store := openStore(t)
	m := newManager(t, store, &fakeModels{}, Options{})
	first := turn("", "s1", "hi", "hello")
	m.AfterTurn(first)
	second := turn("", "s1", "again", "hello again")
	second.NewSession, second.RunID, second.Latency = false, "run-2", 2500*time.Millisecond
	m.AfterTurn(second)
	st, err := m.Stats(context.Background(), "t1", "ag")
	if err != nil || st.Conversations != 1 || st.Responses != 2 || st.ResponseMs != 4000 {
		t.Fatalf("stats %+v %v", st, err)
	}
	if err := m.Rate(context.Background(), "t1", "ag", "run-2", "up"); err != nil {
		t.Fatal(err)
	}
	if err := m.Rate(context.Background(), "t1", "ag", "run-9", "up"); !errors.Is(err, ErrNoSuchAnswer) {
		t.Fatalf("unknown answer: %v", err)
	}
	if err := m.Rate(context.Background(), "t2", "ag", "run-2", "up"); !errors.Is(err, ErrNoSuchAnswer) {
		t.Fatalf("another tenant's answer: %v", err)
	}
}

func TestSupersede(t *testing.T) {
	store := openStore(t)
	fm := &fakeModels{answer: adaFacts}
	m := newManager(t, store, fm, Options{})
	m.AfterTurn(turn("ada", "s1", "I'm Ada and I love teal", "ok"))
	flush(t, m)
	// The manager is shown Ada's known memories, numbered; known memory
	// "1" is the best match for the new exchange (the colour).
	fm.answer = `{"facts":[{"content":"The user's favourite colour is crimson.","replaces":["#1"]}],"forget":[3]}`
	m.AfterTurn(turn("ada", "s2", "Actually my favourite colour is crimson", "Noted"))
	flush(t, m)
	prompt := fm.completes[1].Messages[0].Text()
	if !strings.Contains(prompt, "1. (fact) The user's favourite colour is teal.") {
		t.Fatalf("known memories:\n%s", prompt)
	}
	list, _ := m.List(context.Background(), "t1", "ag", Filter{Kind: state.MemorySemantic})
	if got := contents(list); !slices.Contains(got, "The user's favourite colour is crimson.") || slices.Contains(got, "The user's favourite colour is teal.") {
		t.Fatalf("after supersede: %q", got)
	}
	stored, _ := store.ListMemories(context.Background(), "t1", "ag")
	for _, it := range stored {
		if it.Content == "The user's favourite colour is teal." {
			t.Fatal("superseded fact still stored")
		}
	}
	// A fact stated again is not stored twice.
	fm.answer = `{"facts":["The user's favourite colour is crimson"]}`
	m.AfterTurn(turn("ada", "s3", "crimson, remember", "ok"))
	flush(t, m)
	list, _ = m.List(context.Background(), "t1", "ag", Filter{Kind: state.MemorySemantic})
	if n := strings.Count(strings.Join(contents(list), "|"), "crimson"); n != 1 {
		t.Fatalf("crimson stored %d times: %q", n, contents(list))
	}
}

// TestClearWinsOverPendingWriteBack: a turn that ended before a clear
// does not bring the cleared memories back when its job finishes after.
func TestClearWinsOverPendingWriteBack(t *testing.T) {
	store := openStore(t)
	fm := &fakeModels{answer: adaFacts, gate: make(chan struct{})}
	m := newManager(t, store, fm, Options{})
	m.AfterTurn(turn("ada", "s1", "I'm Ada", "Hello Ada"))
	for deadline := time.Now().Add(5 * time.Second); ; {
		fm.mu.Lock()
		started := len(fm.completes) > 0
		fm.mu.Unlock()
		if started {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("job did not start")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := m.Clear(context.Background(), "t1", "ag", Filter{Kind: state.MemorySemantic}); err != nil {
		t.Fatal(err)
	}
	close(fm.gate)
	flush(t, m)
	list, _ := m.List(context.Background(), "t1", "ag", Filter{})
	for _, it := range list {
		if it.Kind == state.MemorySemantic {
			t.Errorf("cleared kind came back: %q", it.Content)
		}
	}
	if len(list) != 2 { // the episode and the instruction were not cleared
		t.Errorf("items after clear: %q", contents(list))
	}
	// A later turn writes again.
	fm.gate = nil
	m.AfterTurn(turn("ada", "s2", "I'm Ada", "Hello Ada"))
	flush(t, m)
	list, _ = m.List(context.Background(), "t1", "ag", Filter{Kind: state.MemorySemantic})
	if len(list) != 2 {
		t.Errorf("facts after a later turn: %q", contents(list))
	}
}

func TestEmbeddingRecall(t *testing.T) {
	store := openStore(t)
	fm := &fakeModels{answer: `{"facts":["The user's favourite colour is teal.","The user lives in Lisbon."]}`}
	m := newManager(t, store, fm, Options{EmbeddingModel: "emb", TopK: 1})
	m.AfterTurn(turn("ada", "s1", "I love teal and live in Lisbon", "ok"))
	flush(t, m)
	list, _ := m.List(context.Background(), "t1", "ag", Filter{})
	for _, it := range list {
		if it.EmbeddingModel != "emb" {
			t.Fatalf("item not embedded: %+v", it)
		}
	}
	rec, err := m.Recall(context.Background(), turn("ada", "s2", "Where do I live? Lisbon?", ""))
	if err != nil || rec == nil {
		t.Fatal(rec, err)
	}
	var facts []string
	for _, it := range rec.Items {
		if it.Kind == state.MemorySemantic {
			facts = append(facts, it.Content)
		}
	}
	if !slices.Equal(facts, []string{"The user lives in Lisbon."}) {
		t.Fatalf("cosine recall: %q", facts)
	}
	// The query was embedded as the run's child.
	if last := fm.calls[len(fm.calls)-1]; last.ParentID != "run-s2" {
		t.Fatalf("query embedding call %+v", last)
	}
	// When embedding fails, recall falls back to keywords.
	fm.mu.Lock()
	fm.embedErr = errors.New("embedding upstream down")
	fm.mu.Unlock()
	rec, err = m.Recall(context.Background(), turn("ada", "s3", "teal", ""))
	if err != nil || rec == nil || !slices.Contains(contents(rec.Items), "The user's favourite colour is teal.") {
		t.Fatalf("fallback recall: %v %v", rec, err)
	}
}

func TestAddListClearDeleteAgent(t *testing.T) {
	store := openStore(t)
	m := newManager(t, store, &fakeModels{}, Options{EmbeddingModel: "emb"})
	ctx := context.Background()
	added, err := m.Add(ctx, principal, agentAll, []NewItem{
		{ID: "kb_1", Content: "Refunds within 30 days."},
		{Kind: state.MemoryProcedural, Content: "Always greet by name.", UserID: "ada"},
	})
	if err != nil || len(added) != 2 || added[0].Kind != state.MemorySemantic || added[0].EmbeddingModel != "emb" || added[1].ID == "" {
		t.Fatalf("Add: %+v %v", added, err)
	}
	// Durable at once: the store has them without a flush.
	if stored, _ := store.ListMemories(ctx, "t1", "ag"); len(stored) != 2 {
		t.Fatalf("stored %d", len(stored))
	}
	if _, err := m.Add(ctx, principal, agentAll, []NewItem{{ID: "kb_1", Content: "again"}}); adapters.AsError(err).Kind != adapters.KindConflict {
		t.Fatalf("duplicate id: %v", err)
	}
	// Knowledge of the agent is recalled for every user; a user's
	// instruction only for that user.
	for user, want := range map[string]int{"ada": 2, "bob": 1} {
		rec, _ := m.Recall(ctx, turn(user, "s", "refund policy?", ""))
		if rec == nil || len(rec.Items) != want {
			t.Errorf("user %s recalled %v, want %d items", user, rec, want)
		}
	}
	n, err := m.Clear(ctx, "t1", "ag", Filter{User: "ada", ByUser: true})
	if err != nil || n != 1 {
		t.Fatalf("Clear ada = %d %v", n, err)
	}
	n, err = m.DeleteAgent(ctx, "t1", "ag")
	if err != nil || n != 1 {
		t.Fatalf("DeleteAgent = %d %v", n, err)
	}
	if stored, _ := store.ListMemories(ctx, "t1", "ag"); len(stored) != 0 {
		t.Fatalf("stored after DeleteAgent: %d", len(stored))
	}
}

// TestSharedAcrossManagers: two managers over one store's shared state
// (a config reload) see each other's writes, and what they queued is
// committed when the shared state closes after both.
func TestSharedAcrossManagers(t *testing.T) {
	store := openStore(t)
	fm := &fakeModels{answer: adaFacts}
	shared := OpenShared(store, Options{FlushInterval: time.Hour})
	old := New(shared, fm, Options{LoadWait: time.Minute})
	ctx := context.Background()
	if rec, _ := old.Recall(ctx, turn("ada", "s0", "teal", "")); rec != nil {
		t.Fatal("recall before any write")
	}
	next := New(shared, fm, Options{LoadWait: time.Minute})
	old.AfterTurn(turn("ada", "s1", "I'm Ada, I love teal", "Hi"))
	if err := old.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	old.Close()
	rec, _ := next.Recall(ctx, turn("ada", "s2", "what colour do I love? teal?", ""))
	if rec == nil || !slices.Contains(contents(rec.Items), "The user's favourite colour is teal.") {
		t.Fatalf("the new manager does not see the old one's write: %v", rec)
	}
	next.AfterTurn(turn("ada", "s3", "bye", "bye"))
	next.Close()
	shared.Close() // commits
	if stored, _ := store.ListMemories(ctx, "t1", "ag"); len(stored) < 5 {
		t.Fatalf("stored %d items after both closed", len(stored))
	}
}

// slowStore holds agents' memory loads until release is closed (or the
// load is cancelled), as a large agent's first load would.
type slowStore struct {
	state.Store
	release chan struct{}
}

func (s *slowStore) ListMemories(ctx context.Context, tenant, agentID string) ([]*state.Memory, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.ListMemories(ctx, tenant, agentID)
}

// TestRecallDoesNotWaitForALongLoad: the first recall of an agent whose
// memories take long to load waits LoadWait, goes on without them, and
// leaves the load running for the turns that follow. The load is held
// until released, so nothing here depends on the machine's speed.
func TestRecallDoesNotWaitForALongLoad(t *testing.T) {
	base := openStore(t)
	ctx := context.Background()
	if err := base.PutMemories(ctx, []*state.Memory{{ID: "mem_1", Tenant: "t1", AgentID: "ag", Kind: state.MemorySemantic,
		Content: "The user's favourite colour is teal.", Source: SourceAPI, Created: t0}}); err != nil {
		t.Fatal(err)
	}
	store := &slowStore{Store: base, release: make(chan struct{})}
	m := New(openShared(t, store), &fakeModels{}, Options{LoadWait: time.Millisecond})
	defer m.Close()
	ask := turn("", "s1", "what is my favourite colour? teal?", "")
	if rec, err := m.Recall(ctx, ask); rec != nil || err != nil {
		t.Fatalf("recall while loading = %v, %v; want nothing, at once", rec, err)
	}
	if rec, err := m.Recall(ctx, ask); rec != nil || err != nil {
		t.Fatalf("second recall while loading = %v, %v", rec, err)
	}
	close(store.release)
	// List waits for the load in progress; recall then has the index.
	if list, err := m.List(ctx, "t1", "ag", Filter{}); err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
	rec, err := m.Recall(ctx, ask)
	if err != nil || rec == nil || rec.Items[0].ID != "mem_1" {
		t.Fatalf("recall once loaded = %v, %v", rec, err)
	}
}

// TestCloseCancelsALoad: closing the shared state ends a load in
// progress instead of waiting for it.
func TestCloseCancelsALoad(t *testing.T) {
	store := &slowStore{Store: openStore(t), release: make(chan struct{})}
	shared := OpenShared(store, Options{FlushInterval: time.Hour})
	m := New(shared, &fakeModels{}, Options{LoadWait: time.Millisecond})
	if rec, _ := m.Recall(context.Background(), turn("", "s1", "teal?", "")); rec != nil {
		t.Fatal(rec)
	}
	m.Close()
	shared.Close() // returns: the held load is cancelled
}

// TestQueueFullDropsNotBlocks: a full queue drops write-back, it never
// blocks the caller.
func TestQueueFullDropsNotBlocks(t *testing.T) {
	store := openStore(t)
	fm := &fakeModels{answer: adaFacts, gate: make(chan struct{})}
	m := New(openShared(t, store), fm, Options{Workers: 1, Queue: 2, CloseTimeout: 50 * time.Millisecond})
	done := make(chan struct{})
	go func() {
		for range 20 {
			m.AfterTurn(turn("ada", "s", "hi", "hello"))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("AfterTurn blocked on a full queue")
	}
	// Close cancels the job stuck on the gate after CloseTimeout.
	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung on a stuck job")
	}
}

func TestParseExtraction(t *testing.T) {
	for _, tc := range []struct {
		in                  string
		facts, instructions int
		forget              []int
	}{
		{"nothing to remember", 0, 0, nil},
		{"```json\n" + adaFacts + "\n```", 2, 1, nil},
		{`Sure! {"facts":[{"content":" x ","replaces":["#2", 3, "y"]}],"forget":["1", -4]} hope that helps`, 1, 0, []int{1}},
		{`{"facts":[{"content":""},null,5,{"content":"ok"}]}`, 1, 0, nil},
		{`{"facts":"not a list"}`, 0, 0, nil},
	} {
		ex := ParseExtraction(tc.in)
		if len(ex.Facts) != tc.facts || len(ex.Instructions) != tc.instructions || !slices.Equal(ex.Forget, tc.forget) {
			t.Errorf("ParseExtraction(%q) = %+v", tc.in, ex)
		}
	}
	ex := ParseExtraction(`{"facts":[{"content":" x ","replaces":["#2", 3, "y"]}]}`)
	if ex.Facts[0].Content != "x" || !slices.Equal(ex.Facts[0].Replaces, []int{2, 3}) {
		t.Errorf("item %+v", ex.Facts[0])
	}
}
