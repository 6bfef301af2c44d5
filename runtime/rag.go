package runtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.uber.org/zap"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/runtime/memory"
	"github.com/agentgate/agentgate/runtime/rag"
	"github.com/agentgate/agentgate/state"
)

// RAGConfig configures knowledge retrieval (RAG). The zero value works:
// documents are chunked with the defaults below and ranked by keywords
// (BM25) unless they are embedded.
type RAGConfig struct {
	// EmbeddingModel embeds documents added without a model of their own
	// (and so the queries against them), routed like any model; empty
	// means long-term memory's embedding model (Config.Memory), and
	// without one no embeddings: keyword ranking.
	EmbeddingModel string
	// EmbedTimeout bounds the embedding of a run's knowledge query, on
	// the request path; past it retrieval ranks by keywords. Default 5s.
	EmbedTimeout time.Duration
	// ChunkChars and ChunkOverlap size the chunks documents are cut into
	// (characters); 0 means rag.DefaultChunkChars and
	// rag.DefaultChunkOverlap.
	ChunkChars   int
	ChunkOverlap int
	// TopK is how many chunks a run retrieves when its agent does not
	// say; 0 means DefaultTopK.
	TopK int
	// MaxContextChars bounds the knowledge section of a system prompt; 0
	// means DefaultMaxContextChars.
	MaxContextChars int
	// MaxDocumentChars bounds a document's text; 0 means
	// DefaultMaxDocumentChars.
	MaxDocumentChars int
	// CachedSources bounds the knowledge sources whose index is kept in
	// memory; 0 means 256.
	CachedSources int
}

// RAG defaults.
const (
	DefaultTopK             = 4
	DefaultMaxContextChars  = 8000
	DefaultMaxDocumentChars = 2 << 20
	// embedBatch is how many chunks one embedding request carries.
	embedBatch = 64
	maxIDLen   = 128
)

// Source is a knowledge chunk a run retrieved into its context, which
// the model may cite by its id, [ChunkID]. Dialects report them as
// annotations or metadata.
type Source struct {
	DocumentID string `json:"document_id"`
	ChunkID    string `json:"chunk_id"`
	// Source is the knowledge source the document belongs to.
	Source  string `json:"source"`
	Title   string `json:"title,omitempty"`
	Heading string `json:"heading,omitempty"`
	Text    string `json:"text"`
	// Score is the chunk's rank score: cosine similarity, BM25 or the
	// reciprocal-rank fusion of both, as Method says.
	Score  float64 `json:"score"`
	Method string  `json:"method"`
	// Cited marks chunks the answer cites by id.
	Cited bool `json:"cited,omitempty"`
}

// DocumentInput is a document to add to a knowledge source.
type DocumentInput struct {
	// ID, when set, names the document (replacing the tenant's document
	// of that id); empty means a new "doc_…" id.
	ID     string
	Source string
	Title  string
	Text   string
	// Format is "text" (default) or "markdown" (split at headings).
	Format string
	// EmbeddingModel, when set, embeds the chunks with this model instead
	// of the configured one (it must be one the caller's tier may call).
	EmbeddingModel string
	Metadata       map[string]string
	// Dialect names the API the document came through, for usage records.
	Dialect string
}

// ragState is a runtime's knowledge retrieval: its settings and the
// in-memory indexes of the sources in use.
type ragState struct {
	cfg   RAGConfig
	mu    sync.Mutex
	cache *lru.Cache[string, *sourceIndex]
}

func newRAGState(config *Config, router *Router) (*ragState, error) {
	cfg := config.RAG
	if m := cfg.EmbeddingModel; m != "" {
		if _, _, ok := router.Resolve(m, ""); !ok {
			return nil, fmt.Errorf("rag embedding_model: no provider serves model %q", m)
		}
	} else {
		cfg.EmbeddingModel = config.Memory.EmbeddingModel // one embedding model for memories and knowledge
	}
	if cfg.EmbedTimeout <= 0 {
		cfg.EmbedTimeout = 5 * time.Second
	}
	if cfg.TopK <= 0 {
		cfg.TopK = DefaultTopK
	}
	if cfg.MaxContextChars <= 0 {
		cfg.MaxContextChars = DefaultMaxContextChars
	}
	if cfg.MaxDocumentChars <= 0 {
		cfg.MaxDocumentChars = DefaultMaxDocumentChars
	}
	if cfg.CachedSources <= 0 {
		cfg.CachedSources = 256
	}
	c, err := lru.New[string, *sourceIndex](cfg.CachedSources)
	if err != nil {
		return nil, err
	}
	return &ragState{cfg: cfg, cache: c}, nil
}

