package engine

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/knowledge"
	"github.com/agentgate/agentgate/engine/knowledge/memory"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

// fakeEmbedder is a provider that also embeds: a bag of hashed words, so
// texts sharing words are close.
type fakeEmbedder struct {
	*fakeProvider
	mu     sync.Mutex
	inputs [][]string
	models []string
	err    error
}

const fakeDims = 64

func bagOfWords(s string) []float32 {
	v := make([]float32, fakeDims)
	for _, t := range memory.Tokenize(s) {
		h := fnv.New32a()
		h.Write([]byte(t))
		v[h.Sum32()%fakeDims]++
	}
	return v
}

func (f *fakeEmbedder) Embed(_ context.Context, model string, inputs []string) ([][]float32, adapters.Usage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inputs = append(f.inputs, inputs)
	f.models = append(f.models, model)
	if f.err != nil {
		return nil, adapters.Usage{}, f.err
	}
	out := make([][]float32, len(inputs))
	for i, s := range inputs {
		out[i] = bagOfWords(s)
	}
	return out, adapters.Usage{InputTokens: 7 * len(inputs)}, nil
}

func (f *fakeEmbedder) embedCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.inputs)
}

// ragRuntime is a runtime whose provider "p" chats with prov's script and
// embeds; "emb" is routed to it.
func ragRuntime(t *testing.T, prov *fakeEmbedder, cfg knowledge.RAGConfig) (*Engine, *bbolt.Store) {
	t.Helper()
	return newTestRuntime(t, Config{Providers: map[string]adapters.Provider{"p": prov, "other": newFake()},
		Routes: []models.Route{{Pattern: "emb", Provider: "p"}, {Pattern: "m", Provider: "p"}}, RAG: cfg})
}

const handbook = `# Handbook

Welcome to Acme. This handbook answers common questions.

## Refunds

Refunds are issued within 30 days of purchase, to the original payment method.
Keep your receipt: refunds need the order number.

## Shipping

Orders ship within 2 business days. Shipping is free for orders over $50.

## Support

Write to the support team any day of the week; we answer within 24 hours.
`

