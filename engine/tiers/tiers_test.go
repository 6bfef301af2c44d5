package tiers

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/agentgate/agentgate/internal/enginetest"
	"github.com/agentgate/agentgate/state"
)

var (
	tierFree = state.Tier{Name: "free", MonthlyTokens: 1000, RPM: 10}
	tierPro  = state.Tier{Name: "pro", MonthlyTokens: 100000, RPM: 100, Concurrent: 4}
)

func tierNames(list []state.Tier) []string {
	out := make([]string, len(list))
	for i, tr := range list {
		out[i] = tr.Name
	}
	return out
}

func TestTiersDeclared(t *testing.T) {
	tests := []struct {
		name      string
		declared  []state.Tier
		wantEmpty bool
		wantList  []string
	}{
		{"none", nil, true, []string{}},
		{"some", []state.Tier{tierPro, tierFree}, false, []string{"free", "pro"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tiers := New(tc.declared...)
			if tiers.Empty() != tc.wantEmpty {
				t.Errorf("Empty = %v, want %v", tiers.Empty(), tc.wantEmpty)
			}
			if got := tierNames(tiers.List()); !reflect.DeepEqual(got, tc.wantList) {
				t.Errorf("List = %q, want %q", got, tc.wantList)
			}
			for _, tr := range tc.declared {
				if got, ok := tiers.Get(tr.Name); !ok || !reflect.DeepEqual(got, tr) {
					t.Errorf("Get(%q) = %+v, %v; want %+v", tr.Name, got, ok, tr)
				}
			}
			if _, ok := tiers.Get("enterprise"); ok {
				t.Error("Get of an unknown tier succeeded")
			}
		})
	}
}

func TestTiersOverrides(t *testing.T) {
	ctx := context.Background()
	store := enginetest.OpenStore(t)
	tiers := New(tierFree, tierPro)

	proOverride := state.Tier{Name: "pro", MonthlyTokens: 5, RPM: 1}
	team := state.Tier{Name: "team", TPM: 1000}
	for _, tr := range []state.Tier{proOverride, team} {
		if err := tiers.Put(ctx, store, tr); err != nil {
			t.Fatalf("Put(%s): %v", tr.Name, err)
		}
	}
	checks := []struct {
		name string
		want state.Tier
	}{
		{"free", tierFree},
		{"pro", proOverride},
		{"team", team},
	}
	for _, c := range checks {
		if got, ok := tiers.Get(c.name); !ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("Get(%q) = %+v, %v; want %+v", c.name, got, ok, c.want)
		}
	}
	if got, want := tiers.List(), []state.Tier{tierFree, proOverride, team}; !reflect.DeepEqual(got, want) {
		t.Errorf("List = %+v\nwant %+v", got, want)
	}
	stored, err := store.ListTiers(ctx)
	if err != nil {
		t.Fatalf("ListTiers: %v", err)
	}
	if len(stored) != 2 || !reflect.DeepEqual(*stored[0], proOverride) || !reflect.DeepEqual(*stored[1], team) {
		t.Errorf("stored tiers = %+v, want the two overrides", stored)
	}

	// Deleting an override brings the declared tier back.
	if err := tiers.Delete(ctx, store, "pro"); err != nil {
		t.Fatalf("Delete(pro): %v", err)
	}
	if got, ok := tiers.Get("pro"); !ok || !reflect.DeepEqual(got, tierPro) {
		t.Errorf("Get(pro) after Delete = %+v, %v; want the declared %+v", got, ok, tierPro)
	}
	if err := tiers.Delete(ctx, store, "team"); err != nil {
		t.Fatalf("Delete(team): %v", err)
	}
	if _, ok := tiers.Get("team"); ok {
		t.Error("Get(team) after Delete succeeded")
	}
	if got, want := tierNames(tiers.List()), []string{"free", "pro"}; !reflect.DeepEqual(got, want) {
		t.Errorf("List after Delete = %q, want %q", got, want)
	}

	// A declared tier cannot be deleted: only run-time tiers can.
	if err := tiers.Delete(ctx, store, "free"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Delete(free) = %v, want not found", err)
	}
	if _, ok := tiers.Get("free"); !ok {
		t.Error("declared tier gone after a failed Delete")
	}
}

func TestTiersEmptyWithOnlyOverrides(t *testing.T) {
	ctx := context.Background()
	store := enginetest.OpenStore(t)
	tiers := New()
	if err := tiers.Put(ctx, store, state.Tier{Name: "solo", RPM: 1}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if tiers.Empty() {
		t.Error("Empty with a run-time tier")
	}
	if err := tiers.Delete(ctx, store, "solo"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if !tiers.Empty() {
		t.Error("not Empty after deleting the only tier")
	}
}

func TestTiersPutFailureChangesNothing(t *testing.T) {
	store := enginetest.OpenStore(t)
	tiers := New(tierFree)
	// An empty name is not a valid store key.
	if err := tiers.Put(context.Background(), store, state.Tier{Name: "", RPM: 1}); err == nil {
		t.Fatal("Put of a nameless tier succeeded")
	}
	if got := tierNames(tiers.List()); !reflect.DeepEqual(got, []string{"free"}) {
		t.Errorf("List after failed Put = %q", got)
	}
}

// slowList is a store whose ListTiers, once armed, reads the tiers and
// then waits for release before answering: a Load that read the store
// before a change and answers after it.
type slowList struct {
	state.Store
	armed   bool
	read    chan struct{}
	release chan struct{}
}

func (s *slowList) ListTiers(ctx context.Context) ([]*state.Tier, error) {
	list, err := s.Store.ListTiers(ctx)
	if s.armed {
		close(s.read)
		<-s.release
	}
	return list, err
}

// TestTiersLoadDoesNotUndoAChange: a Load (a notification of another
// instance's change) that read the store before this set's Put answers
// after it: the tier put stays, and the Put's own notification loads it
// with the rest.
func TestTiersLoadDoesNotUndoAChange(t *testing.T) {
	ctx := context.Background()
	store := &slowList{Store: enginetest.OpenStore(t), armed: true, read: make(chan struct{}), release: make(chan struct{})}
	tiers := New(tierPro)
	loaded := make(chan error)
	go func() { loaded <- tiers.Load(ctx, store) }()
	<-store.read
	override := state.Tier{Name: "pro", MonthlyTokens: 5, Models: []string{"gpt-4o-mini"}}
	if err := tiers.Put(ctx, store, override); err != nil {
		t.Fatal(err)
	}
	close(store.release)
	if err := <-loaded; err != nil {
		t.Fatal(err)
	}
	if got, _ := tiers.Get("pro"); !reflect.DeepEqual(got, override) {
		t.Fatalf("after a Load that read the store before the Put: %+v, want %+v", got, override)
	}
	store.armed = false
	if err := tiers.Load(ctx, store); err != nil {
		t.Fatal(err)
	}
	if got, _ := tiers.Get("pro"); !reflect.DeepEqual(got, override) {
		t.Fatalf("after the Put's own Load: %+v, want %+v", got, override)
	}
}
