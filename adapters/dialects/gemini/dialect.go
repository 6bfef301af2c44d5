// Package gemini serves the Gemini API (generativelanguage v1beta and
// v1) over the agent runtime, so the Google Gen AI SDKs and everything
// built on them work by changing only their base URL and key:
//
//	POST /v1beta/models/{model}:generateContent
//	POST /v1beta/models/{model}:streamGenerateContent   (?alt=sse: SSE; else a streamed JSON array)
//	POST /v1beta/models/{model}:countTokens
//	POST /v1beta/models/{model}:embedContent
//	POST /v1beta/models/{model}:batchEmbedContents
//	GET  /v1beta/models, GET /v1beta/models/{model}
//
// and the same routes under /v1 (GET /v1/models is Gemini's for requests
// from Google clients, see googleClient). The model names an agent (its system prompt, tools, memory
// and knowledge apply) or a routed upstream model on any provider,
// within the key's tier allowlist. Errors have Google's shape:
//
//	{"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT", "details": [...]}}
//
// The translation is pure functions — decode.go (bytes → canonical Call),
// encode.go (canonical events → bytes) — under thin HTTP handlers.
package gemini

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
)

// Name is the dialect's registered name, as metrics and usage logs show
// it.
const Name = "gemini"

func init() {
	dialects.Register(Name, func(env *dialects.Env) dialects.Dialect { return &Dialect{env: env} })
}

// Dialect is the Gemini API.
type Dialect struct {
	env *dialects.Env
}

// Routes implements dialects.Dialect. Go's ServeMux wildcards take whole
// segments, so "{model}:{method}" is one wildcard split at its last
// colon; it takes the rest of the path, so a routed model whose name has
// a slash ("openai/gpt-4o") works too.
func (d *Dialect) Routes() []dialects.Route {
	return []dialects.Route{
		{Pattern: "POST /v1beta/models/{model_method...}", Handler: d.modelMethod, CallsModel: true, Target: target},
		{Pattern: "POST /v1/models/{model_method...}", Handler: d.modelMethod, CallsModel: true, Target: target},
		{Pattern: "GET /v1beta/models", Handler: d.listModels},
		{Pattern: "GET /v1beta/models/{model...}", Handler: d.getModel},
		// /v1/models is the OpenAI dialect's, and Anthropic's with
		// anthropic-version; a Google client's is Gemini's. The three
		// share each pattern ({id...}, as model names may hold a slash):
		// the frame chooses among the routes of one pattern only.
		{Pattern: "GET /v1/models", Handler: d.listModels, When: googleClient},
		{Pattern: "GET /v1/models/{id...}", Handler: d.getModel, When: googleClient},
	}
}

// target is what a call of …/models/{model}:{method} calls: the model
// (or agent) of its path.
func target(r *http.Request, _ []byte) dialects.Target {
	mm := r.PathValue("model_method")
	if i := strings.LastIndexByte(mm, ':'); i > 0 {
		mm = mm[:i]
	}
	return dialects.Target{Name: mm}
}

// googleClient reports whether a request comes from a Gemini client: its
// key in x-goog-api-key or ?key=, or the Google SDKs' x-goog-api-client.
// It runs before authentication, which takes ?key= out of the URL.
func googleClient(r *http.Request) bool {
	h := r.Header
	return len(h["X-Goog-Api-Key"]) > 0 || len(h["X-Goog-Api-Client"]) > 0 ||
		strings.Contains(r.URL.RawQuery, "key=") && r.URL.Query().Has("key")
}

// modelMethod dispatches POST …/models/{model}:{method}.
func (d *Dialect) modelMethod(w http.ResponseWriter, r *http.Request, p *adapters.Principal) error {
	mm := r.PathValue("model_method")
	i := strings.LastIndexByte(mm, ':')
	if i <= 0 {
		return &adapters.Error{Kind: adapters.KindNotFound, Code: "method_not_found",
			Message: "no method in the path: use models/{model}:generateContent, :streamGenerateContent, :countTokens, :embedContent or :batchEmbedContents"}
	}
	model, method := mm[:i], mm[i+1:]
	switch method {
	case "generateContent":
		return d.generate(w, r, p, model, false)
	case "streamGenerateContent":
		return d.generate(w, r, p, model, true)
	case "countTokens":
		return d.countTokens(w, r, p, model)
	case "embedContent":
		return d.embedContent(w, r, p, model)
	case "batchEmbedContents":
		return d.batchEmbedContents(w, r, p, model)
	}
	return &adapters.Error{Kind: adapters.KindNotFound, Code: "method_not_found",
		Message: "method " + quote(method) + " is not supported by the gateway: use generateContent, streamGenerateContent, countTokens, embedContent or batchEmbedContents"}
}

// resolve finds the agent or routed model a request's model names.
func (d *Dialect) resolve(ctx context.Context, p *adapters.Principal, model string) (*adapters.Agent, error) {
	agent, err := dialects.ResolveModel(ctx, d.env.Engine, p, model)
	if err != nil && adapters.AsError(err).Kind == adapters.KindNotFound {
		return nil, modelNotFound(model)
	}
	return agent, err
}

// modelNotFound is Google's wording for an unknown model.
func modelNotFound(model string) *adapters.Error {
	return &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
		Message: "models/" + model + " is not found: name an agent from GET /v1beta/models or a model the gateway routes"}
}

// sseRequested reports whether the client asked for Server-Sent Events:
// alt=sse, or $alt=sse (the system parameter's other spelling, which
// generative-ai-go uses with ";enum-encoding=int" appended).
func sseRequested(r *http.Request) bool {
	for _, kv := range strings.Split(r.URL.RawQuery, "&") {
		name, value, _ := strings.Cut(kv, "=")
		if n, err := url.QueryUnescape(name); err != nil || (n != "alt" && n != "$alt") {
			continue
		}
		v, err := url.QueryUnescape(value)
		if err != nil {
			continue
		}
		v, _, _ = strings.Cut(v, ";")
		return v == "sse"
	}
	return false
}

func quote(s string) string { return `"` + clip(s) + `"` }
