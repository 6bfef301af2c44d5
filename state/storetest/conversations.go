package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

func convItems(ids ...string) []state.ConversationItem {
	out := make([]state.ConversationItem, len(ids))
	for i, id := range ids {
		out[i] = state.ConversationItem{ID: id, Item: json.RawMessage(`{"id":"` + id + `","type":"message"}`)}
	}
	return out
}

func itemIDs(items []state.ConversationItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

var conversationTests = []Test{single("Items", testConversations), {Name: "ConcurrentAppend", Fn: testConversationConcurrentAppend}}

// testConversations: items keep their order and numbers, pages select by
// cursor, direction, bound and limit, deletions, tenant isolation.
func testConversations(t *testing.T, s state.Store) {
	ctx := context.Background()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	c := &state.Conversation{ID: "conv_1", Tenant: "t1", Metadata: json.RawMessage(`{"topic":"x"}`), Created: at}
	must(t, s.CreateConversation(ctx, c, convItems("a", "b")))
	if c.LastSeq != 2 {
		t.Errorf("LastSeq after create = %d", c.LastSeq)
	}
	wantErr(t, "create twice", s.CreateConversation(ctx, &state.Conversation{ID: "conv_1", Tenant: "t1", Created: at}, nil), state.ErrExists)
	got, err := s.GetConversation(ctx, "t1", "conv_1")
	must(t, err)
	if !got.Created.Equal(at) || string(got.Metadata) != `{"topic":"x"}` || got.LastSeq != 2 {
		t.Errorf("GetConversation = %+v", got)
	}
	added, err := s.AppendConversationItems(ctx, "t1", "conv_1", convItems("c", "d", "e"))
	must(t, err)
	if added[0].Seq != 3 || added[2].Seq != 5 {
		t.Errorf("appended seqs %v", added)
	}
	for _, tc := range []struct {
		name string
		page state.ItemPage
		want []string
		more bool
	}{
		{"all", state.ItemPage{}, []string{"a", "b", "c", "d", "e"}, false},
		{"desc", state.ItemPage{Desc: true}, []string{"e", "d", "c", "b", "a"}, false},
		{"limit", state.ItemPage{Limit: 2}, []string{"a", "b"}, true},
		{"after", state.ItemPage{After: "b", Limit: 2}, []string{"c", "d"}, true},
		{"after desc", state.ItemPage{After: "d", Desc: true}, []string{"c", "b", "a"}, false},
		{"before", state.ItemPage{Before: "c"}, []string{"a", "b"}, false},
		{"up to", state.ItemPage{UpTo: 3, Desc: true}, []string{"c", "b", "a"}, false},
		{"unknown cursor", state.ItemPage{After: "zz"}, nil, false},
	} {
		items, more, err := s.ConversationItems(ctx, "t1", "conv_1", tc.page)
		must(t, err)
		if !slices.Equal(itemIDs(items), tc.want) || more != tc.more {
			t.Errorf("%s: %v more=%v, want %v more=%v", tc.name, itemIDs(items), more, tc.want, tc.more)
		}
	}
	it, err := s.ConversationItem(ctx, "t1", "conv_1", "d")
	must(t, err)
	if it.Seq != 4 || string(it.Item) != `{"id":"d","type":"message"}` {
		t.Errorf("item d = %+v", it)
	}
	must(t, s.DeleteConversationItem(ctx, "t1", "conv_1", "b"))
	wantErr(t, "delete a deleted item", s.DeleteConversationItem(ctx, "t1", "conv_1", "b"), state.ErrNotFound)
	items, _, err := s.ConversationItems(ctx, "t1", "conv_1", state.ItemPage{})
	must(t, err)
	if !slices.Equal(itemIDs(items), []string{"a", "c", "d", "e"}) {
		t.Errorf("after deleting b: %v", itemIDs(items))
	}
	// Numbers are never reused.
	added, err = s.AppendConversationItems(ctx, "t1", "conv_1", convItems("f"))
	must(t, err)
	if added[0].Seq != 6 {
		t.Errorf("seq after a deletion = %d", added[0].Seq)
	}
	upd, err := s.SetConversationMetadata(ctx, "t1", "conv_1", json.RawMessage(`{"topic":"y"}`))
	must(t, err)
	if string(upd.Metadata) != `{"topic":"y"}` || upd.LastSeq != 6 {
		t.Errorf("updated %+v", upd)
	}

	// Tenant isolation: another tenant's id is not found, by any method.
	_, err = s.GetConversation(ctx, "t2", "conv_1")
	wantErr(t, "get from t2", err, state.ErrNotFound)
	_, _, err = s.ConversationItems(ctx, "t2", "conv_1", state.ItemPage{})
	wantErr(t, "items from t2", err, state.ErrNotFound)
	_, err = s.AppendConversationItems(ctx, "t2", "conv_1", convItems("x"))
	wantErr(t, "append from t2", err, state.ErrNotFound)
	_, err = s.ConversationItem(ctx, "t2", "conv_1", "a")
	wantErr(t, "item from t2", err, state.ErrNotFound)
	wantErr(t, "delete item from t2", s.DeleteConversationItem(ctx, "t2", "conv_1", "a"), state.ErrNotFound)
	_, err = s.SetConversationMetadata(ctx, "t2", "conv_1", nil)
	wantErr(t, "update from t2", err, state.ErrNotFound)
	wantErr(t, "delete from t2", s.DeleteConversation(ctx, "t2", "conv_1"), state.ErrNotFound)

	// A conversation with an id sharing a prefix keeps its own items.
	must(t, s.CreateConversation(ctx, &state.Conversation{ID: "conv_10", Tenant: "t1", Created: at}, convItems("z")))
	must(t, s.DeleteConversation(ctx, "t1", "conv_1"))
	_, _, err = s.ConversationItems(ctx, "t1", "conv_1", state.ItemPage{})
	wantErr(t, "items of a deleted conversation", err, state.ErrNotFound)
	items, _, err = s.ConversationItems(ctx, "t1", "conv_10", state.ItemPage{})
	must(t, err)
	if !slices.Equal(itemIDs(items), []string{"z"}) {
		t.Errorf("conv_10 after deleting conv_1: %v", itemIDs(items))
	}
	if err := s.CreateConversation(ctx, &state.Conversation{ID: "", Tenant: "t1"}, nil); !errors.Is(err, state.ErrInvalidID) {
		t.Errorf("empty id: %v", err)
	}
}

// testConversationConcurrentAppend: concurrent appends, through both
// instances, each keep their items together and none is lost.
func testConversationConcurrentAppend(t *testing.T, s, twin state.Store) {
	ctx := context.Background()
	must(t, s.CreateConversation(ctx, &state.Conversation{ID: "conv_c", Tenant: "t1", Created: time.Now()}, nil))
	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		via := s
		if w%2 == 1 {
			via = twin
		}
		go func() {
			defer wg.Done()
			if _, err := via.AppendConversationItems(ctx, "t1", "conv_c", convItems(fmt.Sprint(w, "-1"), fmt.Sprint(w, "-2"))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	items, _, err := s.ConversationItems(ctx, "t1", "conv_c", state.ItemPage{})
	must(t, err)
	if len(items) != 2*workers {
		t.Fatalf("%d items, want %d", len(items), 2*workers)
	}
	for i := 0; i < len(items); i += 2 {
		a, b := items[i], items[i+1]
		if a.ID[:len(a.ID)-2] != b.ID[:len(b.ID)-2] || a.Seq+1 != b.Seq || a.Seq != int64(i+1) {
			t.Errorf("items %d,%d = %s(%d) %s(%d): an append was split or misnumbered", i, i+1, a.ID, a.Seq, b.ID, b.Seq)
		}
	}
}

// testResponseNodes: a response node keeps its links, turn and items;
// deleting it leaves the responses that continue it.
func testResponseNodes(t *testing.T, s state.Store) {
	ctx := context.Background()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	root := &state.StoredResponse{ID: "conv_r1", Tenant: "t1", AgentID: "bot", Body: json.RawMessage(`{"id":"resp_conv_r1"}`),
		Turn:       []adapters.Message{adapters.TextMessage(adapters.RoleUser, "hi"), adapters.TextMessage(adapters.RoleAssistant, "hello")},
		InputItems: json.RawMessage(`[{"id":"msg_1"}]`), Created: at, Updated: at,
		Base: []adapters.Message{adapters.TextMessage(adapters.RoleUser, "earlier")}}
	child := &state.StoredResponse{ID: "conv_r2", Tenant: "t1", AgentID: "bot", Body: json.RawMessage(`{"id":"resp_conv_r2"}`),
		Previous: "conv_r1", Conversation: "conv_x", ConversationSeq: 7, Turn: []adapters.Message{}, Created: at}
	must(t, s.PutResponse(ctx, root))
	must(t, s.PutResponse(ctx, child))
	got, err := s.GetResponse(ctx, "t1", "conv_r2")
	must(t, err)
	if got.Previous != "conv_r1" || got.Conversation != "conv_x" || got.ConversationSeq != 7 || !got.Node() {
		t.Errorf("child = %+v", got)
	}
	got, err = s.GetResponse(ctx, "t1", "conv_r1")
	must(t, err)
	equalJSON(t, "root", got, root)
	_, err = s.GetResponse(ctx, "t2", "conv_r1")
	wantErr(t, "get from t2", err, state.ErrNotFound)
	wantErr(t, "delete from t2", s.DeleteResponse(ctx, "t2", "conv_r1"), state.ErrNotFound)
	must(t, s.DeleteResponse(ctx, "t1", "conv_r1"))
	wantErr(t, "delete twice", s.DeleteResponse(ctx, "t1", "conv_r1"), state.ErrNotFound)
	_, err = s.GetResponse(ctx, "t1", "conv_r1")
	wantErr(t, "get deleted", err, state.ErrNotFound)
	if _, err := s.GetResponse(ctx, "t1", "conv_r2"); err != nil {
		t.Errorf("the child of a deleted response: %v", err)
	}
}
