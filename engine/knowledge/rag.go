package knowledge

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
	"github.com/agentgate/agentgate/engine/knowledge/memory"
	"github.com/agentgate/agentgate/engine/knowledge/rag"
	"github.com/agentgate/agentgate/engine/models"
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

// ragState is the knowledge retrieval of a Knowledge: its settings and the
// in-memory indexes of the sources in use.
type ragState struct {
	cfg   RAGConfig
	mu    sync.Mutex
	cache *lru.Cache[string, *sourceIndex]
}

func newRAGState(config *Config, router *models.Router) (*ragState, error) {
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
func (k *Knowledge) AddDocument(ctx context.Context, p *adapters.Principal, in DocumentInput) (*state.Document, error) {
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
	if chars > k.rag.cfg.MaxDocumentChars {
		return nil, &adapters.Error{Kind: adapters.KindTooLarge, Code: "document_too_large", Param: "text",
			Message: "text: the document has " + strconv.Itoa(chars) + " characters, more than the " + strconv.Itoa(k.rag.cfg.MaxDocumentChars) + " allowed"}
	}
	pieces := rag.Split(in.Text, rag.Options{Size: k.rag.cfg.ChunkChars, Overlap: k.rag.cfg.ChunkOverlap, Markdown: format == state.FormatMarkdown})
	if len(pieces) == 0 {
		return nil, badDocument("text", "has no content")
	}
	model := k.rag.cfg.EmbeddingModel
	if in.EmbeddingModel != "" {
		if err := k.tiers.CheckModel(p, in.EmbeddingModel); err != nil {
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
	now := k.now()
	id := in.ID
	created := now
	if id == "" {
		id = adapters.NewID("doc_")
	} else if prev, err := k.store.GetDocument(ctx, p.Tenant, id); err == nil {
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
			vecs, _, err := k.models.Embed(ctx, &models.Embedding{Account: models.Account{Principal: p, Dialect: in.Dialect},
				Model: model, Inputs: inputs})
			if err != nil {
				return nil, err
			}
			for i := range batch {
				batch[i].Vector = vecs[i]
			}
		}
	}
	if err := k.store.PutDocument(ctx, d, chunks); err != nil {
		return nil, err
	}
	return d, nil
}

// MaxTopK bounds Knowledge.TopK.
const MaxTopK = 50

// Validate checks an agent's knowledge settings, its embedding model
// against router: nil, or a 400 naming the field (knowledge.sources[1],
// knowledge.embedding_model, …).
func Validate(k *adapters.Knowledge, router *models.Router) error {
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
		if _, _, ok := router.Resolve(k.EmbeddingModel, ""); !ok {
			return bad("embedding_model", "no provider serves model %s", adapters.Quote(k.EmbeddingModel))
		}
	}
	return nil
}

// documentNotFound is the error of an unknown document id.
func documentNotFound(id string) *adapters.Error {
	return &adapters.Error{Kind: adapters.KindNotFound, Code: "document_not_found", Param: "document_id",
		Message: "document " + adapters.Quote(id) + " not found"}
}

// GetDocument returns p's tenant's document id (404 when none).
func (k *Knowledge) GetDocument(ctx context.Context, p *adapters.Principal, id string) (*state.Document, error) {
	d, err := k.store.GetDocument(ctx, p.Tenant, id)
	if errors.Is(err, state.ErrNotFound) {
		return nil, documentNotFound(id)
	}
	return d, err
}

// ListDocuments returns p's tenant's documents of source (of every source
// when empty), oldest first.
func (k *Knowledge) ListDocuments(ctx context.Context, p *adapters.Principal, source string) ([]*state.Document, error) {
	return k.store.ListDocuments(ctx, p.Tenant, source)
}

// DeleteDocument removes p's tenant's document id and its chunks (404
// when none).
func (k *Knowledge) DeleteDocument(ctx context.Context, p *adapters.Principal, id string) error {
	err := k.store.DeleteDocument(ctx, p.Tenant, id, k.now())
	if errors.Is(err, state.ErrNotFound) {
		return documentNotFound(id)
	}
	return err
}

// Sources lists p's tenant's knowledge sources that hold documents.
func (kn *Knowledge) Sources(ctx context.Context, p *adapters.Principal) ([]state.SourceInfo, error) {
	return kn.store.ListSources(ctx, p.Tenant)
}

// Search returns the chunks of p's tenant's sources k names that best
// match query, best first, as a run would retrieve them.
func (kn *Knowledge) Search(ctx context.Context, p *adapters.Principal, dialect string, k *adapters.Knowledge, query string) ([]adapters.Source, error) {
	return kn.retrieve(ctx, p, dialect, "", "", k, query)
}

// retrieve ranks the chunks of k's sources for query. The query is
// embedded with k's model, else the model most of the sources' chunks
// were embedded with; when embedding fails, retrieval falls back to
// keywords rather than failing the run.
func (kn *Knowledge) retrieve(ctx context.Context, p *adapters.Principal, dialect, agentID, runID string, k *adapters.Knowledge, query string) ([]adapters.Source, error) {
	topK := k.TopK
	if topK <= 0 {
		topK = kn.rag.cfg.TopK
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
		snap, err := kn.rag.snapshot(ctx, kn.store, p.Tenant, name)
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
		ectx, cancel := context.WithTimeout(ctx, kn.rag.cfg.EmbedTimeout)
		vecs, _, err := kn.models.Embed(ectx, &models.Embedding{Account: models.Account{Principal: p, Dialect: dialect, AgentID: agentID,
			ParentID: runID}, Model: model, Inputs: []string{query}})
		cancel()
		switch {
		case err != nil:
			kn.log.Warn("embedding a knowledge query failed; ranking by keywords", zap.String("model", model), zap.Error(err))
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
	out := make([]adapters.Source, 0, len(all))
	for _, r := range all {
		c := r.snap.chunks[r.id]
		if c == nil {
			continue
		}
		out = append(out, adapters.Source{DocumentID: c.DocID, ChunkID: c.ID, Source: r.src, Title: c.Title, Heading: c.Heading,
			Text: c.Text, Score: r.score, Method: r.method})
	}
	return out, nil
}

// Retrieve returns the knowledge section of call's system prompt (the
// chunks of its agent's sources retrieved for the caller's last message)
// and the chunks it holds; nothing when the agent attaches no source or
// the message has no text.
func (kn *Knowledge) Retrieve(ctx context.Context, call *adapters.Call, runID string) (string, []adapters.Source, error) {
	k := call.Agent.Knowledge
	if k == nil || len(k.Sources) == 0 {
		return "", nil, nil
	}
	query := strings.TrimSpace(lastUserText(call.Messages))
	if query == "" {
		return "", nil, nil
	}
	ctx, span := startRetrieval(ctx, k.Sources)
	hits, err := kn.retrieve(ctx, call.Principal, call.Dialect, call.Agent.ID, runID, k, query)
	if err != nil {
		endFound(span, 0, err)
		return "", nil, err
	}
	excerpts := make([]rag.Excerpt, len(hits))
	for i, h := range hits {
		excerpts[i] = rag.Excerpt{ID: h.ChunkID, Title: h.Title, Heading: h.Heading, Text: h.Text}
	}
	section, n := rag.Section(excerpts, kn.rag.cfg.MaxContextChars)
	endFound(span, n, nil)
	return section, hits[:n], nil
}

// Cite marks the sources an answer's text cites.
func Cite(sources []adapters.Source, text string) {
	for i := range sources {
		sources[i].Cited = strings.Contains(text, sources[i].ChunkID)
	}
}
