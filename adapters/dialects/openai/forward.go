package openai

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/state"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// The passthrough: every path under /v1/ that no dialect serves
// (/v1/completions, /v1/moderations, /v1/images/*, /v1/audio/*,
// /v1/files*, /v1/batches*, /v1/uploads*, /v1/vector_stores*,
// /v1/fine_tuning/*, and whatever OpenAI adds next) goes to an
// OpenAI-compatible upstream as it came, behind the gateway's
// authentication, limits and accounting:
//
//   - the upstream is the provider the body's model routes to (the
//     tier's allowlist applies, and an alias or stripped prefix is
//     rewritten), else the one that keeps the objects the path names,
//     else the default provider (models.PassthroughConfig);
//   - the upstream sees the provider's key, never the client's;
//   - bodies stream both ways: only a JSON body (bounded by
//     max_body_bytes) and a form's fields before its model are read; a
//     file before the model is spooled to disk, not memory;
//   - objects made upstream (files, batches, vector stores, uploads,
//     fine-tuning jobs, …) belong to the tenant that made them: their ids
//     are recorded, paths and bodies naming another tenant's (or an
//     unknown) id are a 404, and lists show only the tenant's own;
//   - a POST is admitted (exchange.Exchange.Admit) once its upstream is
//     chosen, with the estimate its JSON body gives (models.EstimateBody:
//     the body read once, for its model and objects, is what estimates
//     it); other methods manage objects and the frame admits them with
//     the request limits only;
//   - usage the upstream reports (JSON usage, or in an event stream) is
//     accounted once (models.Models.RecordForwarded): a usage record, the
//     request's quota settlement, metrics. A stream that reports it only
//     when asked (legacy completions) is asked, whatever the client
//     asked (forwardBody.askStreamUsage).

// forwardRoutes are the passthrough's routes: POSTs may call a model, so
// token limits and quotas apply to them; other methods manage objects.
func (d *Dialect) forwardRoutes() []dialects.Route {
	return []dialects.Route{
		{Pattern: "POST /v1/", Handler: d.forward, CallsModel: true},
		{Pattern: "/v1/", Handler: d.forward},
	}
}

// maxForwardJSON bounds a JSON answer the gateway reads to record the
// objects it made, meter its usage or filter its list.
const maxForwardJSON = 16 << 20

// maxErrorText bounds the plain-text error of an upstream the gateway
// quotes.
const maxErrorText = 1 << 10

// maxListPages bounds the upstream pages one filtered list reads.
const maxListPages = 10

