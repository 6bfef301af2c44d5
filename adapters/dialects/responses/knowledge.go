package responses

import (
	"net/http"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine/knowledge"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/state"
)

// The documents API: the knowledge sources agents retrieve from (RAG),
// within the caller's tenant.
//
//	POST   /api/client/v1/knowledge/{source}/documents   add (or replace, by id) a document: 201 the document
//	GET    /api/client/v1/knowledge/{source}/documents   {"documents":[…]}, oldest first
//	GET    /api/client/v1/knowledge/documents/{id}       the document
//	DELETE /api/client/v1/knowledge/documents/{id}       {"id":…,"deleted":true}
//	GET    /api/client/v1/knowledge                      {"sources":[…]}

// documentRequest is the body of POST …/documents.
type documentRequest struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Text   string `json:"text"`
	Format string `json:"format"`
	// EmbeddingModel embeds the chunks with this model instead of the
	// gateway's configured one.
	EmbeddingModel string            `json:"embedding_model"`
	Metadata       map[string]string `json:"metadata"`
}

// documentView is a document as the API shows it.
type documentView struct {
	ID             string            `json:"id"`
	Object         string            `json:"object"`
	Source         string            `json:"source"`
	Title          string            `json:"title"`
	Format         string            `json:"format"`
	Chars          int               `json:"chars"`
	Chunks         int               `json:"chunks"`
	EmbeddingModel string            `json:"embedding_model,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	CreatedAt      int64             `json:"created_at"`
	UpdatedAt      int64             `json:"updated_at"`
}

func viewDocument(d *state.Document) documentView {
	return documentView{ID: d.ID, Object: "knowledge.document", Source: d.Source, Title: d.Title, Format: d.Format,
		Chars: d.Chars, Chunks: d.Chunks, EmbeddingModel: d.EmbeddingModel, Metadata: d.Metadata,
		CreatedAt: d.Created.Unix(), UpdatedAt: d.Updated.Unix()}
}

// sourceView is a knowledge source as the API shows it.
type sourceView struct {
	Name      string `json:"name"`
	Object    string `json:"object"`
	Documents int    `json:"documents"`
	Chunks    int    `json:"chunks"`
	UpdatedAt int64  `json:"updated_at"`
}

// addDocument answers POST /knowledge/{source}/documents.
func (d *Dialect) addDocument(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	var req documentRequest
	if _, err := dialects.DecodeJSON(r, d.env.Limits.MaxBodyBytes, &req); err != nil {
		return err
	}
	doc, err := d.env.Engine.Knowledge().AddDocument(r.Context(), x, knowledge.DocumentInput{ID: req.ID, Source: r.PathValue("source"),
		Title: req.Title, Text: req.Text, Format: req.Format, EmbeddingModel: req.EmbeddingModel, Metadata: req.Metadata})
	if err != nil {
		return err
	}
	dialects.WriteJSON(w, http.StatusCreated, viewDocument(doc))
	return nil
}

// getKnowledge answers GET /knowledge/documents/{id} and GET
// /knowledge/{source}/documents. The document path wins where both match:
// GET /knowledge/documents/documents fetches the document "documents", so
// a source named "documents" cannot be listed this way.
func (d *Dialect) getKnowledge(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	a, b := r.PathValue("a"), r.PathValue("b")
	switch {
	case a == "documents":
		r.SetPathValue("id", b)
		return d.getDocument(w, r, x)
	case b == "documents":
		r.SetPathValue("source", a)
		return d.listDocuments(w, r, x)
	}
	return &adapters.Error{Kind: adapters.KindNotFound, Code: "not_found", Message: "no such endpoint: " + r.URL.Path}
}

// listDocuments answers GET /knowledge/{source}/documents.
func (d *Dialect) listDocuments(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	docs, err := d.env.Engine.Knowledge().ListDocuments(r.Context(), p, r.PathValue("source"))
	if err != nil {
		return err
	}
	out := struct {
		Object    string         `json:"object"`
		Documents []documentView `json:"documents"`
	}{Object: "list", Documents: make([]documentView, 0, len(docs))}
	for _, doc := range docs {
		out.Documents = append(out.Documents, viewDocument(doc))
	}
	dialects.WriteJSON(w, http.StatusOK, out)
	return nil
}

// getDocument answers GET /knowledge/documents/{id}.
func (d *Dialect) getDocument(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	doc, err := d.env.Engine.Knowledge().GetDocument(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	dialects.WriteJSON(w, http.StatusOK, viewDocument(doc))
	return nil
}

// deleteDocument answers DELETE /knowledge/documents/{id}.
func (d *Dialect) deleteDocument(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	id := r.PathValue("id")
	if err := d.env.Engine.Knowledge().DeleteDocument(r.Context(), p, id); err != nil {
		return err
	}
	dialects.WriteJSON(w, http.StatusOK, struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Deleted bool   `json:"deleted"`
	}{ID: id, Object: "knowledge.document.deleted", Deleted: true})
	return nil
}

// listSources answers GET /knowledge with the tenant's sources that hold
// documents.
func (d *Dialect) listSources(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	sources, err := d.env.Engine.Knowledge().Sources(r.Context(), p)
	if err != nil {
		return err
	}
	out := struct {
		Object  string       `json:"object"`
		Sources []sourceView `json:"sources"`
	}{Object: "list", Sources: make([]sourceView, 0, len(sources))}
	for _, s := range sources {
		out.Sources = append(out.Sources, sourceView{Name: s.Name, Object: "knowledge.source", Documents: s.Documents,
			Chunks: s.Chunks, UpdatedAt: s.Updated.Unix()})
	}
	dialects.WriteJSON(w, http.StatusOK, out)
	return nil
}
