// Package dialects is the frame every inbound API dialect plugs into: a
// dialect is a set of routes and an error shape, registered by name, and
// built over the agent runtime. The Caddy handler mounts the routes,
// authenticates callers and admits requests before a dialect sees them, so
// dialect code holds none of that.
package dialects

import (
	"fmt"
	"net/http"
	"sort"
	"sync"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine"
	"github.com/tidwall/gjson"
)

// Dialect is one inbound API.
type Dialect interface {
	// Routes are the dialect's endpoints.
	Routes() []Route
	// WriteError answers with err in the dialect's documented error shape.
	WriteError(w http.ResponseWriter, err *adapters.Error)
}

// HandlerFunc serves one route for an authenticated caller. It returns an
// error only if it has written nothing; the frame then answers with the
// dialect's error shape. Once a handler has started a response (a stream),
// it reports failures in that response itself.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, p *adapters.Principal) error

// Route is one endpoint: a net/http ServeMux pattern ("POST /v1/chat",
// "GET /v2/agents/{id}") and its handler.
type Route struct {
	Pattern string
	Handler HandlerFunc
	// CallsModel marks routes that invoke a model: token rate limits and
	// monthly quotas apply to them (request limits apply to every route).
	CallsModel bool
	// When, if set, restricts the route to the requests it accepts, so
	// two dialects can serve one pattern: GET /v1/models is Anthropic's
	// list when the request carries anthropic-version, OpenAI's
	// otherwise. The frame tries the routes of a pattern that have a When
	// first, in registration order, then the one without; a request no
	// route takes goes to the next handler. It runs before
	// authentication, on every request to the pattern: keep it a header
	// lookup.
	When func(*http.Request) bool
	// Target, on a route that calls a model, names what a request calls,
	// read before the dialect decodes it, so that admission can price the
	// request's estimate for the key's budgets. body is the request's
	// JSON body (nil when it has none, or is not JSON). Without a Target,
	// or with an empty one, the model is not known until the request runs.
	Target func(r *http.Request, body []byte) Target
}

// Target is what a request calls, as its route reads it before decoding.
type Target struct {
	// Name is the agent (by id or name) the request addresses or,
	// failing that, a routed model it calls directly (as ResolveModel
	// finds it).
	Name string
	// Model, when set, is the model the request asks the agent to call
	// instead of its own.
	Model string
}

// TargetField is a Target read from the JSON body's field (a gjson
// path): "model", "agent_id".
func TargetField(field string) func(*http.Request, []byte) Target {
	return func(_ *http.Request, body []byte) Target { return Target{Name: gjson.GetBytes(body, field).Str} }
}

// TargetPath is a Target read from the route pattern's wildcard: the
// agent of /v2/agents/{id}/chat.
func TargetPath(wildcard string) func(*http.Request, []byte) Target {
	return func(r *http.Request, _ []byte) Target { return Target{Name: r.PathValue(wildcard)} }
}

// HasHeader is a When that accepts requests carrying header name.
func HasHeader(name string) func(*http.Request) bool {
	name = http.CanonicalHeaderKey(name)
	return func(r *http.Request) bool { return len(r.Header[name]) > 0 }
}

// Limits bound what clients may send.
type Limits struct {
	// MaxBodyBytes caps request bodies.
	MaxBodyBytes int64
	// MaxImageBytes caps one decoded inline image.
	MaxImageBytes int64
}

// Env is what dialects are built over. Dialects register their routes
// before the engine is built (a gateway builds it when it starts, and
// `caddy validate` never does): they read Engine only to serve a
// request.
type Env struct {
	Engine *engine.Engine
	Limits Limits
	// Passthrough tells whether the OpenAI endpoints the gateway does not
	// translate go upstream (engine.Checked.Passthrough).
	Passthrough bool
}

// Factory builds a dialect over env.
type Factory func(env *Env) Dialect

var (
	mu       sync.RWMutex
	registry = map[string]Factory{}
)

// Register makes a dialect available under name; dialect packages call it
// from init. It panics on duplicates.
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[name]; dup {
		panic("dialects: registered twice: " + name)
	}
	registry[name] = f
}

// New builds the dialect called name.
func New(name string, env *Env) (Dialect, error) {
	mu.RLock()
	f, ok := registry[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown dialect %q (known: %v)", name, Names())
	}
	return f(env), nil
}

// Names lists the registered dialects in sorted order.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
