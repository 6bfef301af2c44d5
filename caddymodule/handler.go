package caddymodule

import (
	"context"
	"fmt"
	"net/http"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/internal/tracing"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler serves agentgate's API dialects. Requests that match no dialect
// route go to the next handler, so agentgate composes with reverse_proxy
// or file_server in front of an existing app.
type Handler struct {
	// Dialects to serve, by name. Default: every registered dialect.
	Dialects []string `json:"dialects,omitempty"`

	mux *http.ServeMux
	app *App
	log *zap.Logger
	// notFound are the served dialects that answer unserved requests
	// under their paths (dialects.NotFounder).
	notFound []notFounder
}

type notFounder struct {
	dialects.Dialect
	dialects.NotFounder
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.agentgate", New: func() caddy.Module { return new(Handler) }}
}

// Provision builds the route table of the dialects; they reach the
// agentgate app's engine, which its Start builds, only to serve.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.log = ctx.Logger()
	appIface, err := ctx.App("agentgate")
	if err != nil {
		return err
	}
	h.app = appIface.(*App)
	names := h.Dialects
	if len(names) == 0 {
		names = dialects.Names()
	}
	h.mux = http.NewServeMux()
	sets := map[string]*routeSet{}
	var patterns []string
	for _, name := range names {
		d, err := dialects.New(name, h.app.env)
		if err != nil {
			return err
		}
		if nf, ok := d.(dialects.NotFounder); ok {
			h.notFound = append(h.notFound, notFounder{d, nf})
		}
		dm := h.app.metrics.dialect(name)
		for _, rt := range d.Routes() {
			set := sets[rt.Pattern]
			if set == nil {
				set = &routeSet{}
				sets[rt.Pattern] = set
				patterns = append(patterns, rt.Pattern)
			}
			if err := set.add(&route{h: h, dialect: name, d: d, fn: rt.Handler, callsModel: rt.CallsModel, metrics: dm}, rt.When); err != nil {
				return fmt.Errorf("%s: %w", rt.Pattern, err)
			}
		}
	}
	for _, p := range patterns {
		set := sets[p]
		var hd http.Handler = set
		if len(set.guarded) == 0 {
			hd = set.fallback // the usual case: nothing to choose
		}
		if err := handle(h.mux, p, hd); err != nil {
			return err
		}
	}
	return nil
}

// handle registers pattern on mux. ServeMux panics on a pattern that
// conflicts with one registered before it (two dialects claiming the
// same requests with neither pattern more specific): that is a
// configuration error of the dialects chosen, returned, not a crash.
func handle(mux *http.ServeMux, pattern string, hd http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("dialect routes conflict: %v", r)
		}
	}()
	mux.Handle(pattern, hd)
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// Handler reports the pattern without serving; ServeHTTP then matches
	// again to set the path values. Matching is a few hundred nanoseconds,
	// far cheaper than cloning the request to carry next in its context.
	hd, pattern := h.mux.Handler(r)
	if pattern == "" {
		return h.serveNext(w, r, next)
	}
	if set, ok := hd.(*routeSet); ok && set.pick(r) == nil {
		return h.serveNext(w, r, next)
	}
	h.mux.ServeHTTP(w, r)
	return nil
}

// serveNext hands r to the next handler. If nothing handles it, a dialect
// whose paths it is under answers with its 404. Caddy marks such a
// request: the end of every handler chain is a no-op that sets the
// "unhandled" variable (what its access log reports as "NOP"), so a
// handler after agentgate's that serves r (reverse_proxy, file_server,
// respond) takes precedence, and only a site with nothing further, or
// whose further handlers let r through, gets the dialect's 404.
func (h *Handler) serveNext(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if err := next.ServeHTTP(w, r); err != nil {
		return err
	}
	if unhandled, _ := caddyhttp.GetVar(r.Context(), "unhandled").(bool); !unhandled {
		return nil
	}
	for _, d := range h.notFound {
		if e := d.NotFound(r); e != nil {
			caddyhttp.SetVar(r.Context(), "unhandled", false)
			d.WriteError(w, e)
			return nil
		}
	}
	return nil
}

