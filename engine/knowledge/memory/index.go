package memory

import (
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/agentgate/agentgate/state"
)

// Index is an in-memory retrieval index over memory items (or any items
// kept as state.Memory: kind, content, embedding, metadata). It ranks them
// for a query by cosine similarity of embeddings where the query and the
// items have vectors of the same model, by BM25 keyword ranking where
// they do not, and by reciprocal-rank fusion of both when only some items
// have vectors. It does no I/O: its owner fills it and keeps it fresh.
//
// Vectors are kept normalized in one contiguous arena per embedding model
// and dimension, so a search is a linear scan of dot products over memory
// laid out for it, split across CPUs when it is large. Items are shared
// with callers and must not be changed.
//
// An Index is safe for concurrent use: searches share a read lock.
type Index struct {
	mu       sync.RWMutex
	slots    []slot
	byID     map[string]int32
	live     int
	dead     int
	postings map[string][]posting
	df       map[string]int32 // live items holding each term
	totalLen int64
	arenas   map[vecKey]*arena
}

type slot struct {
	item   *state.Memory
	terms  []termFreq
	length int32
	arena  *arena
	row    int32
	live   bool
}

type termFreq struct {
	term string
	tf   int32
}

type posting struct {
	slot int32
	tf   int32
}

type vecKey struct {
	model string
	dim   int
}

// arena holds the normalized vectors of one model and dimension, row by
// row, and the slot each row belongs to.
type arena struct {
	dim   int
	data  []float32
	owner []int32
}

func (a *arena) rows() int { return len(a.owner) }

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{byID: map[string]int32{}, postings: map[string][]posting{}, df: map[string]int32{}, arenas: map[vecKey]*arena{}}
}

// Len is the number of items indexed.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.live
}

// Get returns the item id, if indexed.
func (x *Index) Get(id string) (*state.Memory, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	s, ok := x.byID[id]
	if !ok {
		return nil, false
	}
	return x.slots[s].item, true
}

