package memory

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func item(id, kind, user, content string, vec ...float32) *state.Memory {
	m := &state.Memory{ID: id, Tenant: "t", AgentID: "a", Kind: kind, UserID: user, Content: content, Created: t0}
	if len(vec) > 0 {
		m.Embedding, m.EmbeddingModel = vec, "emb"
	}
	return m
}

func hitIDs(hits []Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Item.ID
	}
	return out
}

func TestTokenize(t *testing.T) {
	got := Tokenize("What's the REFUND policy for orders? Refunds: 30 days… Café!")
	want := []string{"refund", "policy", "order", "refund", "30", "day", "café"}
	if !slices.Equal(got, want) {
		t.Fatalf("Tokenize = %q, want %q", got, want)
	}
}

func TestBM25(t *testing.T) {
	x := NewIndex()
	x.Add(
		item("m1", state.MemorySemantic, "", "Company refund policy: refunds within 30 days of purchase."),
		item("m2", state.MemorySemantic, "", "The user's favourite colour is teal."),
		item("m3", state.MemorySemantic, "", "Shipping takes five days; refunds of shipping are not possible."),
		item("m4", state.MemoryEpisodic, "", "User: how do I reset my password?\nAssistant: Click Forgot Password."),
	)
	hits := x.Search(Query{Text: "what is the refund policy?", K: 5})
	if got := hitIDs(hits); !slices.Equal(got, []string{"m1", "m3"}) {
		t.Fatalf("refund policy: %v", got)
	}
	if hits[0].Method != MethodBM25 || hits[0].Score <= hits[1].Score {
		t.Fatalf("hits %+v", hits)
	}
	if got := hitIDs(x.Search(Query{Text: "teal"})); !slices.Equal(got, []string{"m2"}) {
		t.Fatalf("teal: %v", got)
	}
	if got := x.Search(Query{Text: "the of and"}); len(got) != 0 {
		t.Fatalf("stop words only matched %v", hitIDs(got))
	}
	// Filters apply before the top k.
	only := func(kind string) func(*state.Memory) bool {
		return func(m *state.Memory) bool { return m.Kind == kind }
	}
	if got := hitIDs(x.Search(Query{Text: "password refund", K: 1, Filter: only(state.MemoryEpisodic)})); !slices.Equal(got, []string{"m4"}) {
		t.Fatalf("filtered: %v", got)
	}
}

func TestCosineAndHybrid(t *testing.T) {
	x := NewIndex()
	x.Add(
		item("a", state.MemorySemantic, "", "alpha", 1, 0, 0),
		item("b", state.MemorySemantic, "", "beta", 0.9, 0.1, 0),
		item("c", state.MemorySemantic, "", "gamma", 0, 0, 1),
		item("d", state.MemorySemantic, "u2", "delta", 1, 0, 0),
	)
	q := Query{Text: "alpha", Vector: []float32{2, 0, 0}, Model: "emb", K: 2}
	hits := x.Search(q)
	if got := hitIDs(hits); !slices.Equal(got, []string{"d", "a"}) || hits[0].Method != MethodEmbedding { // a tie: the later first
		t.Fatalf("cosine: %v %+v", got, hits)
	}
	if hits[0].Score < 0.999 || hits[0].Score > 1.001 {
		t.Fatalf("cosine of parallel vectors = %v", hits[0].Score)
	}
	q.Filter = func(m *state.Memory) bool { return m.UserID == "" }
	if got := hitIDs(x.Search(q)); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("cosine filtered: %v", got)
	}
	q.MinSimilarity = 0.999
	if got := hitIDs(x.Search(q)); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("min similarity: %v", got)
	}
	// Another model's query vector: keyword ranking.
	if hits := x.Search(Query{Text: "gamma", Vector: []float32{1, 0}, Model: "other"}); len(hits) != 1 || hits[0].Method != MethodBM25 {
		t.Fatalf("other model: %+v", hits)
	}
	// An item without a vector is still found, by fusion.
	x.Add(item("e", state.MemorySemantic, "", "epsilon alpha"))
	hits = x.Search(Query{Text: "epsilon", Vector: []float32{0, 0, 1}, Model: "emb", K: 3})
	if got := hitIDs(hits); !slices.Contains(got, "e") || !slices.Contains(got, "c") || hits[0].Method != MethodHybrid {
		t.Fatalf("hybrid: %v %+v", got, hits)
	}
}