// sourceIndex is the index of one tenant's source at one revision,
// rebuilt when the store's revision moves.
type sourceIndex struct {
	mu   sync.Mutex
	snap *sourceSnapshot
}

// sourceSnapshot is immutable once built. Chunks are ranked by the
// memory subsystem's recall index (one retrieval engine for memories and
// knowledge), as items whose content is the chunk's index text.
type sourceSnapshot struct {
	rev    uint64
	idx    *memory.Index
	chunks map[string]*state.Chunk
	// models are the chunks' embedding models, the most used first.
	models []string
}

// snapshot returns the current index of tenant's source.
func (r *ragState) snapshot(ctx context.Context, store state.Store, tenant, source string) (*sourceSnapshot, error) {
	key := tenant + "\x00" + source
	r.mu.Lock()
	si, ok := r.cache.Get(key)
	if !ok {
		si = &sourceIndex{}
		r.cache.Add(key, si)
	}
	r.mu.Unlock()
	rev, err := store.SourceRevision(ctx, tenant, source)
	if err != nil {
		return nil, err
	}
	si.mu.Lock()
	defer si.mu.Unlock()
	if si.snap != nil && si.snap.rev == rev {
		return si.snap, nil
	}
	snap := &sourceSnapshot{rev: rev, idx: memory.NewIndex(), chunks: map[string]*state.Chunk{}}
	var items []*state.Memory
	counts := map[string]int{}
	err = store.ScanChunks(ctx, tenant, source, func(c *state.Chunk) error {
		items = append(items, &state.Memory{ID: c.ID, Tenant: tenant, AgentID: source, Kind: state.MemorySemantic,
			Content: indexText(c.Title, c.Heading, c.Text), Source: "knowledge", EmbeddingModel: c.Model, Embedding: c.Vector})
		if c.Model != "" && len(c.Vector) > 0 {
			counts[c.Model]++
		}
		c.Vector = nil // the index keeps its own copy
		snap.chunks[c.ID] = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	snap.idx.Add(items...)
	for m := range counts {
		snap.models = append(snap.models, m)
	}
	slices.SortFunc(snap.models, func(a, b string) int { return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b)) })
	// A write between reading the revision and scanning makes this
	// snapshot newer than rev: the next call rebuilds it, harmlessly.
	si.snap = snap
	return snap, nil
}

// indexText is what a chunk is ranked and embedded by: its document's
// title and its heading path give context its text may lack.
func indexText(title, heading, text string) string {
	var parts []string
	for _, s := range []string{title, heading, text} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "\n")
}

func badDocument(field, format string, args ...any) *adapters.Error {
	e := adapters.BadField(field, format, args...)
	e.Code = "invalid_document"
	return e
}

// checkName checks an id or source name a client chose.
func checkName(field, s string) error {
	if problem := nameProblem(s); problem != "" {
		return badDocument(field, "%s", problem)
	}
	return nil
}

func nameProblem(s string) string {
	if s == "" {
		return "is required"
	}
	if len(s) > maxIDLen {
		return "is longer than " + strconv.Itoa(maxIDLen) + " bytes"
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return "contains a control character or invalid UTF-8"
		}
	}
	return ""
}

