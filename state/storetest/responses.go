package storetest

import (
	"errors"
	"testing"

	"github.com/agentgate/agentgate/state"
)

var responseTests = []Test{{Name: "PutGet", Fn: testStoredResponses}, single("Nodes", testResponseNodes)}

func testStoredResponses(t *testing.T, s, twin state.Store) {
	if _, err := s.GetResponse(ctx, "t1", "conv_1"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("get before any: %v", err)
	}
	r := &state.StoredResponse{ID: "conv_1", Tenant: "t1", AgentID: "bot", Version: 3, Body: []byte(`{"id":"resp_conv_1","n":1}`), Updated: day}
	must(t, s.PutResponse(ctx, r))
	r.Body = []byte(`{"id":"resp_conv_1","n":2}`)
	must(t, s.PutResponse(ctx, r))
	if err := s.PutResponse(ctx, &state.StoredResponse{ID: "", Tenant: "t1"}); !errors.Is(err, state.ErrInvalidID) {
		t.Errorf("empty id: %v", err)
	}
	// Read through the other instance; tenant-scoped.
	got, err := twin.GetResponse(ctx, "t1", "conv_1")
	if err != nil || string(got.Body) != `{"id":"resp_conv_1","n":2}` || got.AgentID != "bot" || got.Version != 3 || !got.Updated.Equal(day) {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := twin.GetResponse(ctx, "t2", "conv_1"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("other tenant: %v", err)
	}
}