func TestIndexReplaceRemoveCompact(t *testing.T) {
	x := NewIndex()
	for i := range 3000 {
		x.Add(item(fmt.Sprintf("m%04d", i), state.MemorySemantic, "", "fact number "+strconv.Itoa(i)+" about teal", angle(i)...))
	}
	x.Add(item("m0001", state.MemorySemantic, "", "replaced: about crimson", 1, 0))
	if x.Len() != 3000 {
		t.Fatalf("Len after replace = %d", x.Len())
	}
	if got := hitIDs(x.Search(Query{Text: "crimson"})); !slices.Equal(got, []string{"m0001"}) {
		t.Fatalf("replaced item: %v", got)
	}
	removed := x.RemoveIf(func(m *state.Memory) bool { return m.ID < "m2500" })
	if len(removed) != 2500 || x.Len() != 500 {
		t.Fatalf("removed %d, left %d", len(removed), x.Len())
	}
	if x.dead != 0 || len(x.slots) != 500 {
		t.Fatalf("not compacted: %d dead, %d slots", x.dead, len(x.slots))
	}
	// Rankings still hold after compaction, for both methods.
	if got := x.Search(Query{Text: "number 2999", K: 1}); len(got) != 1 || got[0].Item.ID != "m2999" {
		t.Fatalf("bm25 after compaction: %v", hitIDs(got))
	}
	if got := x.Search(Query{Vector: angle(2999), Model: "emb", K: 1}); len(got) != 1 || got[0].Item.ID != "m2999" {
		t.Fatalf("cosine after compaction: %v", hitIDs(got))
	}
	if n := x.Remove("m2999", "nope"); n != 1 || x.Len() != 499 {
		t.Fatalf("Remove = %d, Len %d", n, x.Len())
	}
	if _, ok := x.Get("m2999"); ok {
		t.Fatal("removed item still found")
	}
	if x.HasVectors("other") || !x.HasVectors("emb") {
		t.Fatal("HasVectors")
	}
	x.RemoveIf(func(*state.Memory) bool { return true })
	if x.Len() != 0 || len(x.arenas) != 0 || x.Search(Query{Text: "teal"}) != nil {
		t.Fatalf("emptied index: %d items, %d arenas", x.Len(), len(x.arenas))
	}
}

// angle is a unit vector at i thousandths of a radian.
func angle(i int) []float32 {
	return []float32{float32(math.Cos(float64(i) / 1000)), float32(math.Sin(float64(i) / 1000))}
}

// TestCosineParallelMatchesSerial checks the split scan against a plain
// one on an index large enough to be split.
func TestCosineParallelMatchesSerial(t *testing.T) {
	const n, dim = 2000, 384
	x, q := benchIndex(n, dim, false)
	got := x.Search(Query{Vector: q, Model: "emb", K: 10})
	qv := normalized(q)
	type scored struct {
		id string
		s  float64
	}
	var all []scored
	for _, s := range x.slots {
		v := s.arena.data[int(s.row)*dim : int(s.row+1)*dim]
		all = append(all, scored{s.item.ID, float64(dot(qv, v))})
	}
	slices.SortFunc(all, func(a, b scored) int {
		if a.s != b.s {
			if a.s > b.s {
				return -1
			}
			return 1
		}
		return 0
	})
	for i := range got {
		if got[i].Item.ID != all[i].id {
			t.Fatalf("hit %d = %s, want %s", i, got[i].Item.ID, all[i].id)
		}
	}
}

var words = []string{"refund", "policy", "password", "reset", "account", "billing", "invoice", "teal", "colour", "french",
	"answer", "shipping", "order", "delay", "support", "agent", "travel", "flight", "hotel", "budget"}

