package responses

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
	"github.com/tidwall/gjson"
)

// Conversation trees. Every response is a node: its id is resp_{node},
// the node's id naming the conversation that ends with it (the
// document's resp_{conversationId}). A node keeps its own turn and where
// its context comes from: the node it continues (Previous), a
// conversation of the Conversations API up to some item (Conversation),
// or a copy of a conversation kept elsewhere (Base). Continuing a response
// adds a child; two continuations of one response are siblings, and
// neither's turns ever reach the other's context.

// maxConversationItems bounds the items of a Conversations API
// conversation a response sees (its newest).
const maxConversationItems = 1000

// segment is one stretch of a conversation: what the model sees of it
// and the items a client lists for it.
type segment struct {
	msgs  []adapters.Message
	items []json.RawMessage
}

// origin is where a new response's context comes from, as a request
// named it: the links its node keeps, and the response it continues.
type origin struct {
	// prev is the stored response continued (its version and pending
	// calls carry over), nil otherwise.
	prev *state.StoredResponse
	// link is the node the new response would be: its Previous,
	// Conversation and Base set.
	link state.StoredResponse
	// join adds the response's items to link.Conversation (the request's
	// conversation parameter, not a previous_response_id naming one).
	join bool
}

// historyTurns is how many earlier responses (turns) of a conversation
// the model sees: the agent's history_turns, or the default.
func historyTurns(a *adapters.Agent) int {
	if a.NoHistory {
		return 0
	}
	if a.HistoryTurns > 0 {
		return a.HistoryTurns
	}
	return adapters.DefaultHistoryTurns
}

// context returns the conversation before node n, oldest first: at most
// turns responses (and what their chain rests on), fewer when an
// ancestor was deleted. turns < 0 means no bound.
func (d *Dialect) context(ctx context.Context, tenant string, n *state.StoredResponse, turns int) ([]segment, error) {
	store := d.env.Engine.Store()
	var segs []segment // newest first
	cur := n
	for count := 0; turns < 0 || count < turns; {
		switch {
		case cur.Previous != "":
			prev, err := store.GetResponse(ctx, tenant, cur.Previous)
			if errors.Is(err, state.ErrNotFound) {
				return reverse(segs), nil // an ancestor was deleted: the chain ends there
			}
			if err != nil {
				return nil, err
			}
			segs = append(segs, nodeSegment(prev))
			count++
			cur = prev
			continue
		case cur.Conversation != "":
			seg, err := d.conversationSegment(ctx, tenant, cur.Conversation, cur.ConversationSeq)
			if err != nil {
				return nil, err
			}
			segs = append(segs, seg)
		case cur.Base != nil:
			segs = append(segs, segment{msgs: cur.Base, items: messageItems(cur.Base, seededIDs(cur.ID+"/base"))})
		}
		break
	}
	return reverse(segs), nil
}

func reverse(segs []segment) []segment {
	slices.Reverse(segs)
	return segs
}

// nodeSegment is a stored node's own stretch: its input and its output.
func nodeSegment(n *state.StoredResponse) segment {
	items := splitItems(n.InputItems)
	for _, it := range gjson.GetBytes(n.Body, "output").Array() {
		items = append(items, json.RawMessage(it.Raw))
	}
	return segment{msgs: n.Turn, items: items}
}

// conversationSegment is a Conversations API conversation's items up to
// upTo (0: all), its newest maxConversationItems. A conversation deleted
// since is empty.
func (d *Dialect) conversationSegment(ctx context.Context, tenant, id string, upTo int64) (segment, error) {
	items, _, err := d.env.Engine.Store().ConversationItems(ctx, tenant, id,
		state.ItemPage{UpTo: upTo, Desc: true, Limit: maxConversationItems})
	if errors.Is(err, state.ErrNotFound) {
		return segment{}, nil
	}
	if err != nil {
		return segment{}, err
	}
	raw := make([]json.RawMessage, len(items))
	for i, it := range items {
		raw[len(items)-1-i] = it.Item
	}
	msgs, err := itemsOf(raw, d.env.Limits)
	if err != nil {
		return segment{}, err
	}
	return segment{msgs: msgs, items: raw}, nil
}

func messagesOf(segs []segment) []adapters.Message {
	var out []adapters.Message
	for _, s := range segs {
		out = append(out, s.msgs...)
	}
	return out
}

func itemsOfSegments(segs []segment) []json.RawMessage {
	var out []json.RawMessage
	for _, s := range segs {
		out = append(out, s.items...)
	}
	return out
}

// legacyItems are the items of a response stored before responses were
// nodes: its session's messages up to the response's own input (the
// latest answer is the response's output, not its input).
func (d *Dialect) legacyItems(ctx context.Context, r *state.StoredResponse) ([]json.RawMessage, error) {
	msgs, err := d.env.Engine.Store().RecentTurns(ctx, state.SessionKey{Tenant: r.Tenant, AgentID: r.AgentID, ID: r.ID}, adapters.DefaultHistoryTurns)
	if err != nil {
		return nil, err
	}
	last := len(msgs)
	for last > 0 && msgs[last-1].Role != adapters.RoleUser && msgs[last-1].Role != adapters.RoleTool {
		last--
	}
	return messageItems(msgs[:last], seededIDs(r.ID+"/legacy")), nil
}
