package dialecttest

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
)

// EmbedCall is one call an Embedder received.
type EmbedCall struct {
	Model  string   `json:"model"`
	Inputs []string `json:"inputs"`
}

// Embedder is a provider that computes embeddings for golden tests: the
// vector of an input is [characters, bytes, 0.5, -0.25], so a golden file
// shows which input each vector answers; usage counts one input token a
// character. Err, when set, is returned instead.
type Embedder struct {
	Err error

	mu    sync.Mutex
	calls []EmbedCall
}

// Chat implements adapters.Provider: an Embedder does not chat.
func (e *Embedder) Chat(context.Context, *adapters.Request, adapters.Emit) error {
	return &adapters.Error{Kind: adapters.KindInvalidRequest, Message: "the test embedder does not chat"}
}

// Embed implements adapters.Embedder.
func (e *Embedder) Embed(_ context.Context, model string, inputs []string) ([][]float32, adapters.Usage, error) {
	e.mu.Lock()
	e.calls = append(e.calls, EmbedCall{Model: model, Inputs: append([]string(nil), inputs...)})
	e.mu.Unlock()
	if e.Err != nil {
		return nil, adapters.Usage{}, e.Err
	}
	out := make([][]float32, len(inputs))
	var u adapters.Usage
	for i, in := range inputs {
		n := utf8.RuneCountInString(in)
		out[i] = []float32{float32(n), float32(len(in)), 0.5, -0.25}
		u.InputTokens += n
	}
	return out, u, nil
}

// Calls returns the calls the embedder received.
func (e *Embedder) Calls() []EmbedCall {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]EmbedCall(nil), e.calls...)
}

// EmbedCase is one golden case of a dialect's embeddings route: Body is
// posted to Path, and an Embedder (failing with Err when set) serves the
// models routes sends to the "embedder" provider.
type EmbedCase struct {
	Name, Path, Body string
	Err              error
}

// EmbedGolden runs each case over a fresh harness of dialect name and
// compares the client's answer (status, content type, indented body) with
// dir/<case>/response.golden and the embedder's calls with
// dir/<case>/upstream.golden.json. Run with -update to rewrite them.
func EmbedGolden(t *testing.T, name, dir string, routes []models.Route, cases []EmbedCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			emb := &Embedder{Err: c.Err}
			h := NewWith(t, name, &Script{}, Options{Routes: routes, Providers: map[string]adapters.Provider{"embedder": emb}})
			rec := h.Do("POST", c.Path, []byte(c.Body))
			got := append([]byte(rec.Header().Get("Content-Type")+" "+strconv.Itoa(rec.Code)+"\n"), Indent(rec.Body.Bytes())...)
			Golden(t, filepath.Join(dir, c.Name, "response.golden"), got)
			up := []byte("null")
			if calls := emb.Calls(); len(calls) > 0 {
				up, _ = json.MarshalIndent(calls, "", "  ")
			}
			Golden(t, filepath.Join(dir, c.Name, "upstream.golden.json"), append(up, '\n'))
		})
	}
}
