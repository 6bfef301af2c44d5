package responses

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/state"
	"github.com/tidwall/gjson"
)

// The Conversations API, on the conversation store responses use:
//
//	POST   /conversations                       {items?, metadata?} → conversation
//	GET    /conversations/{id}                  → conversation
//	POST   /conversations/{id}                  {metadata} → conversation
//	DELETE /conversations/{id}                  → {id, object: conversation.deleted, deleted}
//	GET    /conversations/{id}/items            list (after, limit, order)
//	POST   /conversations/{id}/items            {items} → list of the items added
//	GET    /conversations/{id}/items/{item_id}  → item
//	DELETE /conversations/{id}/items/{item_id}  → conversation
//
// A response made with conversation: id sees the conversation's items and
// adds its input and output to them; resp_{id} as a previous_response_id
// branches off the conversation as it stands.

// maxAddedItems bounds the items one request adds, as OpenAI does.
const maxAddedItems = 20

// conversationBody is a create or update request.
type conversationBody struct {
	Items    json.RawMessage `json:"items"`
	Metadata json.RawMessage `json:"metadata"`
}

// decodeItems validates items a client adds (input items: messages,
// function calls, their outputs) and gives them ids.
func decodeItems(field string, raw json.RawMessage, limits dialects.Limits, required bool) ([]state.ConversationItem, error) {
	if isNull(raw) {
		if required {
			return nil, missing(field, "is required: an array of items")
		}
		return nil, nil
	}
	if raw = compact(raw); raw == nil || raw[0] != '[' {
		return nil, adapters.BadField(field, "must be an array of items")
	}
	if n := len(gjson.ParseBytes(raw).Array()); n > maxAddedItems {
		return nil, adapters.BadField(field, "may hold at most %d items, got %d", maxAddedItems, n)
	} else if n == 0 {
		if required {
			return nil, missing(field, "must hold at least one item")
		}
		return nil, nil
	}
	var d decoded
	if err := decodeInput(&d, raw, limits); err != nil {
		e := adapters.AsError(err)
		renamed := *e
		if len(e.Param) >= len("input") && e.Param[:len("input")] == "input" {
			renamed.Param = field + e.Param[len("input"):]
			renamed.Message = field + e.Message[len("input"):]
		}
		return nil, &renamed
	}
	items, err := normalizeItems(raw)
	if err != nil {
		return nil, adapters.BadField(field, "must be an array of items")
	}
	out := make([]state.ConversationItem, len(items))
	for i, it := range items {
		id := gjson.GetBytes(it, "id")
		if id.Type != gjson.String || id.Str == "" {
			return nil, adapters.BadField(field+"["+strconv.Itoa(i)+"].id", "must be a non-empty string")
		}
		out[i] = state.ConversationItem{ID: id.Str, Item: it}
	}
	return out, nil
}

func conversationNotFound(id string) *adapters.Error {
	return &adapters.Error{Kind: adapters.KindNotFound, Code: "conversation_not_found", Param: "conversation_id",
		Message: "Conversation with id " + q(id) + " not found."}
}

// notFoundAs turns ErrNotFound into nf.
func notFoundAs(err error, nf *adapters.Error) error {
	if errors.Is(err, state.ErrNotFound) {
		return nf
	}
	return err
}

// appendConversation writes a conversation object.
func appendConversation(b []byte, c *state.Conversation) []byte {
	b = append(b, `{"id":`...)
	b = dialects.AppendString(b, c.ID)
	b = append(b, `,"object":"conversation","created_at":`...)
	b = strconv.AppendInt(b, c.Created.Unix(), 10)
	b = append(b, `,"metadata":`...)
	if len(c.Metadata) == 0 {
		b = append(b, "{}"...)
	} else {
		b = append(b, c.Metadata...)
	}
	return append(b, '}')
}

func (d *Dialect) createConversation(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	var req conversationBody
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	if len(body) > 0 {
		if err := dialects.Unmarshal(body, &req); err != nil {
			return err
		}
	}
	items, err := decodeItems("items", req.Items, d.env.Limits, false)
	if err != nil {
		return err
	}
	c := &state.Conversation{ID: adapters.NewID("conv_"), Tenant: p.Tenant, Created: d.env.Engine.Now()}
	if !isNull(req.Metadata) {
		md, err := decodeMetadata(req.Metadata)
		if err != nil {
			return err
		}
		c.Metadata = md
	}
	if err := d.env.Engine.Store().CreateConversation(r.Context(), c, items); err != nil {
		return err
	}
	dialects.WriteRawJSON(w, http.StatusOK, appendConversation(nil, c))
	return nil
}