// Add indexes items, each replacing an indexed item with the same id. The
// index keeps its own normalized copy of their embeddings; the items it
// keeps (and hands out) have none.
func (x *Index) Add(items ...*state.Memory) {
	prep := make([]prepared, len(items))
	// Tokenizing and measuring vectors is most of an agent's first load
	// (100k memories): split it across CPUs when the batch is large.
	workers := min(runtime.GOMAXPROCS(0), max(1, len(items)/prepareParallelMin))
	if workers == 1 {
		prepare(items, prep)
	} else {
		var wg sync.WaitGroup
		per := (len(items) + workers - 1) / workers
		for lo := 0; lo < len(items); lo += per {
			hi := min(lo+per, len(items))
			wg.Go(func() { prepare(items[lo:hi], prep[lo:hi]) })
		}
		wg.Wait()
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	// Grow the slots and arenas once for the batch: an agent's memories
	// load in one call, and growing a large arena step by step copies it
	// over and over.
	x.slots = slices.Grow(x.slots, len(prep))
	need := map[vecKey]int{}
	for _, p := range prep {
		if p.vec != nil {
			need[vecKey{p.item.EmbeddingModel, len(p.vec)}]++
		}
	}
	for k, n := range need {
		a := x.arenas[k]
		if a == nil {
			a = &arena{dim: k.dim}
			x.arenas[k] = a
		}
		a.data = slices.Grow(a.data, n*k.dim)
		a.owner = slices.Grow(a.owner, n)
	}
	for _, p := range prep {
		if old, ok := x.byID[p.item.ID]; ok {
			x.removeSlot(old)
		}
		s := int32(len(x.slots))
		sl := slot{item: p.item, terms: p.terms, length: p.length, live: true, row: -1}
		for _, t := range p.terms {
			x.postings[t.term] = append(x.postings[t.term], posting{slot: s, tf: t.tf})
			x.df[t.term]++
		}
		if p.vec != nil {
			k := vecKey{p.item.EmbeddingModel, len(p.vec)}
			a := x.arenas[k]
			if a == nil { // removed by a replacement in this batch
				a = &arena{dim: len(p.vec)}
				x.arenas[k] = a
			}
			sl.arena, sl.row = a, int32(a.rows())
			a.data = appendScaled(a.data, p.vec, p.scale)
			a.owner = append(a.owner, s)
		}
		x.slots = append(x.slots, sl)
		x.byID[p.item.ID] = s
		x.totalLen += int64(p.length)
		x.live++
	}
}

// prepared is an item ready to be indexed: its copy without an
// embedding, its terms, and its vector with the scale that normalizes it.
type prepared struct {
	item   *state.Memory
	terms  []termFreq
	length int32
	vec    []float32 // the caller's, read only
	scale  float64
}

// prepareParallelMin is the batch size above which Add prepares items on
// several CPUs.
const prepareParallelMin = 4096

// prepare fills prep[i] for items[i].
func prepare(items []*state.Memory, prep []prepared) {
	for i, m := range items {
		toks := Tokenize(m.Content)
		tf := make(map[string]int32, len(toks))
		for _, t := range toks {
			tf[t]++
		}
		terms := make([]termFreq, 0, len(tf))
		for t, n := range tf {
			terms = append(terms, termFreq{t, n})
		}
		c := *m
		c.Embedding = nil
		p := prepared{item: &c, terms: terms, length: int32(len(toks))}
		if len(m.Embedding) > 0 && m.EmbeddingModel != "" {
			p.vec, p.scale = m.Embedding, normScale(m.Embedding)
		}
		prep[i] = p
	}
}

// Remove drops the items with these ids and returns how many were
// indexed.
func (x *Index) Remove(ids ...string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, id := range ids {
		if s, ok := x.byID[id]; ok {
			x.removeSlot(s)
			n++
		}
	}
	x.maybeCompact()
	return n
}

// RemoveIf drops the items match accepts and returns them.
func (x *Index) RemoveIf(match func(*state.Memory) bool) []*state.Memory {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []*state.Memory
	for i := range x.slots {
		if s := &x.slots[i]; s.live && match(s.item) {
			out = append(out, s.item)
			x.removeSlot(int32(i))
		}
	}
	x.maybeCompact()
	return out
}

// removeSlot marks slot s dead. Its postings stay until the next
// compaction (searches skip dead slots); its vector leaves its arena at
// once (the arena's last row takes its place).
func (x *Index) removeSlot(s int32) {
	sl := &x.slots[s]
	for _, t := range sl.terms {
		if x.df[t.term]--; x.df[t.term] <= 0 {
			delete(x.df, t.term)
		}
	}
	if a := sl.arena; a != nil {
		last := int32(a.rows() - 1)
		if sl.row != last {
			copy(a.data[int(sl.row)*a.dim:int(sl.row+1)*a.dim], a.data[int(last)*a.dim:])
			moved := a.owner[last]
			a.owner[sl.row] = moved
			x.slots[moved].row = sl.row
		}
		a.data = a.data[:int(last)*a.dim]
		a.owner = a.owner[:last]
		if a.rows() == 0 {
			delete(x.arenas, vecKey{sl.item.EmbeddingModel, a.dim})
		}
	}
	delete(x.byID, sl.item.ID)
	x.totalLen -= int64(sl.length)
	x.live--
	x.dead++
	*sl = slot{row: -1}
}

// maybeCompact rebuilds the slots and postings without dead slots once
// they outnumber the live ones.
func (x *Index) maybeCompact() {
	if x.dead == 0 || x.live > 0 && (x.dead < 1024 || x.dead <= x.live) {
		return
	}
	remap := make([]int32, len(x.slots))
	slots := make([]slot, 0, x.live)
	for i, s := range x.slots {
		if !s.live {
			remap[i] = -1
			continue
		}
		remap[i] = int32(len(slots))
		slots = append(slots, s)
	}
	for t, ps := range x.postings {
		out := ps[:0]
		for _, p := range ps {
			if r := remap[p.slot]; r >= 0 {
				out = append(out, posting{slot: r, tf: p.tf})
			}
		}
		if len(out) == 0 {
			delete(x.postings, t)
		} else {
			x.postings[t] = slices.Clip(out)
		}
	}
	for _, a := range x.arenas {
		for i, o := range a.owner {
			a.owner[i] = remap[o]
		}
	}
	for id, s := range x.byID {
		x.byID[id] = remap[s]
	}
	x.slots, x.dead = slots, 0
}

// List returns the items match accepts (all when nil), newest first (by
// creation time, then the latest indexed first).
func (x *Index) List(match func(*state.Memory) bool) []*state.Memory {
	x.mu.RLock()
	var out []*state.Memory
	for i := len(x.slots) - 1; i >= 0; i-- {
		if s := &x.slots[i]; s.live && (match == nil || match(s.item)) {
			out = append(out, s.item)
		}
	}
	x.mu.RUnlock()
	slices.SortStableFunc(out, func(a, b *state.Memory) int { return b.Created.Compare(a.Created) })
	return out
}

// How a hit was ranked.
const (
	MethodEmbedding = "embedding"
	MethodBM25      = "bm25"
	MethodHybrid    = "hybrid"
)

// Query asks for the K items best matching Text, or Vector (an embedding
// of Text by Model) where items have vectors of that model.
type Query struct {
	Text   string
	Vector []float32
	Model  string
	// K bounds the hits; 0 means 5.
	K int
	// MinSimilarity drops embedding hits below this cosine similarity.
	MinSimilarity float64
	// Filter, when set, admits only the items it accepts. It is called
	// concurrently from several goroutines.
	Filter func(*state.Memory) bool
}

// Hit is one result: the item, its score (cosine similarity, BM25, or the
// reciprocal-rank fusion of both) and how it was ranked.
type Hit struct {
	Item   *state.Memory
	Score  float64
	Method string
	// slot breaks ties: the item indexed later ranks first.
	slot int32
}

// rrfK damps the weight of top ranks in reciprocal-rank fusion.
const rrfK = 60

// Search returns the best hits for q, best first (ties: the latest indexed first). Items with
// a vector of q's model are ranked by cosine similarity; the others by
// BM25 on q.Text (only those sharing a term with it); when both kinds of
// item match, the two rankings are fused.
func (x *Index) Search(q Query) []Hit {
	k := q.K
	if k <= 0 {
		k = 5
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.live == 0 {
		return nil
	}
	var a *arena
	if len(q.Vector) > 0 {
		a = x.arenas[vecKey{q.Model, len(q.Vector)}]
	}
	if a == nil {
		return x.bm25(q.Text, k, q.Filter, nil)
	}
	vec := x.cosine(a, normalized(q.Vector), k, q.MinSimilarity, q.Filter)
	if a.rows() == x.live {
		return vec
	}
	// Items without a vector of this model are ranked by keywords, and
	// the rankings fused, so they are not invisible to recall.
	depth := max(4*k, 50)
	if len(vec) == k && k < depth {
		vec = x.cosine(a, normalized(q.Vector), depth, q.MinSimilarity, q.Filter)
	}
	kw := x.bm25(q.Text, depth, q.Filter, a)
	if len(kw) == 0 {
		return vec[:min(k, len(vec))]
	}
	if len(vec) == 0 {
		return kw[:min(k, len(kw))]
	}
	fused := make(map[int32]Hit, len(vec)+len(kw))
	for _, list := range [][]Hit{vec, kw} {
		for r, h := range list {
			f, ok := fused[h.slot]
			if !ok {
				f = Hit{Item: h.Item, Method: MethodHybrid, slot: h.slot}
			}
			f.Score += 1 / float64(rrfK+r+1)
			fused[h.slot] = f
		}
	}
	t := newTop(k)
	for _, h := range fused {
		t.offer(h)
	}
	return t.sorted()
}

// parallelMin is the number of vector elements above which a cosine scan
// is split across CPUs.
const parallelMin = 1 << 19

// cosine ranks the rows of a by dot product with the unit vector qv.
func (x *Index) cosine(a *arena, qv []float32, k int, minSim float64, filter func(*state.Memory) bool) []Hit {
	rows := a.rows()
	workers := 1
	if n := rows * a.dim; n >= parallelMin {
		workers = min(runtime.GOMAXPROCS(0), max(1, n/parallelMin))
	}
	scan := func(lo, hi int) *top {
		t := newTop(k)
		dim := a.dim
		for r := lo; r < hi; r++ {
			score := float64(dot(qv, a.data[r*dim:(r+1)*dim]))
			if score < minSim || !t.admits(score) {
				continue
			}
			s := a.owner[r]
			it := x.slots[s].item
			if filter != nil && !filter(it) {
				continue
			}
			t.offer(Hit{Item: it, Score: score, Method: MethodEmbedding, slot: s})
		}
		return t
	}
	if workers == 1 {
		return scan(0, rows).sorted()
	}
	parts := make([]*top, workers)
	var wg sync.WaitGroup
	chunk := (rows + workers - 1) / workers
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, rows)
		wg.Go(func() { parts[w] = scan(lo, hi) })
	}
	wg.Wait()
	t := parts[0]
	for _, p := range parts[1:] {
		for _, h := range p.h {
			t.offer(h)
		}
	}
	return t.sorted()
}