func TestDocumentsAPI(t *testing.T) {
	prov := &fakeEmbedder{fakeProvider: newFake(reply("ok")...)}
	rt, _ := ragRuntime(t, prov, knowledge.RAGConfig{MaxDocumentChars: 5000})
	ctx := context.Background()
	for _, tc := range []struct {
		in          knowledge.DocumentInput
		kind        adapters.ErrorKind
		param, code string
	}{
		{knowledge.DocumentInput{Text: "x"}, adapters.KindInvalidRequest, "source", "invalid_document"},
		{knowledge.DocumentInput{Source: "kb", Text: "x", Format: "html"}, adapters.KindInvalidRequest, "format", "invalid_document"},
		{knowledge.DocumentInput{Source: "kb", Text: " \n\n "}, adapters.KindInvalidRequest, "text", "invalid_document"},
		{knowledge.DocumentInput{Source: "kb", Text: strings.Repeat("x", 5001)}, adapters.KindTooLarge, "text", "document_too_large"},
		{knowledge.DocumentInput{Source: "k\x00b", Text: "x"}, adapters.KindInvalidRequest, "source", "invalid_document"},
		{knowledge.DocumentInput{Source: "kb", ID: strings.Repeat("i", 200), Text: "x"}, adapters.KindInvalidRequest, "id", "invalid_document"},
		{knowledge.DocumentInput{Source: "kb", Text: "x", EmbeddingModel: "nope"}, adapters.KindNotFound, "embedding_model", "model_not_found"},
	} {
		_, err := rt.Knowledge().AddDocument(ctx, &exchange.Exchange{Principal: tenantA, Dialect: "test"}, tc.in)
		wantError(t, err, tc.kind, tc.code, tc.param)
	}

	d, err := rt.Knowledge().AddDocument(ctx, &exchange.Exchange{Principal: tenantA, Dialect: "test"}, knowledge.DocumentInput{Source: "handbook", Text: handbook, Format: "markdown"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.ID, "doc_") || d.Title != "Handbook" || d.Chunks != 4 || d.Source != "handbook" ||
		d.Format != state.FormatMarkdown || d.EmbeddingModel != "" || d.Tenant != tenantA.Tenant {
		t.Errorf("document = %+v", d)
	}
	if prov.embedCalls() != 0 {
		t.Error("embedded without an embedding model")
	}
	got, err := rt.Knowledge().GetDocument(ctx, tenantA, d.ID)
	if err != nil || got.ID != d.ID {
		t.Fatalf("GetDocument = %+v, %v", got, err)
	}
	list, err := rt.Knowledge().ListDocuments(ctx, tenantA, "handbook")
	if err != nil || len(list) != 1 {
		t.Fatalf("ListDocuments = %v, %v", list, err)
	}
	sources, err := rt.Knowledge().Sources(ctx, tenantA)
	if err != nil || len(sources) != 1 || sources[0].Name != "handbook" || sources[0].Chunks != 4 {
		t.Errorf("KnowledgeSources = %+v, %v", sources, err)
	}

	// Another tenant sees none of it, by id or by source.
	_, err = rt.Knowledge().GetDocument(ctx, tenantB, d.ID)
	wantError(t, err, adapters.KindNotFound, "document_not_found", "document_id")
	wantError(t, rt.Knowledge().DeleteDocument(ctx, tenantB, d.ID), adapters.KindNotFound, "document_not_found", "document_id")
	if list, _ := rt.Knowledge().ListDocuments(ctx, tenantB, ""); len(list) != 0 {
		t.Errorf("tenant-b lists %d documents", len(list))
	}
	hits, err := rt.Knowledge().Search(ctx, tenantB, "test", &adapters.Knowledge{Sources: []string{"handbook"}}, "refunds")
	if err != nil || len(hits) != 0 {
		t.Errorf("tenant-b retrieves %+v, %v", hits, err)
	}

	// Replacing by id keeps the creation time.
	d2, err := rt.Knowledge().AddDocument(ctx, &exchange.Exchange{Principal: tenantA, Dialect: "test"}, knowledge.DocumentInput{ID: d.ID, Source: "handbook", Title: "v2", Text: "Only this now."})
	if err != nil || d2.Chunks != 1 || !d2.Created.Equal(d.Created) || d2.Title != "v2" || d2.Format != state.FormatText {
		t.Errorf("replaced = %+v, %v", d2, err)
	}
	if err := rt.Knowledge().DeleteDocument(ctx, tenantA, d.ID); err != nil {
		t.Fatal(err)
	}
	wantError(t, rt.Knowledge().DeleteDocument(ctx, tenantA, d.ID), adapters.KindNotFound, "document_not_found", "document_id")
}

func knowledgeAgent(k adapters.Knowledge) *adapters.Agent {
	return &adapters.Agent{ID: "helper", Model: "m", SystemPrompt: "You are Acme's helper.", Knowledge: &k}
}

// chunkOf returns the id of the chunk of doc whose text contains s.
func chunkOf(t *testing.T, rt *Engine, p *adapters.Principal, source, s string) string {
	t.Helper()
	id := ""
	err := rt.Store().ScanChunks(context.Background(), p.Tenant, source, func(c *state.Chunk) error {
		if strings.Contains(c.Text, s) {
			id = c.ID
		}
		return nil
	})
	if err != nil || id == "" {
		t.Fatalf("no chunk holds %q (%v)", s, err)
	}
	return id
}

func TestRAGKeywordRetrieval(t *testing.T) {
	prov := &fakeEmbedder{fakeProvider: &fakeProvider{}}
	rt, _ := ragRuntime(t, prov, knowledge.RAGConfig{})
	ctx := context.Background()
	if _, err := rt.Knowledge().AddDocument(ctx, &exchange.Exchange{Principal: tenantA, Dialect: "test"}, knowledge.DocumentInput{Source: "handbook", Text: handbook, Format: "markdown"}); err != nil {
		t.Fatal(err)
	}
	refunds := chunkOf(t, rt, tenantA, "handbook", "Refunds are issued")
	prov.Script = [][]adapters.Event{reply("You have 30 days [" + refunds + "].")}
	res, err := rt.Run(ctx, nil, &adapters.Call{Principal: tenantA, Agent: knowledgeAgent(adapters.Knowledge{Sources: []string{"handbook", "missing"}, TopK: 2}),
		Messages: []adapters.Message{userMsg("How long do I have to get a refund?")}}, (&collect{}).emit)
	if err != nil {
		t.Fatal(err)
	}
	sys := prov.LastRequest(t).System
	if !strings.HasPrefix(sys, "You are Acme's helper.\n\n# Knowledge\n") ||
		!strings.Contains(sys, "["+refunds+"] Handbook — Handbook > Refunds\nRefunds are issued within 30 days") {
		t.Errorf("system prompt:\n%s", sys)
	}
	if len(res.Sources) == 0 || len(res.Sources) > 2 {
		t.Fatalf("Sources = %+v", res.Sources)
	}
	s := res.Sources[0]
	if s.ChunkID != refunds || s.Method != memory.MethodBM25 || s.Score <= 0 || s.Source != "handbook" ||
		s.Title != "Handbook" || s.Heading != "Handbook > Refunds" || !s.Cited || !strings.HasPrefix(s.DocumentID, "doc_") {
		t.Errorf("Sources[0] = %+v", s)
	}
	for _, other := range res.Sources[1:] {
		if other.Cited {
			t.Errorf("uncited source marked cited: %+v", other)
		}
	}
	if prov.embedCalls() != 0 {
		t.Error("keyword retrieval embedded the query")
	}

	// A message sharing no word with the knowledge retrieves nothing and
	// leaves the prompt alone.
	prov.Script = [][]adapters.Event{reply("Hi!")}
	res, err = rt.Run(ctx, nil, &adapters.Call{Principal: tenantA, Agent: knowledgeAgent(adapters.Knowledge{Sources: []string{"handbook"}}),
		Messages: []adapters.Message{userMsg("zebra quokka")}}, (&collect{}).emit)
	if err != nil || len(res.Sources) != 0 || prov.LastRequest(t).System != "You are Acme's helper." {
		t.Errorf("unrelated message: sources %+v, system %q, %v", res.Sources, prov.LastRequest(t).System, err)
	}
}

func TestRAGEmbeddingRetrieval(t *testing.T) {
	prov := &fakeEmbedder{fakeProvider: &fakeProvider{}}
	rt, store := ragRuntime(t, prov, knowledge.RAGConfig{EmbeddingModel: "emb"})
	ctx := context.Background()
	d, err := rt.Knowledge().AddDocument(ctx, &exchange.Exchange{Principal: tenantA, Dialect: "test"}, knowledge.DocumentInput{Source: "handbook", Text: handbook, Format: "markdown"})
	if err != nil {
		t.Fatal(err)
	}
	if d.EmbeddingModel != "emb" || prov.embedCalls() != 1 || len(prov.inputs[0]) != 4 {
		t.Fatalf("document %+v embedded in %d calls", d, prov.embedCalls())
	}
	var vectors int
	_ = store.ScanChunks(ctx, tenantA.Tenant, "handbook", func(c *state.Chunk) error {
		if len(c.Vector) == fakeDims && c.Model == "emb" {
			vectors++
		}
		return nil
	})
	if vectors != 4 {
		t.Fatalf("%d chunks stored with vectors", vectors)
	}
	shipping := chunkOf(t, rt, tenantA, "handbook", "Orders ship")
	prov.Script = [][]adapters.Event{reply("Two business days [" + shipping + "].")}
	call := &adapters.Call{Principal: tenantA, Dialect: "test", Agent: knowledgeAgent(adapters.Knowledge{Sources: []string{"handbook"}, TopK: 1}),
		Messages: []adapters.Message{userMsg("When do orders ship?")}}
	res, err := rt.Run(ctx, nil, call, (&collect{}).emit)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Sources) != 1 || res.Sources[0].ChunkID != shipping || res.Sources[0].Method != memory.MethodEmbedding ||
		res.Sources[0].Score <= 0 || res.Sources[0].Score > 1.0001 || !res.Sources[0].Cited {
		t.Errorf("Sources = %+v", res.Sources)
	}
	if prov.embedCalls() != 2 || prov.inputs[1][0] != "When do orders ship?" {
		t.Errorf("query embedding: %d calls, %q", prov.embedCalls(), prov.inputs)
	}
	// The embeddings are accounted: the document's to the caller, the
	// query's to the run.
	recs := usageOf(t, rt, tenantA.Tenant)
	var docRec, queryRec bool
	for _, r := range recs {
		if strings.HasPrefix(r.ID, "emb-") && r.Model == "emb" {
			if r.ParentID == res.RunID && r.AgentID == "helper" {
				queryRec = true
			} else if r.ParentID == "" {
				docRec = true
			}
		}
	}
	if !docRec || !queryRec {
		t.Errorf("embedding usage records: document %v, query %v (%+v)", docRec, queryRec, recs)
	}

	// An embedding failure falls back to keywords; the run goes on.
	prov.mu.Lock()
	prov.err = errors.New("embedder down")
	prov.mu.Unlock()
	res, err = rt.Run(ctx, nil, call, (&collect{}).emit)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Sources) != 1 || res.Sources[0].ChunkID != shipping || res.Sources[0].Method != memory.MethodBM25 {
		t.Errorf("fallback Sources = %+v", res.Sources)
	}
}

