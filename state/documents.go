package state

import (
	"context"
	"time"
)

// Documents keeps knowledge documents (RAG):
// documents of a tenant, grouped in named knowledge sources, each stored
// with its chunks (text and embedding), so retrieval can load a source's
// chunks without re-chunking or re-embedding. Every read and write is
// scoped by tenant.
type Documents interface {
	// PutDocument creates or replaces tenant's document d.ID with its
	// chunks (replacing every chunk it had, in whatever source), in one
	// transaction. It bumps the revision of each source it changes.
	PutDocument(ctx context.Context, d *Document, chunks []Chunk) error
	// GetDocument returns tenant's document id, or ErrNotFound.
	GetDocument(ctx context.Context, tenant, id string) (*Document, error)
	// ListDocuments returns tenant's documents of source (all sources when
	// empty), ordered by creation time, then id.
	ListDocuments(ctx context.Context, tenant, source string) ([]*Document, error)
	// DeleteDocument removes tenant's document id and its chunks, or
	// returns ErrNotFound; at is when (its source's update time).
	DeleteDocument(ctx context.Context, tenant, id string, at time.Time) error
	// ListSources returns tenant's knowledge sources that hold documents,
	// by name.
	ListSources(ctx context.Context, tenant string) ([]SourceInfo, error)
	// SourceRevision returns the revision of tenant's source: it changes
	// whenever a document of the source is written or deleted, by any
	// instance (0 for a source never written), so an index built from the
	// source's chunks knows when it is stale.
	SourceRevision(ctx context.Context, tenant, source string) (uint64, error)
	// ScanChunks calls fn with every chunk of tenant's source, ordered by
	// document id, then sequence; each call gets a fresh chunk fn may keep.
	// An error from fn stops the scan and is returned.
	ScanChunks(ctx context.Context, tenant, source string, fn func(*Chunk) error) error
}

// Document formats.
const (
	FormatText     = "text"
	FormatMarkdown = "markdown"
)

// Document is a knowledge document; its text is kept as its chunks.
type Document struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	// Source is the knowledge source the document belongs to; agents
	// attach sources, not documents.
	Source string `json:"source"`
	Title  string `json:"title"`
	// Format is FormatText or FormatMarkdown.
	Format string `json:"format"`
	// Chars is the length of the document's text in characters.
	Chars int `json:"chars"`
	// Chunks is how many chunks the document was cut into.
	Chunks int `json:"chunks"`
	// EmbeddingModel is the model the chunks were embedded with; empty
	// when they have no embeddings (keyword retrieval only).
	EmbeddingModel string            `json:"embedding_model,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	Created        time.Time         `json:"created_at"`
	Updated        time.Time         `json:"updated_at"`
}

// Chunk is a piece of a document, the unit retrieval ranks and returns.
type Chunk struct {
	// ID is unique within the tenant: the document id, "#", the sequence.
	ID    string `json:"id"`
	DocID string `json:"doc_id"`
	// Seq numbers the document's chunks from 1.
	Seq   int    `json:"seq"`
	Title string `json:"title,omitempty"`
	// Heading is the Markdown heading path the chunk falls under.
	Heading string `json:"heading,omitempty"`
	Text    string `json:"text"`
	// Model is the model Vector was computed with; empty without one.
	Model  string    `json:"model,omitempty"`
	Vector []float32 `json:"-"`
}

// SourceInfo describes one knowledge source of a tenant.
type SourceInfo struct {
	Name      string    `json:"name"`
	Documents int       `json:"documents"`
	Chunks    int       `json:"chunks"`
	Revision  uint64    `json:"revision"`
	Updated   time.Time `json:"updated_at"`
}
