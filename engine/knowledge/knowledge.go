// Package knowledge is what agents know beyond their prompt: long-term
// memory (package memory: recall into each run, write-back after it,
// what clients add and list) and knowledge sources (documents chunked,
// embedded and retrieved top-k into a run's context: RAG). Both rank with
// memory's Index; their embeddings and the memory manager's calls go
// through engine/models.
package knowledge

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/agentgate/agentgate/engine/knowledge/memory"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/tiers"
	"github.com/agentgate/agentgate/state"
)

// Config is what Knowledge is built from.
type Config struct {
	Store  state.Store
	Models *models.Models
	// Tiers bound the embedding models a document may name.
	Tiers *tiers.Set
	// Memory configures agents' long-term memory (recall, write-back,
	// the embedding model); the zero value is on, with keyword recall.
	Memory memory.Options
	// SharedMemory is the memory state of Store, shared with the engines
	// of other configurations over it (a reload); nil means Knowledge
	// keeps its own, closed with it.
	SharedMemory *memory.Shared
	// RAG configures knowledge retrieval; the zero value ranks documents
	// by keywords unless they are embedded.
	RAG    RAGConfig
	Logger *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Knowledge is agents' memory and knowledge sources. It is safe for
// concurrent use.
type Knowledge struct {
	store  state.Store
	models *models.Models
	tiers  *tiers.Set
	log    *zap.Logger
	now    func() time.Time
	rag    *ragState
	memory *memory.Manager
	// ownShared is the memory state Knowledge opened itself, if any.
	ownShared *memory.Shared
}

// New checks cfg's models and starts the memory manager; Close stops it.
func New(cfg Config) (*Knowledge, error) {
	kn := &Knowledge{store: cfg.Store, models: cfg.Models, tiers: cfg.Tiers, log: cfg.Logger, now: cfg.Now}
	if kn.log == nil {
		kn.log = zap.NewNop()
	}
	if kn.now == nil {
		kn.now = time.Now
	}
	var err error
	if kn.rag, err = check(&cfg); err != nil {
		return nil, err
	}
	opts := cfg.Memory
	if opts.Logger == nil {
		opts.Logger = kn.log
	}
	if opts.Now == nil {
		opts.Now = kn.now
	}
	shared := cfg.SharedMemory
	if shared == nil {
		shared = memory.OpenShared(cfg.Store, opts)
		kn.ownShared = shared
	}
	kn.memory = memory.New(shared, memoryModels{cfg.Models}, opts)
	return kn, nil
}

// Check checks cfg's models (memory's, knowledge's embedding model) and
// retrieval settings, without its store.
func Check(cfg Config) error {
	_, err := check(&cfg)
	return err
}

// check is Check, returning the retrieval state cfg makes.
func check(cfg *Config) (*ragState, error) {
	router := cfg.Models.Router()
	for what, model := range map[string]string{"embedding_model": cfg.Memory.EmbeddingModel, "memory model": cfg.Memory.Model} {
		if model != "" {
			if _, _, ok := router.Resolve(model, ""); !ok {
				return nil, fmt.Errorf("%s: no provider serves model %q", what, model)
			}
		}
	}
	return newRAGState(cfg, router)
}

// Close stops the memory manager's background work, committing what it
// wrote when Knowledge keeps its own memory state.
func (kn *Knowledge) Close() {
	kn.memory.Close()
	if kn.ownShared != nil {
		kn.ownShared.Close()
	}
}
