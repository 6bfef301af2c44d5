package providertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/agentgate/agentgate/adapters"
)

// EmbedCase is one golden case of a provider's Embed: the inputs of one
// call, and what the test upstream answers every request of it.
type EmbedCase struct {
	Name   string
	Model  string
	Inputs []string
	// Status and Body are the upstream's answer (Status 0 means 200).
	Status int
	Body   string
}

// embedRequest is a request the test upstream received.
type embedRequest struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Query  string          `json:"query,omitempty"`
	Body   json.RawMessage `json:"body"`
}

// embedError is a returned error as a golden file shows it.
type embedError struct {
	Kind           string `json:"kind"`
	Status         int    `json:"status"`
	Code           string `json:"code,omitempty"`
	Message        string `json:"message"`
	UpstreamStatus int    `json:"upstream_status,omitempty"`
}

// EmbedGolden runs each case against a test upstream and compares what
// the provider newEmbedder builds for its URL sent (method, path, body of
// every request) and returned (vectors and usage, or the error) with
// testdata/embeddings/<case>.golden.json. Run with -update to rewrite.
func EmbedGolden(t *testing.T, newEmbedder func(t *testing.T, baseURL string) adapters.Embedder, cases []EmbedCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			var mu sync.Mutex
			var got []embedRequest
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if !json.Valid(body) {
					body, _ = json.Marshal(string(body))
				}
				mu.Lock()
				got = append(got, embedRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body})
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				if c.Status != 0 {
					w.WriteHeader(c.Status)
				}
				_, _ = io.WriteString(w, c.Body)
			}))
			defer srv.Close()
			vecs, usage, err := newEmbedder(t, srv.URL).Embed(context.Background(), c.Model, c.Inputs)
			out := struct {
				Upstream []embedRequest  `json:"upstream"`
				Vectors  [][]float32     `json:"vectors,omitempty"`
				Usage    *adapters.Usage `json:"usage,omitempty"`
				Error    *embedError     `json:"error,omitempty"`
			}{Upstream: got, Vectors: vecs}
			if err != nil {
				var ae *adapters.Error
				if !errors.As(err, &ae) {
					t.Fatalf("non-canonical error %T %v", err, err)
				}
				out.Error = &embedError{Kind: KindName(ae.Kind), Status: ae.Status(), Code: ae.Code, Message: ae.Message, UpstreamStatus: ae.UpstreamStatus}
			} else {
				out.Usage = &usage
				if len(vecs) != len(c.Inputs) {
					t.Errorf("%d vectors for %d inputs", len(vecs), len(c.Inputs))
				}
			}
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(out); err != nil {
				t.Fatal(err)
			}
			CheckGolden(t, filepath.Join("testdata", "embeddings", c.Name+".golden.json"), b.Bytes())
		})
	}
}