// BM25 parameters: term-frequency saturation and length normalization.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

var scorePool = sync.Pool{New: func() any { return new([]float32) }}

// bm25 ranks the items sharing a term with text; items with a row in
// skip (a vector of the query's model) are left to the cosine ranking.
func (x *Index) bm25(text string, k int, filter func(*state.Memory) bool, skip *arena) []Hit {
	terms := Tokenize(text)
	if len(terms) == 0 {
		return nil
	}
	slices.Sort(terms)
	terms = slices.Compact(terms)
	n := float64(x.live)
	avg := float64(x.totalLen) / n
	if avg == 0 {
		avg = 1
	}
	bufp := scorePool.Get().(*[]float32)
	defer scorePool.Put(bufp)
	if cap(*bufp) < len(x.slots) {
		*bufp = make([]float32, len(x.slots))
	}
	scores := (*bufp)[:len(x.slots)]
	var touched []int32
	for _, t := range terms {
		ps := x.postings[t]
		df := float64(x.df[t])
		if df == 0 {
			continue
		}
		idf := math.Log(1 + (n-df+0.5)/(df+0.5))
		for _, p := range ps {
			sl := &x.slots[p.slot]
			if !sl.live {
				continue
			}
			tf := float64(p.tf)
			norm := bm25K1 * (1 - bm25B + bm25B*float64(sl.length)/avg)
			if scores[p.slot] == 0 {
				touched = append(touched, p.slot)
			}
			scores[p.slot] += float32(idf * tf * (bm25K1 + 1) / (tf + norm))
		}
	}
	t := newTop(k)
	for _, s := range touched {
		score := scores[s]
		scores[s] = 0
		sl := &x.slots[s]
		if score <= 0 || (skip != nil && sl.arena == skip) || (filter != nil && !filter(sl.item)) {
			continue
		}
		t.offer(Hit{Item: sl.item, Score: float64(score), Method: MethodBM25, slot: s})
	}
	return t.sorted()
}

