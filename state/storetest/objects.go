package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentgate/agentgate/state"
)

var objectTests = []Test{{Name: "Owners", Fn: testObjects}}

// testObjects: owners are first come, looked up in bulk, released only
// by their own tenant.
func testObjects(t *testing.T, s, twin state.Store) {
	ctx := context.Background()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	must(t, s.ClaimObjects(ctx, "t1", "openai", []string{"file-1", "batch_1"}, at))
	// Another tenant cannot take an owned id, on any instance; its new
	// one is its own.
	must(t, twin.ClaimObjects(ctx, "t2", "other", []string{"file-1", "file-2"}, at.Add(time.Hour)))
	// Claiming again changes nothing.
	must(t, s.ClaimObjects(ctx, "t1", "openai", []string{"file-1"}, at.Add(2*time.Hour)))
	got, err := s.ObjectOwners(ctx, []string{"file-1", "batch_1", "file-2", "file-unknown"})
	must(t, err)
	want := map[string]state.ObjectOwner{
		"file-1":  {Tenant: "t1", Provider: "openai", Created: at},
		"batch_1": {Tenant: "t1", Provider: "openai", Created: at},
		"file-2":  {Tenant: "t2", Provider: "other", Created: at.Add(time.Hour)},
	}
	if len(got) != len(want) {
		t.Fatalf("owners = %v, want %v", got, want)
	}
	for id, w := range want {
		if g := got[id]; g.Tenant != w.Tenant || g.Provider != w.Provider || !g.Created.Equal(w.Created) {
			t.Errorf("%s: owner %+v, want %+v", id, g, w)
		}
	}
	// Only the owner releases.
	must(t, s.ReleaseObject(ctx, "t2", "file-1"))
	must(t, s.ReleaseObject(ctx, "t1", "batch_1"))
	must(t, s.ReleaseObject(ctx, "t1", "never-claimed"))
	got, err = s.ObjectOwners(ctx, []string{"file-1", "batch_1"})
	must(t, err)
	if _, ok := got["batch_1"]; ok || got["file-1"].Tenant != "t1" {
		t.Errorf("after releases: %v", got)
	}
	if got, err := s.ObjectOwners(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("no ids: %v %v", got, err)
	}
	if err := s.ClaimObjects(ctx, "t1", "openai", []string{""}, at); !errors.Is(err, state.ErrInvalidID) {
		t.Errorf("empty id: %v, want ErrInvalidID", err)
	}
}