// AddDocument adds a document to p's tenant's knowledge source: it is cut
// into chunks, embedded (with in.EmbeddingModel, else the configured
// model, else not at all) and stored; agents attaching the source
// retrieve from it from the next call on. A document with in.ID replaces
// the tenant's document of that id.
func (rt *Runtime) AddDocument(ctx context.Context, p *adapters.Principal, in DocumentInput) (*state.Document, error) {
	if err := checkName("source", in.Source); err != nil {
		return nil, err
	}
	if in.ID != "" {
		if err := checkName("id", in.ID); err != nil {
			return nil, err
		}
	}
	format := in.Format
	switch format {
	case "", state.FormatText:
		format = state.FormatText
	case state.FormatMarkdown, "md":
		format = state.FormatMarkdown
	default:
		return nil, badDocument("format", "is %q; want text or markdown", in.Format)
	}
	if !utf8.ValidString(in.Text) {
		return nil, badDocument("text", "is not valid UTF-8")
	}
	chars := utf8.RuneCountInString(in.Text)
	if chars > rt.rag.cfg.MaxDocumentChars {
		return nil, &adapters.Error{Kind: adapters.KindTooLarge, Code: "document_too_large", Param: "text",
			Message: "text: the document has " + strconv.Itoa(chars) + " characters, more than the " + strconv.Itoa(rt.rag.cfg.MaxDocumentChars) + " allowed"}
	}
	pieces := rag.Split(in.Text, rag.Options{Size: rt.rag.cfg.ChunkChars, Overlap: rt.rag.cfg.ChunkOverlap, Markdown: format == state.FormatMarkdown})
	if len(pieces) == 0 {
		return nil, badDocument("text", "has no content")
	}
	model := rt.rag.cfg.EmbeddingModel
	if in.EmbeddingModel != "" {
		if err := rt.checkModelAllowed(p, in.EmbeddingModel); err != nil {
			return nil, err
		}
		model = in.EmbeddingModel
	}
	title := in.Title
	if title == "" && format == state.FormatMarkdown {
		title = pieces[0].Heading
		if i := strings.Index(title, " > "); i >= 0 {
			title = title[:i]
		}
	}
	now := rt.now()
	id := in.ID
	created := now
	if id == "" {
		id = NewID("doc_")
	} else if prev, err := rt.store.GetDocument(ctx, p.Tenant, id); err == nil {
		created = prev.Created
	} else if !errors.Is(err, state.ErrNotFound) {
		return nil, err
	}
	d := &state.Document{ID: id, Tenant: p.Tenant, Source: in.Source, Title: title, Format: format, Chars: chars,
		Chunks: len(pieces), EmbeddingModel: model, Metadata: in.Metadata, Created: created, Updated: now}
	chunks := make([]state.Chunk, len(pieces))
	for i, pc := range pieces {
		chunks[i] = state.Chunk{ID: id + "#" + strconv.Itoa(i+1), DocID: id, Seq: i + 1, Title: title, Heading: pc.Heading, Text: pc.Text, Model: model}
	}
	if model != "" {
		for lo := 0; lo < len(chunks); lo += embedBatch {
			batch := chunks[lo:min(lo+embedBatch, len(chunks))]
			inputs := make([]string, len(batch))
			for i := range batch {
				inputs[i] = indexText(batch[i].Title, batch[i].Heading, batch[i].Text)
			}
			vecs, err := rt.embedFor(ctx, p, in.Dialect, "", "", model, inputs)
			if err != nil {
				return nil, err
			}
			if len(vecs) != len(batch) {
				return nil, &adapters.Error{Kind: adapters.KindUpstream, Code: "upstream_error", Param: "embedding_model",
					Message: "embedding model " + quote(model) + " returned " + strconv.Itoa(len(vecs)) + " vectors for " + strconv.Itoa(len(batch)) + " inputs"}
			}
			for i := range batch {
				batch[i].Vector = vecs[i]
			}
		}
	}
	if err := rt.store.PutDocument(ctx, d, chunks); err != nil {
		return nil, err
	}
	return d, nil
}

// MaxTopK bounds Knowledge.TopK.
const MaxTopK = 50

// ValidateGuardrailsAndKnowledge checks an agent's guardrails and
// knowledge settings as a dialect would set them on an agent it creates
// or updates (the runtime checks declared agents itself): nil, or a 400
// naming the field (guardrails.deny_patterns[0].pattern,
// knowledge.sources[1], knowledge.embedding_model, …).
func (rt *Runtime) ValidateGuardrailsAndKnowledge(a *adapters.Agent) error {
	if err := ValidateGuardrails(a.Guardrails); err != nil {
		return err
	}
	k := a.Knowledge
	if k == nil {
		return nil
	}
	bad := func(field, format string, args ...any) error {
		e := adapters.BadField("knowledge."+field, format, args...)
		e.Code = "invalid_knowledge"
		return e
	}
	for i, s := range k.Sources {
		if problem := nameProblem(s); problem != "" {
			return bad("sources["+strconv.Itoa(i)+"]", "%s", problem)
		}
	}
	if k.TopK < 0 || k.TopK > MaxTopK {
		return bad("top_k", "is %d; want 0 (the default) to %d", k.TopK, MaxTopK)
	}
	if k.MinScore < 0 {
		return bad("min_score", "must not be negative")
	}
	if k.EmbeddingModel != "" {
		if _, _, ok := rt.router.Resolve(k.EmbeddingModel, ""); !ok {
			return bad("embedding_model", "no provider serves model %s", quote(k.EmbeddingModel))
		}
	}
	return nil
}

