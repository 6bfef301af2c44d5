package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/agentgate/agentgate/state"
)

var tierTests = []Test{single("CRUD", testTiers)}

func testTiers(t *testing.T, s state.Store) {
	ctx := context.Background()
	if list, err := s.ListTiers(ctx); err != nil || len(list) != 0 {
		t.Fatalf("empty store: %v %v", list, err)
	}
	for _, tr := range []*state.Tier{{Name: "pro", MonthlyTokens: 100, RPM: 60}, {Name: "free", RPM: 1}, {Name: "pro", MonthlyTokens: 200}} {
		if err := s.PutTier(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListTiers(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "free" || list[1].Name != "pro" || list[1].MonthlyTokens != 200 || list[1].RPM != 0 {
		t.Fatalf("ListTiers = %+v, %v", list, err)
	}
	if err := s.DeleteTier(ctx, "pro"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTier(ctx, "pro"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.PutTier(ctx, &state.Tier{}); err == nil {
		t.Fatal("tier without a name accepted")
	}
}