func (d *Dialect) forward(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	rt := d.env.Engine
	ctx := r.Context()
	rel := strings.TrimPrefix(r.URL.Path, "/v1/")
	ids := pathIDs(rel)
	collection, _, _ := strings.Cut(rel, "/")
	body, err := readForwardBody(r, d.env.Limits.MaxBodyBytes, modellessForms[collection] || len(ids) > 0)
	if err != nil {
		return err
	}
	defer body.close()

	owners, err := d.checkOwners(ctx, p, ids, body)
	if err != nil {
		return err
	}
	up, err := d.forwardUpstream(p, r, body, ids, owners)
	if err != nil {
		return err
	}
	var metered, stripUsage bool
	if r.Method == http.MethodPost && streamUsageEndpoints[rel] && body.json != nil {
		if metered, stripUsage, err = body.askStreamUsage(); err != nil {
			return err
		}
	}
	if r.Method == http.MethodPost {
		if err := x.Admit(ctx, models.EstimateBody(body.json, body.model)); err != nil {
			return err
		}
	}
	if up.Model != "" {
		if err := body.withModel(up.Model); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, "http://upstream/", body.reader())
	if err != nil {
		return err
	}
	req.URL = &url.URL{Path: rel, RawPath: strings.TrimPrefix(r.URL.RawPath, "/v1/"), RawQuery: r.URL.RawQuery}
	req.ContentLength = body.length
	for _, h := range requestHeaders {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	acct := &forwardAccount{rt: rt, x: x, up: up, named: body.model != "", start: rt.Now()}
	resp, err := up.Forward(req)
	if err != nil {
		acct.done(ctx, adapters.AsError(err).CodeOrDefault())
		return err
	}
	defer resp.Body.Close()

	listing := r.Method == http.MethodGet && len(ids) == 0
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	ct := resp.Header.Get("Content-Type")
	hw := &headerWatch{ResponseWriter: w}
	w = hw
	switch {
	case ok && isJSON(ct):
		err = d.relayJSON(w, req, resp, p, up, acct, listing)
	case ok && metered && isEventStream(resp.Header):
		// A stream asked for its usage (askStreamUsage) goes event by
		// event, as on the raw lane, to drop the usage chunk the client
		// did not ask for; the upstream's model is left as it is.
		copyResponseHeaders(w.Header(), resp.Header)
		w.Header().Del("Content-Length")
		a := models.NewRawAnswer(rt.Now)
		err = relayStream(w, resp, a, nil, stripUsage)
		acct.usage, acct.reported = a.Usage, a.HasUsage
	case ok && strings.HasPrefix(ct, "text/event-stream"):
		var tap sseUsage
		copyResponseHeaders(w.Header(), resp.Header)
		w.Header().Set("Cache-Control", "no-cache, no-transform")
		w.WriteHeader(resp.StatusCode)
		err = relay(w, resp.Body, true, tap.observe)
		tap.finish()
		acct.usage, acct.reported = tap.usage, tap.found
	case resp.StatusCode == http.StatusUnauthorized:
		// The provider refused the gateway's key, not the client's: say
		// so, without the upstream's words (they quote the key).
		WriteError(w, &adapters.Error{Kind: adapters.KindUpstream, UpstreamStatus: resp.StatusCode, Code: "upstream_auth_failed",
			Message: "the upstream provider " + strconv.Quote(up.Provider) + " refused the gateway's credentials"})
	case !ok && resp.StatusCode >= 400 && !isJSON(ct):
		// SDKs read errors as OpenAI's JSON: an upstream's plain-text
		// error (a server's bare 404, a proxy's 502 page) becomes one.
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorText))
		WriteError(w, upstreamError(r, resp.StatusCode, msg))
	default:
		copyResponseHeaders(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		err = relay(w, resp.Body, resp.ContentLength < 0, nil)
	}
	status := statusCode(resp.StatusCode)
	if err != nil {
		status = "client_closed"
		if ctx.Err() == nil {
			status = "upstream_error"
		}
	}
	acct.done(ctx, status)
	if err == nil || hw.wrote {
		return nil // a relay cut short ends the response early: all that is left to do
	}
	if e, ok := err.(*adapters.Error); ok {
		return e
	}
	return &adapters.Error{Kind: adapters.KindUpstream, Message: "the upstream's answer could not be read"}
}

// upstreamError is an upstream's plain-text error in OpenAI's shape, with
// its status: a 404 is OpenAI's own "Invalid URL".
func upstreamError(r *http.Request, status int, text []byte) *adapters.Error {
	if status == http.StatusNotFound {
		return invalidURL(r.Method, r.URL.Path)
	}
	msg := strings.TrimSpace(strings.ToValidUTF8(string(text), "?"))
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &adapters.Error{Kind: kindOfStatus(status), UpstreamStatus: status, Code: statusCode(status),
		Message: "the upstream answered " + strconv.Itoa(status) + ": " + clip(msg)}
}

// kindOfStatus is the error kind whose status is the upstream's, or the
// nearest.
func kindOfStatus(status int) adapters.ErrorKind {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		// The provider's key was refused: the operator's problem.
		return adapters.KindUpstream
	case status == http.StatusTooManyRequests:
		return adapters.KindRateLimited
	case status == http.StatusRequestEntityTooLarge:
		return adapters.KindTooLarge
	case status == http.StatusConflict:
		return adapters.KindConflict
	case status == http.StatusServiceUnavailable:
		return adapters.KindUnavailable
	case status == http.StatusGatewayTimeout:
		return adapters.KindTimeout
	case status >= 500:
		return adapters.KindUpstream
	}
	return adapters.KindInvalidRequest
}

// headerWatch notes whether the response has begun.
type headerWatch struct {
	http.ResponseWriter
	wrote bool
}

func (h *headerWatch) WriteHeader(code int) {
	h.wrote = true
	h.ResponseWriter.WriteHeader(code)
}

