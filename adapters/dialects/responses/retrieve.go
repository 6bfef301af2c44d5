package responses

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/state"
	"github.com/tidwall/gjson"
)

// stored loads the tenant's stored response named by the path's id.
func (d *Dialect) stored(r *http.Request, p *adapters.Principal) (*state.StoredResponse, error) {
	id := r.PathValue("id")
	notFound := &adapters.Error{Kind: adapters.KindNotFound, Code: "response_not_found", Param: "response_id",
		Message: "Response with id " + q(id) + " not found."}
	nid, ok := strings.CutPrefix(id, idPrefix)
	if !ok || nid == "" {
		return nil, notFound
	}
	rec, err := d.env.Engine.Store().GetResponse(r.Context(), p.Tenant, nid)
	if errors.Is(err, state.ErrNotFound) {
		return nil, notFound
	}
	return rec, err
}

// retrieve answers GET /responses/{id}: that response, as it was
// answered. Streaming it again is for background responses, which the
// gateway does not make.
func (d *Dialect) retrieve(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	q := r.URL.Query()
	if s := q.Get("stream"); s != "" && s != "false" {
		return adapters.BadField("stream", "only background responses can be streamed again, and the gateway makes none")
	}
	if err := checkIncludeQuery(q); err != nil {
		return err
	}
	rec, err := d.stored(r, p)
	if err != nil {
		return err
	}
	dialects.WriteRawJSON(w, http.StatusOK, rec.Body)
	return nil
}

// deleteResponse answers DELETE /responses/{id}. Responses that continue
// the deleted one keep their own turns; their context ends where it was.
func (d *Dialect) deleteResponse(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	rec, err := d.stored(r, p)
	if err != nil {
		return err
	}
	if err := d.env.Engine.Store().DeleteResponse(r.Context(), p.Tenant, rec.ID); err != nil && !errors.Is(err, state.ErrNotFound) {
		return err
	}
	b := append([]byte(`{"id":`), dialects.AppendString(nil, idPrefix+rec.ID)...)
	dialects.WriteRawJSON(w, http.StatusOK, append(b, `,"object":"response","deleted":true}`...))
	return nil
}

// inputItems answers GET /responses/{id}/input_items: the items the
// response was generated from (its context, then its input), in OpenAI's
// list shape, paged with after, before, limit and order.
func (d *Dialect) inputItems(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	page, err := decodeListPage(r.URL.Query(), true)
	if err != nil {
		return err
	}
	rec, err := d.stored(r, p)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var items []json.RawMessage
	if rec.Node() {
		agent, err := d.env.Engine.Agents().Get(ctx, p, rec.AgentID)
		turns := adapters.DefaultHistoryTurns
		if err == nil {
			turns = historyTurns(agent)
		}
		segs, err := d.context(ctx, p.Tenant, rec, turns)
		if err != nil {
			return err
		}
		items = append(itemsOfSegments(segs), splitItems(rec.InputItems)...)
	} else if items, err = d.legacyItems(ctx, rec); err != nil {
		return err
	}
	writeItemList(w, page.apply(items))
	return nil
}

// listPage is a page of an OpenAI cursor list: after and before (item
// ids), limit (1 to 100, default 20), order (asc or desc).
type listPage struct {
	after, before string
	limit         int
	desc          bool
}

// decodeListPage reads a list's query; desc is the default order.
func decodeListPage(q url.Values, desc bool) (listPage, error) {
	page := listPage{after: q.Get("after"), before: q.Get("before"), limit: 20, desc: desc}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return page, adapters.BadField("limit", "must be an integer from 1 to 100, got %q", clip(s))
		}
		page.limit = n
	}
	switch o := q.Get("order"); o {
	case "":
	case "asc":
		page.desc = false
	case "desc":
		page.desc = true
	default:
		return page, adapters.BadField("order", "must be asc or desc, got %q", clip(o))
	}
	return page, checkIncludeQuery(q)
}

// checkIncludeQuery checks include[] (or include) query values.
func checkIncludeQuery(q url.Values) error {
	for _, key := range []string{"include[]", "include"} {
		for i, v := range q[key] {
			if !includable[v] {
				return adapters.BadField(key+"["+strconv.Itoa(i)+"]", "unsupported value %q", clip(v))
			}
		}
	}
	return nil
}

// itemPage is a page of items and whether more follow it.
type itemPage struct {
	items []json.RawMessage
	more  bool
}

// apply pages items (oldest first); a cursor naming no item selects
// nothing.
func (p listPage) apply(items []json.RawMessage) itemPage {
	if p.desc {
		items = slices.Clone(items)
		slices.Reverse(items)
	}
	find := func(id string) int {
		for i, it := range items {
			if gjson.GetBytes(it, "id").Str == id {
				return i
			}
		}
		return -1
	}
	if p.after != "" {
		i := find(p.after)
		if i < 0 {
			return itemPage{}
		}
		items = items[i+1:]
	}
	if p.before != "" {
		i := find(p.before)
		if i < 0 {
			return itemPage{}
		}
		items = items[:i]
	}
	if len(items) > p.limit {
		return itemPage{items: items[:p.limit], more: true}
	}
	return itemPage{items: items}
}

// writeItemList answers a page of items in OpenAI's list shape.
func writeItemList(w http.ResponseWriter, page itemPage) {
	b := append([]byte(`{"object":"list","data":`), joinItems(page.items)...)
	b = append(b, `,"first_id":`...)
	if len(page.items) > 0 {
		b = dialects.AppendString(b, gjson.GetBytes(page.items[0], "id").Str)
		b = append(b, `,"last_id":`...)
		b = dialects.AppendString(b, gjson.GetBytes(page.items[len(page.items)-1], "id").Str)
	} else {
		b = append(b, `null,"last_id":null`...)
	}
	b = append(b, `,"has_more":`...)
	b = strconv.AppendBool(b, page.more)
	dialects.WriteRawJSON(w, http.StatusOK, append(b, '}'))
}
