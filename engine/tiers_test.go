package engine

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/agentgate/agentgate/adapters"
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
			tiers := NewTiers(tc.declared...)
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
	store := openStore(t)
	tiers := NewTiers(tierFree, tierPro)

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
	store := openStore(t)
	tiers := NewTiers()
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
	store := openStore(t)
	tiers := NewTiers(tierFree)
	// An empty name is not a valid store key.
	if err := tiers.Put(context.Background(), store, state.Tier{Name: "", RPM: 1}); err == nil {
		t.Fatal("Put of a nameless tier succeeded")
	}
	if got := tierNames(tiers.List()); !reflect.DeepEqual(got, []string{"free"}) {
		t.Errorf("List after failed Put = %q", got)
	}
}

func TestTiersLoadedByNew(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		stored    []state.Tier
		declared  *Tiers
		wantEmpty bool
		want      map[string]state.Tier
	}{
		{"nothing", nil, nil, true, map[string]state.Tier{}},
		{"declared only", nil, NewTiers(tierFree), false, map[string]state.Tier{"free": tierFree}},
		{"stored only", []state.Tier{{Name: "team", RPM: 7}}, nil, false, map[string]state.Tier{"team": {Name: "team", RPM: 7}}},
		{
			"stored overrides declared",
			[]state.Tier{{Name: "pro", RPM: 1}, {Name: "team", RPM: 7}},
			NewTiers(tierFree, tierPro),
			false,
			map[string]state.Tier{"free": tierFree, "pro": {Name: "pro", RPM: 1}, "team": {Name: "team", RPM: 7}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := openStore(t)
			for _, tr := range tc.stored {
				if err := store.PutTier(ctx, &tr); err != nil {
					t.Fatalf("PutTier: %v", err)
				}
			}
			rt, err := New(Config{Store: store, Providers: map[string]adapters.Provider{"p": newFake()}, Tiers: tc.declared})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer rt.Close()
			tiers := rt.Tiers()
			if tc.declared != nil && tiers != tc.declared {
				t.Error("runtime does not use the configured tiers")
			}
			if tiers.Empty() != tc.wantEmpty {
				t.Errorf("Empty = %v, want %v", tiers.Empty(), tc.wantEmpty)
			}
			if len(tiers.List()) != len(tc.want) {
				t.Errorf("List = %+v, want %d tiers", tiers.List(), len(tc.want))
			}
			for name, want := range tc.want {
				if got, ok := tiers.Get(name); !ok || !reflect.DeepEqual(got, want) {
					t.Errorf("Get(%q) = %+v, %v; want %+v", name, got, ok, want)
				}
			}
		})
	}
}

// A runtime built after a run-time change sees it: tiers survive reloads.
func TestTiersSurviveReload(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	providers := map[string]adapters.Provider{"p": newFake()}
	rt1, err := New(Config{Store: store, Providers: providers, Tiers: NewTiers(tierPro)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := rt1.Tiers().Put(ctx, store, state.Tier{Name: "pro", RPM: 2}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	rt1.Close()
	rt2, err := New(Config{Store: store, Providers: providers, Tiers: NewTiers(tierPro)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer rt2.Close()
	if got, _ := rt2.Tiers().Get("pro"); got.RPM != 2 {
		t.Errorf("pro after reload = %+v, want the run-time override", got)
	}
}