func (h *headerWatch) Write(b []byte) (int, error) {
	h.wrote = true
	return h.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (Flush).
func (h *headerWatch) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// checkOwners refuses a request naming an object another tenant made, or
// one never made through the gateway: in its path or its body (404), or
// as its model (a fine-tuned model, 404 model_not_found).
func (d *Dialect) checkOwners(ctx context.Context, p *adapters.Principal, ids []string, body *forwardBody) (map[string]state.ObjectOwner, error) {
	lookup := append([]string(nil), ids...)
	for _, ref := range body.refs {
		lookup = append(lookup, ref.id)
	}
	if body.model != "" {
		lookup = append(lookup, body.model)
	}
	if len(lookup) == 0 {
		return nil, nil
	}
	owners, err := d.env.Engine.Store().ObjectOwners(ctx, lookup)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if o, ok := owners[id]; !ok || o.Tenant != p.Tenant {
			return nil, objectNotFound(id, "")
		}
	}
	for _, ref := range body.refs {
		if o, ok := owners[ref.id]; !ok || o.Tenant != p.Tenant {
			return nil, objectNotFound(ref.id, ref.field)
		}
	}
	if o, ok := owners[body.model]; ok && o.Tenant != p.Tenant {
		return nil, modelNotFound(body.model, &adapters.Error{Kind: adapters.KindNotFound})
	}
	return owners, nil
}

// forwardUpstream chooses where a request goes: where its model routes,
// else where the objects it names live, else the default provider.
func (d *Dialect) forwardUpstream(p *adapters.Principal, r *http.Request, body *forwardBody, ids []string, owners map[string]state.ObjectOwner) (*models.Upstream, error) {
	rt := d.env.Engine
	if body.model != "" {
		up, err := rt.UpstreamFor(p, body.model)
		if err != nil {
			return nil, modelNotFound(body.model, err)
		}
		if len(ids) > 0 && owners[ids[0]].Provider != up.Provider {
			return nil, adapters.BadField("model", "%q is served by provider %q, but %q lives at provider %q",
				clip(body.model), up.Provider, clip(ids[0]), owners[ids[0]].Provider)
		}
		return up, nil
	}
	name := ""
	if len(ids) > 0 {
		name = owners[ids[0]].Provider
	}
	up, ok := rt.Models().UpstreamNamed(name)
	if !ok {
		return nil, invalidURL(r.Method, r.URL.Path)
	}
	return up, nil
}

// relayJSON answers a 2xx JSON answer: the objects it made are recorded
// for the tenant (before the client can see their ids), a list is
// narrowed to the tenant's objects, usage is metered. An answer too big
// to read streams through untouched, except a list, which cannot be
// narrowed then and is refused.
func (d *Dialect) relayJSON(w http.ResponseWriter, req *http.Request, resp *http.Response, p *adapters.Principal, up *models.Upstream, acct *forwardAccount, listing bool) error {
	ctx := req.Context()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxForwardJSON+1))
	if err != nil {
		return err
	}
	if len(data) > maxForwardJSON {
		if listing {
			return &adapters.Error{Kind: adapters.KindUpstream, Message: "the upstream's list is too large to show only this tenant's objects; ask for fewer (limit)"}
		}
		copyResponseHeaders(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		if _, err := w.Write(data); err != nil {
			return err
		}
		return relay(w, resp.Body, false, nil)
	}
	if listing && gjson.GetBytes(data, "object").Str == "list" {
		if data, err = d.ownList(ctx, req, p, up, data); err != nil {
			return err
		}
	} else if err := d.recordMade(ctx, req.Method, p, up, data); err != nil {
		return err
	}
	acct.usage, acct.reported = jsonUsage(gjson.GetBytes(data, "usage"))
	copyResponseHeaders(w.Header(), resp.Header)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(resp.StatusCode)
	_, err = w.Write(data)
	return err
}

// recordMade records the objects an answer shows as the tenant's, and
// forgets one it reports deleted.
func (d *Dialect) recordMade(ctx context.Context, method string, p *adapters.Principal, up *models.Upstream, data []byte) error {
	store := d.env.Engine.Store()
	ids, deleted := madeIDs(data)
	if deleted != "" && method == http.MethodDelete {
		return store.ReleaseObject(ctx, p.Tenant, deleted)
	}
	if len(ids) == 0 {
		return nil
	}
	return store.ClaimObjects(ctx, p.Tenant, up.Provider, ids, d.env.Engine.Now())
}

