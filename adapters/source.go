package adapters

// Source is a knowledge chunk a run retrieved into its context (RAG),
// which the model may cite by its id, [ChunkID]. Dialects report them as
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