// routeSet is the routes of several dialects on one pattern, told apart
// by their dialects.Route.When.
type routeSet struct {
	guarded  []guardedRoute
	fallback *route // the route without a When, if any
}

type guardedRoute struct {
	when func(*http.Request) bool
	rt   *route
}

func (s *routeSet) add(rt *route, when func(*http.Request) bool) error {
	if when != nil {
		s.guarded = append(s.guarded, guardedRoute{when: when, rt: rt})
		return nil
	}
	if s.fallback != nil {
		return fmt.Errorf("dialects %s and %s both serve it unconditionally", s.fallback.dialect, rt.dialect)
	}
	s.fallback = rt
	return nil
}

// pick returns the route that serves r, or nil.
func (s *routeSet) pick(r *http.Request) *route {
	for _, g := range s.guarded {
		if g.when(r) {
			return g.rt
		}
	}
	return s.fallback
}

func (s *routeSet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rt := s.pick(r); rt != nil {
		rt.ServeHTTP(w, r)
		return
	}
	http.NotFound(w, r) // not reached: Handler.ServeHTTP sends such requests on
}

// route is one dialect endpoint behind authentication.
type route struct {
	h          *Handler
	dialect    string
	d          dialects.Dialect
	fn         dialects.HandlerFunc
	callsModel bool
	metrics    *dialectMetrics
}

func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// x is the request's exchange: it sees the response (status, stream),
	// admits the request when asked, sets the placeholders, and when the
	// request ends settles its limits, exports its metrics and logs its
	// failure.
	x := rt.metrics.begin(rt.h, w, r)
	w = x
	defer func() {
		// A bug in one request must not take the connection down with a
		// bare reset: log it with its stack and answer in the dialect's
		// shape if the response has not begun (the client sees a 500).
		// Once it has, an error body would read as part of the answer (a
		// stream's client would take what it got as complete): the
		// response is aborted instead, which the client sees as broken.
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				x.Fail(context.Canceled)
				x.end()
				panic(v)
			}
			rt.h.log.Error("panic serving request", zap.String("dialect", rt.dialect), zap.String("path", r.URL.Path),
				zap.Any("panic", v), zap.Stack("stack"))
			e := &adapters.Error{Kind: adapters.KindInternal, Message: "internal error"}
			x.Fail(e)
			x.logged = true
			if x.status != 0 {
				x.end()
				panic(http.ErrAbortHandler)
			}
			rt.d.WriteError(w, e)
		}
		x.end()
	}()
	// A request Caddy accepted before the app's Start ran waits for it.
	if err := rt.h.app.waitStarted(r.Context()); err != nil {
		rt.fail(x, err)
		return
	}
	p, err := rt.h.app.keys.authenticate(r)
	if err != nil {
		rt.fail(x, err)
		return
	}
	x.Principal = p
	// Routes that call no model are admitted here; the others by the
	// engine (or the passthrough) once their call is decoded.
	if !rt.callsModel {
		if err := x.Admit(r.Context(), exchange.Estimate{}); err != nil {
			rt.fail(x, err)
			return
		}
	}
	if rt.h.app.Tracing.recordsContent() {
		r = r.WithContext(tracing.WithContent(r.Context()))
	}
	if err := rt.fn(w, r, &x.Exchange); err != nil {
		rt.fail(x, err)
	}
}

// fail answers with err in the dialect's shape; errors that are not
// *adapters.Error are bugs or store failures, answered with a generic 500
// that leaks nothing. The exchange logs the failure when the request ends.
func (rt *route) fail(x *httpExchange, err error) {
	x.Fail(err)
	rt.d.WriteError(x, adapters.AsError(err))
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