func (d *Dialect) getConversation(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	id := r.PathValue("id")
	c, err := d.env.Engine.Store().GetConversation(r.Context(), p.Tenant, id)
	if err != nil {
		return notFoundAs(err, conversationNotFound(id))
	}
	dialects.WriteRawJSON(w, http.StatusOK, appendConversation(nil, c))
	return nil
}

func (d *Dialect) updateConversation(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	id := r.PathValue("id")
	var req conversationBody
	if _, err := dialects.DecodeJSON(r, d.env.Limits.MaxBodyBytes, &req); err != nil {
		return err
	}
	if isNull(req.Metadata) {
		return missing("metadata", "is required: the conversation's new metadata")
	}
	md, err := decodeMetadata(req.Metadata)
	if err != nil {
		return err
	}
	c, err := d.env.Engine.Store().SetConversationMetadata(r.Context(), p.Tenant, id, md)
	if err != nil {
		return notFoundAs(err, conversationNotFound(id))
	}
	dialects.WriteRawJSON(w, http.StatusOK, appendConversation(nil, c))
	return nil
}

func (d *Dialect) deleteConversation(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	id := r.PathValue("id")
	if err := d.env.Engine.Store().DeleteConversation(r.Context(), p.Tenant, id); err != nil {
		return notFoundAs(err, conversationNotFound(id))
	}
	b := append([]byte(`{"id":`), dialects.AppendString(nil, id)...)
	dialects.WriteRawJSON(w, http.StatusOK, append(b, `,"object":"conversation.deleted","deleted":true}`...))
	return nil
}

func (d *Dialect) listConversationItems(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	id := r.PathValue("id")
	page, err := decodeListPage(r.URL.Query(), true)
	if err != nil {
		return err
	}
	if page.before != "" {
		return adapters.BadField("before", "is not a parameter of conversation items; page with after")
	}
	items, more, err := d.env.Engine.Store().ConversationItems(r.Context(), p.Tenant, id,
		state.ItemPage{After: page.after, Limit: page.limit, Desc: page.desc})
	if err != nil {
		return notFoundAs(err, conversationNotFound(id))
	}
	raw := make([]json.RawMessage, len(items))
	for i, it := range items {
		raw[i] = it.Item
	}
	writeItemList(w, itemPage{items: raw, more: more})
	return nil
}

func (d *Dialect) addConversationItems(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	id := r.PathValue("id")
	if err := checkIncludeQuery(r.URL.Query()); err != nil {
		return err
	}
	var req conversationBody
	if _, err := dialects.DecodeJSON(r, d.env.Limits.MaxBodyBytes, &req); err != nil {
		return err
	}
	items, err := decodeItems("items", req.Items, d.env.Limits, true)
	if err != nil {
		return err
	}
	added, err := d.env.Engine.Store().AppendConversationItems(r.Context(), p.Tenant, id, items)
	if err != nil {
		return notFoundAs(err, conversationNotFound(id))
	}
	raw := make([]json.RawMessage, len(added))
	for i, it := range added {
		raw[i] = it.Item
	}
	writeItemList(w, itemPage{items: raw})
	return nil
}

func itemNotFound(id string) *adapters.Error {
	return &adapters.Error{Kind: adapters.KindNotFound, Code: "item_not_found", Param: "item_id",
		Message: "Item with id " + q(id) + " not found."}
}

func (d *Dialect) getConversationItem(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	id, itemID := r.PathValue("id"), r.PathValue("item_id")
	store := d.env.Engine.Store()
	if _, err := store.GetConversation(r.Context(), p.Tenant, id); err != nil {
		return notFoundAs(err, conversationNotFound(id))
	}
	it, err := store.ConversationItem(r.Context(), p.Tenant, id, itemID)
	if err != nil {
		return notFoundAs(err, itemNotFound(itemID))
	}
	dialects.WriteRawJSON(w, http.StatusOK, it.Item)
	return nil
}

func (d *Dialect) deleteConversationItem(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	id, itemID := r.PathValue("id"), r.PathValue("item_id")
	store := d.env.Engine.Store()
	c, err := store.GetConversation(r.Context(), p.Tenant, id)
	if err != nil {
		return notFoundAs(err, conversationNotFound(id))
	}
	if err := store.DeleteConversationItem(r.Context(), p.Tenant, id, itemID); err != nil {
		return notFoundAs(err, itemNotFound(itemID))
	}
	dialects.WriteRawJSON(w, http.StatusOK, appendConversation(nil, c))
	return nil
}