// ownList narrows a list to the tenant's objects. A page left short is
// topped up from the upstream's next pages (up to maxListPages), so the
// client gets its limit, or at least one object, while more exist; the
// cursors (first_id, last_id) are the tenant's own objects.
func (d *Dialect) ownList(ctx context.Context, req *http.Request, p *adapters.Principal, up *models.Upstream, page []byte) ([]byte, error) {
	store := d.env.Engine.Store()
	limit, _ := strconv.Atoi(req.URL.Query().Get("limit"))
	first := page
	var kept [][]byte
	var keptIDs []string
	hasMore := false
	for pages := 1; ; pages++ {
		items := gjson.GetBytes(page, "data").Array()
		ids := make([]string, len(items))
		for i, it := range items {
			ids[i] = it.Get("id").Str
		}
		owners, err := store.ObjectOwners(ctx, ids)
		if err != nil {
			return nil, err
		}
		for i, it := range items {
			if o, ok := owners[ids[i]]; ok && o.Tenant == p.Tenant {
				kept = append(kept, []byte(it.Raw))
				keptIDs = append(keptIDs, ids[i])
			}
		}
		hasMore = gjson.GetBytes(page, "has_more").Bool()
		after := gjson.GetBytes(page, "last_id").Str
		if after == "" && len(ids) > 0 {
			after = ids[len(ids)-1]
		}
		if limit > 0 && len(kept) >= limit {
			hasMore = hasMore || len(kept) > limit
			kept, keptIDs = kept[:limit], keptIDs[:limit]
			break
		}
		if !hasMore || after == "" || (limit == 0 && len(kept) > 0) || pages >= maxListPages {
			break
		}
		next, ok, err := d.nextPage(ctx, req, up, after)
		if err != nil || !ok {
			break
		}
		page = next
	}
	out := append([]byte(`[`), bytes.Join(kept, []byte(","))...)
	out = append(out, ']')
	res, err := sjson.SetRawBytes(first, "data", out)
	if err != nil {
		return nil, err
	}
	firstID, lastID := any(nil), any(nil)
	if len(keptIDs) > 0 {
		firstID, lastID = keptIDs[0], keptIDs[len(keptIDs)-1]
	}
	for _, f := range []struct {
		path string
		v    any
	}{{"first_id", firstID}, {"last_id", lastID}, {"has_more", hasMore}} {
		if gjson.GetBytes(res, f.path).Exists() || f.path == "has_more" {
			if res, err = sjson.SetBytes(res, f.path, f.v); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// nextPage fetches the list page after cursor after.
func (d *Dialect) nextPage(ctx context.Context, req *http.Request, up *models.Upstream, after string) ([]byte, bool, error) {
	next := req.Clone(ctx)
	u := *req.URL
	q := u.Query()
	q.Set("after", after)
	u.RawQuery = q.Encode()
	next.URL, next.Body, next.ContentLength = &u, http.NoBody, 0
	resp, err := up.Forward(next)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !isJSON(resp.Header.Get("Content-Type")) {
		return nil, false, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxForwardJSON+1))
	if err != nil || len(data) > maxForwardJSON {
		return nil, false, err
	}
	return data, true, nil
}

// forwardAccount accounts one passed-through call to its request's
// exchange.
type forwardAccount struct {
	rt       *engine.Engine
	x        *exchange.Exchange
	up       *models.Upstream
	named    bool // the request named a model
	start    time.Time
	usage    adapters.Usage
	reported bool
}

// done records the call if it named a model or reported usage: object
// management (files, batches) is no model call.
func (a *forwardAccount) done(ctx context.Context, status string) {
	if !a.named && !a.reported {
		return
	}
	model := a.up.Model
	if model == "" {
		model = "-"
	}
	a.rt.Models().RecordForwarded(ctx, a.x, a.up.Provider, model, a.usage, a.rt.Now().Sub(a.start), status)
}

// statusCode is the usage record status of an upstream answer.
func statusCode(status int) string {
	switch {
	case status < 400:
		return "ok"
	case status == http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return "upstream_timeout"
	case status >= 500:
		return "upstream_error"
	}
	return "upstream_" + strconv.Itoa(status)
}
