// Package tools is the engine's tool system: toolkits of methods the
// operator declares (HTTP webhooks, MCP servers, built-ins), resolved by
// name for an agent, and run with a timeout each. Tenants can only name
// tools the operator declared, so no request can make the gateway call an
// arbitrary URL.
package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

// DefaultTimeout bounds one method call when its toolkit names none.
const DefaultTimeout = 30 * time.Second

// Method is one callable tool.
type Method struct {
	// Toolkit is the name of the toolkit the method belongs to.
	Toolkit     string
	Name        string
	Description string
	// Parameters is the JSON Schema of the arguments object.
	Parameters json.RawMessage
	// RequiresConfirmation pauses a run before the method runs, until a
	// person confirms (or edits, or rejects) the call.
	RequiresConfirmation bool
	Timeout              time.Duration
	// Call runs the method with a JSON object of arguments and returns
	// its JSON result.
	Call func(ctx context.Context, args json.RawMessage) (json.RawMessage, error)
}

// Tool is the method as a model sees it.
func (m *Method) Tool() adapters.Tool {
	params := m.Parameters
	if len(params) == 0 {
		params = json.RawMessage(`{"type":"object","properties":{}}`)
	}
	return adapters.Tool{Name: m.Name, Description: m.Description, Parameters: params}
}

// The kinds of toolkit.
const (
	KindBuiltin = "builtin"
	KindHTTP    = "http"
	KindMCP     = "mcp"
)

// Toolkit is a named set of methods.
type Toolkit struct {
	Name string
	// Kind is KindBuiltin, KindHTTP or KindMCP (empty: unspecified), so
	// APIs that name MCP servers can check they name one.
	Kind    string
	Methods []*Method
}

// Registry holds the operator's toolkits. It is safe for concurrent use;
// toolkits whose methods are discovered late (MCP servers) are added with
// Add when they are known.
type Registry struct {
	mu       sync.RWMutex
	toolkits map[string]*Toolkit
	methods  map[string]*Method // by method name
}

// NewRegistry returns a registry holding toolkits.
func NewRegistry(toolkits ...*Toolkit) (*Registry, error) {
	r := &Registry{toolkits: map[string]*Toolkit{}, methods: map[string]*Method{}}
	for _, tk := range toolkits {
		if err := r.Add(tk); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Add registers a toolkit. Method names are unique across toolkits,
// because a model calls a method by its name alone.
func (r *Registry) Add(tk *Toolkit) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.toolkits[tk.Name]; dup {
		return fmt.Errorf("toolkit %q declared twice", tk.Name)
	}
	for _, m := range tk.Methods {
		if prev, dup := r.methods[m.Name]; dup {
			return fmt.Errorf("tool %q is in toolkits %q and %q; method names must be unique", m.Name, prev.Toolkit, tk.Name)
		}
	}
	r.toolkits[tk.Name] = tk
	for _, m := range tk.Methods {
		m.Toolkit = tk.Name
		r.methods[m.Name] = m
	}
	return nil
}

// ErrUnknownTool names a tool or toolkit the operator did not declare.
var ErrUnknownTool = errors.New("unknown tool")

// Resolve turns names of toolkits and methods ("CalendarToolkit",
// "send_email", "EmailToolkit.send_email") into methods, each once, in
// a stable order.
func (r *Registry) Resolve(names []string) ([]*Method, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	seen := map[string]bool{}
	var out []*Method
	add := func(m *Method) {
		if !seen[m.Name] {
			seen[m.Name] = true
			out = append(out, m)
		}
	}
	for _, n := range names {
		if tk, ok := r.toolkits[n]; ok {
			for _, m := range tk.Methods {
				add(m)
			}
			continue
		}
		if tkName, method, ok := strings.Cut(n, "."); ok {
			if m, ok := r.methods[method]; ok && m.Toolkit == tkName {
				add(m)
				continue
			}
		}
		if m, ok := r.methods[n]; ok {
			add(m)
			continue
		}
		return nil, fmt.Errorf("%w %q", ErrUnknownTool, n)
	}
	return out, nil
}

// Method returns the method of a toolkit, for direct execution.
func (r *Registry) Method(toolkit, method string) (*Method, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.methods[method]
	if !ok || (toolkit != "" && m.Toolkit != toolkit) {
		return nil, false
	}
	return m, true
}

// Toolkit returns the toolkit called name.
func (r *Registry) Toolkit(name string) (*Toolkit, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	tk, ok := r.toolkits[name]
	return tk, ok
}

// Names lists the toolkits, for error messages.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.toolkits))
	for n := range r.toolkits {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Run calls m with args under its timeout. Failures come back as a JSON
// error object for the model, never as a Go error: a broken tool is
// something the model should hear about, not a reason to fail the run.
func Run(ctx context.Context, m *Method, args json.RawMessage) (result json.RawMessage, failed bool) {
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	if !json.Valid(args) {
		return errorResult("the arguments are not valid JSON"), true
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := m.Call(ctx, args)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return errorResult("the tool did not answer within " + timeout.String()), true
	case err != nil:
		return errorResult(err.Error()), true
	case len(res) == 0 || !json.Valid(res):
		return errorResult("the tool returned no valid JSON"), true
	}
	return res, false
}

func errorResult(msg string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}