// TestRAGIndexFreshness checks that documents added, replaced and deleted
// change what the next run retrieves.
func TestRAGIndexFreshness(t *testing.T) {
	prov := &fakeEmbedder{fakeProvider: newFake(reply("ok")...)}
	rt, _ := ragRuntime(t, prov, knowledge.RAGConfig{})
	ctx := context.Background()
	k := &adapters.Knowledge{Sources: []string{"kb"}}
	search := func(q string) []string {
		hits, err := rt.Knowledge().Search(ctx, tenantA, "test", k, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hits {
			out = append(out, h.DocumentID)
		}
		return out
	}
	if got := search("walrus"); len(got) != 0 {
		t.Fatalf("empty source: %v", got)
	}
	d, err := rt.Knowledge().AddDocument(ctx, &exchange.Exchange{Principal: tenantA, Dialect: "test"}, knowledge.DocumentInput{ID: "doc_w", Source: "kb", Text: "The walrus lives in the Arctic."})
	if err != nil {
		t.Fatal(err)
	}
	if got := search("walrus"); len(got) != 1 || got[0] != d.ID {
		t.Fatalf("after add: %v", got)
	}
	if _, err := rt.Knowledge().AddDocument(ctx, &exchange.Exchange{Principal: tenantA, Dialect: "test"}, knowledge.DocumentInput{ID: "doc_w", Source: "kb", Text: "Penguins live in the Antarctic."}); err != nil {
		t.Fatal(err)
	}
	if got := search("walrus"); len(got) != 0 {
		t.Errorf("after replace, the old text is still found: %v", got)
	}
	if got := search("penguin"); len(got) != 1 {
		t.Errorf("after replace, the new text is not found: %v", got)
	}
	if err := rt.Knowledge().DeleteDocument(ctx, tenantA, "doc_w"); err != nil {
		t.Fatal(err)
	}
	if got := search("penguin"); len(got) != 0 {
		t.Errorf("after delete: %v", got)
	}
	// Another tenant's source of the same name is another source.
	if _, err := rt.Knowledge().AddDocument(ctx, &exchange.Exchange{Principal: tenantB, Dialect: "test"}, knowledge.DocumentInput{Source: "kb", Text: "Penguins of tenant B."}); err != nil {
		t.Fatal(err)
	}
	if got := search("penguin"); len(got) != 0 {
		t.Errorf("tenant-a retrieves tenant-b's document: %v", got)
	}
}

func TestRAGConfigErrors(t *testing.T) {
	_, err := New(Config{Store: openStore(t), Providers: map[string]adapters.Provider{"p": newFake(), "q": newFake()},
		Routes: []models.Route{{Pattern: "m", Provider: "p"}}, RAG: knowledge.RAGConfig{EmbeddingModel: "nope"}})
	if err == nil || !strings.Contains(err.Error(), "embedding_model") {
		t.Errorf("New with an unrouted embedding model = %v", err)
	}
}

// seedKnowledge stores n chunks (10 per document) of random words in
// tenantA's source "big", with dims-dimensional vectors when dims > 0.
func seedKnowledge(b testing.TB, store state.Store, n, dims int) {
	rng := rand.New(rand.NewPCG(3, 4))
	words := make([]string, 5000)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i)
	}
	for d := 0; d*10 < n; d++ {
		id := fmt.Sprintf("doc_%05d", d)
		doc := &state.Document{ID: id, Tenant: tenantA.Tenant, Source: "big", Title: id, Format: state.FormatText,
			Chunks: 10, Created: testClock, Updated: testClock}
		chunks := make([]state.Chunk, 10)
		for i := range chunks {
			var sb strings.Builder
			for range 150 {
				sb.WriteString(words[int(rng.ExpFloat64()*500)%len(words)])
				sb.WriteByte(' ')
			}
			c := state.Chunk{ID: fmt.Sprintf("%s#%d", id, i+1), DocID: id, Seq: i + 1, Title: id, Text: sb.String()}
			if dims > 0 {
				c.Model, c.Vector = "emb", make([]float32, dims)
				for j := range c.Vector {
					c.Vector[j] = rng.Float32() - 0.5
				}
			}
			chunks[i] = c
		}
		if dims > 0 {
			doc.EmbeddingModel = "emb"
		}
		if err := store.PutDocument(context.Background(), doc, chunks); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRetrieval measures a run's retrieval (revision check, query
// embedding through the router, ranking, top 4) over 10k chunks.
func benchRetrieval(b *testing.B, dims int) {
	store, err := bbolt.Open(b.TempDir()+"/bench.db", bbolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	seedKnowledge(b, store, 10_000, dims)
	prov := &constEmbedder{dims: dims}
	rt, err := New(Config{Store: store, Providers: map[string]adapters.Provider{"p": prov},
		Routes: []models.Route{{Pattern: "emb", Provider: "p"}}, UsageFlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	k := &adapters.Knowledge{Sources: []string{"big"}, TopK: 4}
	ctx := context.Background()
	if _, err := rt.Knowledge().Search(ctx, tenantA, "bench", k, "warm up w1"); err != nil { // builds the index
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		hits, err := rt.Knowledge().Search(ctx, tenantA, "bench", k, "how does w3 relate to w42 and w777")
		if err != nil || len(hits) != 4 {
			b.Fatalf("%d hits, %v", len(hits), err)
		}
	}
}

// constEmbedder embeds every input as the same vector, at no cost.
type constEmbedder struct{ dims int }

func (constEmbedder) Chat(context.Context, *adapters.Request, adapters.Emit) error { return nil }

func (c *constEmbedder) Embed(_ context.Context, _ string, inputs []string) ([][]float32, adapters.Usage, error) {
	out := make([][]float32, len(inputs))
	for i := range out {
		v := make([]float32, c.dims)
		for j := range v {
			v[j] = float32(j%7) - 3
		}
		out[i] = v
	}
	return out, adapters.Usage{InputTokens: 1}, nil
}

func BenchmarkRetrieval10kChunksBM25(b *testing.B)          { benchRetrieval(b, 0) }
func BenchmarkRetrieval10kChunksEmbeddings768(b *testing.B) { benchRetrieval(b, 768) }

func TestValidateGuardrailsAndKnowledge(t *testing.T) {
	prov := &fakeEmbedder{fakeProvider: newFake()}
	rt, _ := ragRuntime(t, prov, knowledge.RAGConfig{})
	for _, tc := range []struct {
		agent adapters.Agent
		param string // "" for valid
	}{
		{adapters.Agent{}, ""},
		{adapters.Agent{Knowledge: &adapters.Knowledge{Sources: []string{"a", "b"}, TopK: 8, MinScore: 0.3, EmbeddingModel: "emb"}}, ""},
		{adapters.Agent{Knowledge: &adapters.Knowledge{Sources: []string{"a", ""}}}, "knowledge.sources[1]"},
		{adapters.Agent{Knowledge: &adapters.Knowledge{TopK: knowledge.MaxTopK + 1}}, "knowledge.top_k"},
		{adapters.Agent{Knowledge: &adapters.Knowledge{MinScore: -1}}, "knowledge.min_score"},
		{adapters.Agent{Knowledge: &adapters.Knowledge{EmbeddingModel: "nope"}}, "knowledge.embedding_model"},
		{adapters.Agent{Guardrails: &adapters.Guardrails{RedactPatterns: []adapters.GuardRule{{Name: "x", Pattern: "[z-a]"}}}}, "guardrails.redact_patterns[0].pattern"},
	} {
		err := rt.ValidateGuardrailsAndKnowledge(&tc.agent)
		if tc.param == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.agent, err)
			}
			continue
		}
		if e := adapters.AsError(err); e == nil || e.Param != tc.param || e.Status() != 400 {
			t.Errorf("%+v: error %v, want a 400 naming %s", tc.agent, err, tc.param)
		}
	}
	_, err := New(Config{Store: openStore(t), Providers: map[string]adapters.Provider{"p": prov},
		Agents: []*adapters.Agent{{ID: "declared", Model: "m", Knowledge: &adapters.Knowledge{TopK: -1}}}})
	if err == nil || !strings.Contains(err.Error(), "knowledge.top_k") {
		t.Errorf("New with a declared agent's bad knowledge = %v", err)
	}
}

// TestRAGSharesMemoryEmbeddingModel: without a RAG embedding model,
// documents are embedded with long-term memory's.
func TestRAGSharesMemoryEmbeddingModel(t *testing.T) {
	prov := &fakeEmbedder{fakeProvider: newFake(reply("ok")...)}
	rt, _ := newTestRuntime(t, Config{Providers: map[string]adapters.Provider{"p": prov, "other": newFake()},
		Routes: []models.Route{{Pattern: "emb", Provider: "p"}}, Memory: memory.Options{EmbeddingModel: "emb"}})
	d, err := rt.Knowledge().AddDocument(context.Background(), &exchange.Exchange{Principal: tenantA, Dialect: "test"}, knowledge.DocumentInput{Source: "kb", Text: "Walruses are large."})
	if err != nil {
		t.Fatal(err)
	}
	if d.EmbeddingModel != "emb" || prov.embedCalls() != 1 {
		t.Errorf("document %+v, %d embedding calls", d, prov.embedCalls())
	}
}