// documentNotFound is the error of an unknown document id.
func documentNotFound(id string) *adapters.Error {
	return &adapters.Error{Kind: adapters.KindNotFound, Code: "document_not_found", Param: "document_id",
		Message: "document " + quote(id) + " not found"}
}

// GetDocument returns p's tenant's document id (404 when none).
func (rt *Runtime) GetDocument(ctx context.Context, p *adapters.Principal, id string) (*state.Document, error) {
	d, err := rt.store.GetDocument(ctx, p.Tenant, id)
	if errors.Is(err, state.ErrNotFound) {
		return nil, documentNotFound(id)
	}
	return d, err
}

// ListDocuments returns p's tenant's documents of source (of every source
// when empty), oldest first.
func (rt *Runtime) ListDocuments(ctx context.Context, p *adapters.Principal, source string) ([]*state.Document, error) {
	return rt.store.ListDocuments(ctx, p.Tenant, source)
}

// DeleteDocument removes p's tenant's document id and its chunks (404
// when none).
func (rt *Runtime) DeleteDocument(ctx context.Context, p *adapters.Principal, id string) error {
	err := rt.store.DeleteDocument(ctx, p.Tenant, id, rt.now())
	if errors.Is(err, state.ErrNotFound) {
		return documentNotFound(id)
	}
	return err
}

// KnowledgeSources lists p's tenant's knowledge sources that hold
// documents.
func (rt *Runtime) KnowledgeSources(ctx context.Context, p *adapters.Principal) ([]state.SourceInfo, error) {
	return rt.store.ListSources(ctx, p.Tenant)
}

// SearchKnowledge returns the chunks of p's tenant's sources k names that
// best match query, best first, as a run would retrieve them.
func (rt *Runtime) SearchKnowledge(ctx context.Context, p *adapters.Principal, dialect string, k *adapters.Knowledge, query string) ([]Source, error) {
	return rt.retrieve(ctx, p, dialect, "", "", k, query)
}

// retrieve ranks the chunks of k's sources for query. The query is
// embedded with k's model, else the model most of the sources' chunks
// were embedded with; when embedding fails, retrieval falls back to
// keywords rather than failing the run.
func (rt *Runtime) retrieve(ctx context.Context, p *adapters.Principal, dialect, agentID, runID string, k *adapters.Knowledge, query string) ([]Source, error) {
	topK := k.TopK
	if topK <= 0 {
		topK = rt.rag.cfg.TopK
	}
	type src struct {
		name string
		snap *sourceSnapshot
	}
	var srcs []src
	seen := map[string]bool{}
	for _, name := range k.Sources {
		if seen[name] || nameProblem(name) != "" {
			continue
		}
		seen[name] = true
		snap, err := rt.rag.snapshot(ctx, rt.store, p.Tenant, name)
		if err != nil {
			return nil, err
		}
		if len(snap.chunks) > 0 {
			srcs = append(srcs, src{name, snap})
		}
	}
	if len(srcs) == 0 {
		return nil, nil
	}
	model := k.EmbeddingModel
	if model == "" {
		for _, s := range srcs {
			if len(s.snap.models) > 0 {
				model = s.snap.models[0]
				break
			}
		}
	}
	var qv []float32
	if model != "" {
		ectx, cancel := context.WithTimeout(ctx, rt.rag.cfg.EmbedTimeout)
		vecs, err := rt.embedFor(ectx, p, dialect, agentID, runID, model, []string{query})
		cancel()
		switch {
		case err != nil:
			rt.log.Warn("embedding a knowledge query failed; ranking by keywords", zap.String("model", model), zap.Error(err))
		case len(vecs) == 1:
			qv = vecs[0]
		}
	}
	type ranked struct {
		id     string
		score  float64
		method string
		src    string
		snap   *sourceSnapshot
		rank   int
	}
	var all []ranked
	methods := map[string]bool{}
	for _, s := range srcs {
		hits := s.snap.idx.Search(memory.Query{Text: query, Vector: qv, Model: model, K: topK, MinSimilarity: k.MinScore})
		rank := 0
		for _, h := range hits {
			if h.Score < k.MinScore {
				continue // BM25 and fused scores are bounded here too
			}
			all = append(all, ranked{h.Item.ID, h.Score, h.Method, s.name, s.snap, rank})
			methods[h.Method] = true
			rank++
		}
	}
	if len(methods) > 1 {
		// Scores of different methods do not compare: merge by rank.
		for i := range all {
			all[i].score = 1 / float64(60+all[i].rank+1)
		}
	}
	slices.SortStableFunc(all, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.id, b.id))
	})
	if len(all) > topK {
		all = all[:topK]
	}
	out := make([]Source, 0, len(all))
	for _, r := range all {
		c := r.snap.chunks[r.id]
		if c == nil {
			continue
		}
		out = append(out, Source{DocumentID: c.DocID, ChunkID: c.ID, Source: r.src, Title: c.Title, Heading: c.Heading,
			Text: c.Text, Score: r.score, Method: r.method})
	}
	return out, nil
}