// benchIndex builds an index of n items of random dim-dimensional vectors
// (none when dim is 0) and 12-word texts, and a query vector.
func benchIndex(n, dim int, textOnly bool) (*Index, []float32) {
	r := rand.New(rand.NewPCG(1, 2))
	x := NewIndex()
	batch := make([]*state.Memory, 0, 1024)
	for i := range n {
		txt := make([]byte, 0, 128)
		for range 12 {
			txt = append(txt, words[r.IntN(len(words))]...)
			txt = strconv.AppendInt(txt, int64(r.IntN(200)), 10)
			txt = append(txt, ' ')
		}
		m := &state.Memory{ID: fmt.Sprintf("mem_%06d", i), Tenant: "t", AgentID: "a", Kind: state.MemorySemantic,
			UserID: "user-" + strconv.Itoa(i%10), Content: string(txt), Created: t0}
		if !textOnly {
			m.Embedding, m.EmbeddingModel = make([]float32, dim), "emb"
			for j := range m.Embedding {
				m.Embedding[j] = r.Float32() - 0.5
			}
		}
		batch = append(batch, m)
		if len(batch) == cap(batch) {
			x.Add(batch...)
			batch = batch[:0]
		}
	}
	x.Add(batch...)
	q := make([]float32, dim)
	for j := range q {
		q[j] = r.Float32() - 0.5
	}
	return x, q
}

// BenchmarkRecallCosine is one recall query (top 5) over one agent's
// memories by cosine similarity, with the end-user filter recall applies.
func BenchmarkRecallCosine(b *testing.B) {
	for _, dim := range []int{384, 1536} {
		for _, n := range []int{10_000, 100_000} {
			b.Run(fmt.Sprintf("n=%d/dim=%d", n, dim), func(b *testing.B) {
				x, q := benchIndex(n, dim, false)
				filter := func(m *state.Memory) bool { return m.Kind == state.MemorySemantic && Visible(m, "user-3") }
				b.ResetTimer()
				for b.Loop() {
					if hits := x.Search(Query{Vector: q, Model: "emb", K: 5, Filter: filter}); len(hits) != 5 {
						b.Fatal(len(hits))
					}
				}
			})
		}
	}
}

// BenchmarkRecallBM25 is one recall query (top 5) by keywords.
func BenchmarkRecallBM25(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			x, _ := benchIndex(n, 0, true)
			filter := func(m *state.Memory) bool { return m.Kind == state.MemorySemantic }
			b.ResetTimer()
			for b.Loop() {
				if hits := x.Search(Query{Text: "How do I get a refund7 for my delayed flight12 and hotel3?", K: 5, Filter: filter}); len(hits) != 5 {
					b.Fatal(len(hits))
				}
			}
		})
	}
}

// bigAgentStore is a store holding 100k memories (384-dimensional
// embeddings) of agent "a" of tenant "t".
func bigAgentStore(b *testing.B) *bbolt.Store {
	store := openStore(b)
	src, _ := benchIndex(100_000, 384, false)
	items := src.List(nil)
	r := rand.New(rand.NewPCG(3, 4))
	for lo := 0; lo < len(items); lo += 10_000 {
		batch := make([]*state.Memory, 0, 10_000)
		for _, it := range items[lo:min(lo+10_000, len(items))] {
			c := *it
			c.Embedding = make([]float32, 384)
			for j := range c.Embedding {
				c.Embedding[j] = r.Float32() - 0.5
			}
			batch = append(batch, &c)
		}
		if err := store.PutMemories(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	return store
}

// BenchmarkLoadAgent is the cold start of recall for an agent with 100k
// memories (384-dimensional embeddings) in bbolt: reading them all and
// building the index, as the first recall after a start does.
func BenchmarkLoadAgent(b *testing.B) {
	store := bigAgentStore(b)
	b.ResetTimer()
	for b.Loop() {
		list, err := store.ListMemories(b.Context(), "t", "a")
		if err != nil || len(list) != 100_000 {
			b.Fatal(len(list), err)
		}
		NewIndex().Add(list...)
	}
}

// BenchmarkFirstRecall is the first recall after a start (a fresh
// manager over a store holding an agent's 100k memories): how long the
// request that makes it waits. The load goes on in the background past
// Options.LoadWait (BenchmarkLoadAgent is how long it takes).
func BenchmarkFirstRecall(b *testing.B) {
	store := bigAgentStore(b)
	agent := &adapters.Agent{ID: "a", Model: "gpt", Memory: adapters.MemoryConfig{Semantic: true}}
	t := &Turn{Principal: &adapters.Principal{Tenant: "t"}, Agent: agent, UserID: "user-3", Asked: "How do I get a refund7 for my delayed flight12?"}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		shared := OpenShared(store, Options{FlushInterval: time.Hour})
		m := New(shared, &fakeModels{}, Options{})
		b.StartTimer()
		if _, err := m.Recall(b.Context(), t); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		m.Close()
		shared.Close() // waits for the load the recall started
		b.StartTimer()
	}
}