// top keeps the k best hits offered, in a small sorted slice (k is a
// handful: insertion beats a heap).
type top struct {
	k int
	h []Hit // best first
}

func newTop(k int) *top { return &top{k: k, h: make([]Hit, 0, k)} }

// admits reports whether a hit scoring score could enter.
func (t *top) admits(score float64) bool {
	return len(t.h) < t.k || score >= t.h[len(t.h)-1].Score
}

func (t *top) offer(h Hit) {
	if len(t.h) == t.k && !better(h, t.h[len(t.h)-1]) {
		return
	}
	i, _ := slices.BinarySearchFunc(t.h, h, func(e, target Hit) int {
		if better(e, target) {
			return -1
		}
		return 1
	})
	if len(t.h) < t.k {
		t.h = append(t.h, Hit{})
	}
	copy(t.h[i+1:], t.h[i:len(t.h)-1])
	t.h[i] = h
}

func (t *top) sorted() []Hit { return t.h }

// better reports whether a ranks above b: a higher score, or an equal
// score and indexed later.
func better(a, b Hit) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	return a.slot > b.slot
}

// normalized returns v scaled to unit length (a copy), so cosine
// similarity is a dot product. A zero vector stays zero.
func normalized(v []float32) []float32 {
	return appendScaled(make([]float32, 0, len(v)), v, normScale(v))
}

// normScale is what multiplies v into a unit vector; 0 for a vector
// without a direction (zero, or not finite).
func normScale(v []float32) float64 {
	var sum float64
	for _, f := range v {
		sum += float64(f) * float64(f)
	}
	if sum == 0 || math.IsNaN(sum) || math.IsInf(sum, 0) {
		return 0
	}
	return 1 / math.Sqrt(sum)
}

// appendScaled appends v times scale to dst: a normalized copy written
// straight into an arena, without a vector of its own in between.
func appendScaled(dst, v []float32, scale float64) []float32 {
	n := len(dst)
	dst = slices.Grow(dst, len(v))[:n+len(v)]
	for i, f := range v {
		dst[n+i] = float32(float64(f) * scale)
	}
	return dst
}

// dot is the dot product of two vectors of the same length, unrolled by
// eight with independent accumulators.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		aa, bb := a[i:i+8:i+8], b[i:i+8:i+8]
		s0 += aa[0] * bb[0]
		s1 += aa[1] * bb[1]
		s2 += aa[2] * bb[2]
		s3 += aa[3] * bb[3]
		s4 += aa[4] * bb[4]
		s5 += aa[5] * bb[5]
		s6 += aa[6] * bb[6]
		s7 += aa[7] * bb[7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3) + (s4 + s5) + (s6 + s7)
}

// HasVectors reports whether some item has a vector of model.
func (x *Index) HasVectors(model string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for k, a := range x.arenas {
		if k.model == model && a.rows() > 0 {
			return true
		}
	}
	return false
}