// augmentRequest adds to req's system prompt what the agent's
// configuration contributes beyond its prompt: the knowledge section
// (the chunks retrieved for the caller's last message, which it returns)
// and the output schema's instruction.
func (rt *Runtime) augmentRequest(ctx context.Context, call *adapters.Call, req *adapters.Request, runID string) ([]Source, error) {
	var sources []Source
	if k := call.Agent.Knowledge; k != nil && len(k.Sources) > 0 {
		if query := strings.TrimSpace(lastUserText(call.Messages)); query != "" {
			hits, err := rt.retrieve(ctx, call.Principal, call.Dialect, call.Agent.ID, runID, k, query)
			if err != nil {
				return nil, err
			}
			excerpts := make([]rag.Excerpt, len(hits))
			for i, h := range hits {
				excerpts[i] = rag.Excerpt{ID: h.ChunkID, Title: h.Title, Heading: h.Heading, Text: h.Text}
			}
			section, n := rag.Section(excerpts, rt.rag.cfg.MaxContextChars)
			sources = hits[:n]
			req.System = appendSection(req.System, section)
		}
	}
	if g := call.Agent.Guardrails; g != nil && len(g.OutputJSONSchema) > 0 {
		cg, err := compileGuard(g)
		if err != nil {
			return nil, err
		}
		if cg != nil && cg.Schema != nil {
			req.System = appendSection(req.System, schemaInstruction(cg.SchemaJSON))
		}
	}
	return sources, nil
}

func appendSection(system, section string) string {
	switch {
	case section == "":
		return system
	case system == "":
		return section
	default:
		return system + "\n\n" + section
	}
}

// citeSources marks the sources res's answer cites.
func citeSources(res *Result) {
	for i := range res.Sources {
		res.Sources[i].Cited = strings.Contains(res.Text, res.Sources[i].ChunkID)
	}
}

// embedFor computes embeddings for the runtime's own use (documents,
// knowledge queries): routed like any model call (as memory's are: the
// single-provider fallback included) and accounted to p (linked to the
// run when runID is set), without the tier's model list, which bounds
// what keys call directly.
func (rt *Runtime) embedFor(ctx context.Context, p *adapters.Principal, dialect, agentID, runID, model string, inputs []string) ([][]float32, error) {
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
	at := rt.now()
	latency := at.Sub(t0)
	status := "ok"
	if err != nil {
		status = errorCode(ctx, err, nil)
	}
	cost := rt.cost(usage, 0, upstream)
	rt.recorder.Record(state.UsageRecord{
		ID: NewID("emb-"), ParentID: runID, Time: at, Tenant: p.Tenant, KeyID: p.KeyID, Dialect: dialect, AgentID: agentID,
		Model: upstream, Provider: provider, InputTokens: usage.InputTokens, Estimated: usage.Estimated,
		LatencyMs: latency.Milliseconds(), Status: status, Cost: cost,
	})
	errCode := ""
	if err != nil {
		errCode = status
	}
	MeterFrom(ctx).recordCall(agentID, upstream, provider, usage, cost, 0, latency, errCode, at)
	return vecs, err
}
