package storetest

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/agentgate/agentgate/state"
)

var keyTests = []Test{
	single("CRUD", testKeyCRUD),
	single("Rehash", testKeyRehash),
	single("HashTaken", testKeyHashTaken),
	single("ListOrder", testKeyListOrder),
	single("Copies", testKeyCopies),
	{Name: "RevokedEverywhere", Fn: testKeyRevokedEverywhere},
	{Name: "DeclaredKeysSeen", Fn: testDeclaredKeysSeen},
}

func key(id, tenant string, created time.Time) *state.APIKey {
	return &state.APIKey{
		ID:       id,
		Hash:     sha256.Sum256([]byte("secret-" + id)),
		Tenant:   tenant,
		Tier:     "pro",
		Email:    id + "@example.com",
		Projects: []string{"p1", "p2"},
		Created:  created,
		Prefix:   "ag-" + id[:min(len(id), 4)],
	}
}

func testKeyCRUD(t *testing.T, s state.Store) {
	k := key("k1", "t1", day)
	must(t, s.PutKey(ctx, k))
	got, err := s.GetKey(ctx, "k1")
	must(t, err)
	equalJSON(t, "GetKey", got, k)
	got, err = s.KeyByHash(ctx, k.Hash)
	must(t, err)
	equalJSON(t, "KeyByHash", got, k)

	k2 := key("k1", "t1", day)
	k2.Tier, k2.Projects = "free", nil
	must(t, s.PutKey(ctx, k2))
	got, err = s.KeyByHash(ctx, k.Hash)
	must(t, err)
	equalJSON(t, "KeyByHash after replace", got, k2)

	_, err = s.GetKey(ctx, "nope")
	wantErr(t, "GetKey unknown", err, state.ErrNotFound)
	_, err = s.KeyByHash(ctx, sha256.Sum256([]byte("nope")))
	wantErr(t, "KeyByHash unknown", err, state.ErrNotFound)

	must(t, s.DeleteKey(ctx, "k1"))
	_, err = s.GetKey(ctx, "k1")
	wantErr(t, "GetKey after delete", err, state.ErrNotFound)
	_, err = s.KeyByHash(ctx, k.Hash)
	wantErr(t, "KeyByHash after delete", err, state.ErrNotFound)
	wantErr(t, "DeleteKey twice", s.DeleteKey(ctx, "k1"), state.ErrNotFound)
	list, err := s.ListKeys(ctx)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("ListKeys after delete = %d keys", len(list))
	}
}

func testKeyRehash(t *testing.T, s state.Store) {
	k := key("k1", "t1", day)
	must(t, s.PutKey(ctx, k))
	if _, err := s.KeyByHash(ctx, k.Hash); err != nil { // may warm a cache
		t.Fatal(err)
	}
	rotated := key("k1", "t1", day)
	rotated.Hash = sha256.Sum256([]byte("rotated"))
	must(t, s.PutKey(ctx, rotated))
	_, err := s.KeyByHash(ctx, k.Hash)
	wantErr(t, "KeyByHash of the replaced hash", err, state.ErrNotFound)
	got, err := s.KeyByHash(ctx, rotated.Hash)
	must(t, err)
	equalJSON(t, "KeyByHash of the new hash", got, rotated)
}

func testKeyHashTaken(t *testing.T, s state.Store) {
	k := key("k1", "t1", day)
	must(t, s.PutKey(ctx, k))
	other := key("k2", "t2", day)
	other.Hash = k.Hash
	wantErr(t, "PutKey with another key's hash", s.PutKey(ctx, other), state.ErrExists)
	got, err := s.KeyByHash(ctx, k.Hash)
	must(t, err)
	equalJSON(t, "KeyByHash after refused PutKey", got, k)
	_, err = s.GetKey(ctx, "k2")
	wantErr(t, "GetKey of refused key", err, state.ErrNotFound)
}

func testKeyListOrder(t *testing.T, s state.Store) {
	for _, k := range []*state.APIKey{
		key("kc", "t1", day.Add(time.Hour)),
		key("ka", "t2", day.Add(2*time.Hour)),
		key("kb", "t1", day),
		key("kd", "t3", day.Add(time.Hour)),
	} {
		must(t, s.PutKey(ctx, k))
	}
	list, err := s.ListKeys(ctx)
	must(t, err)
	var ids []string
	for _, k := range list {
		ids = append(ids, k.ID)
	}
	if want := []string{"kb", "kc", "kd", "ka"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("ListKeys order = %v, want %v", ids, want)
	}
	equalJSON(t, "ListKeys[0]", list[0], key("kb", "t1", day))
}

func testKeyCopies(t *testing.T, s state.Store) {
	k := key("k1", "t1", day)
	must(t, s.PutKey(ctx, k))
	want := key("k1", "t1", day)
	k.Projects[0], k.Tier = "mutated", "mutated"
	for i := range 2 {
		got, err := s.KeyByHash(ctx, want.Hash)
		must(t, err)
		equalJSON(t, fmt.Sprintf("KeyByHash #%d", i), got, want)
		got.Projects[0], got.Tier, got.Hash[0] = "mutated", "mutated", got.Hash[0]+1
	}
	got, err := s.GetKey(ctx, "k1")
	must(t, err)
	got.Projects[1] = "mutated"
	got, err = s.GetKey(ctx, "k1")
	must(t, err)
	equalJSON(t, "GetKey after mutation", got, want)
}

// testKeyRevokedEverywhere: a key deleted through one instance is not
// found through the other.
func testKeyRevokedEverywhere(t *testing.T, s, twin state.Store) {
	k := key("k1", "t1", day)
	must(t, s.PutKey(ctx, k))
	if _, err := twin.KeyByHash(ctx, k.Hash); err != nil {
		t.Fatalf("key written through one instance, read through the other: %v", err)
	}
	must(t, s.DeleteKey(ctx, "k1"))
	_, err := twin.KeyByHash(ctx, k.Hash)
	wantErr(t, "KeyByHash of a revoked key on the other instance", err, state.ErrNotFound)
}

// testDeclaredKeysSeen: the first sighting of a declared key is kept,
// by every instance, whichever recorded it first.
func testDeclaredKeysSeen(t *testing.T, s, twin state.Store) {
	first := time.Date(2026, 2, 28, 23, 59, 59, 500, time.FixedZone("X", 3600))
	seen, err := s.DeclaredKeysSeen(ctx, []string{"cfg_a", "cfg_b"}, first)
	if err != nil || !seen["cfg_a"].Equal(first) || !seen["cfg_b"].Equal(first) || seen["cfg_a"].Location() != time.UTC {
		t.Fatalf("first sighting: %v, %v", seen, err)
	}
	if _, err := s.DeclaredKeysSeen(ctx, []string{"ok", ""}, first); err == nil {
		t.Error("an empty key id was accepted")
	}
	later := first.Add(24 * time.Hour)
	seen, err = twin.DeclaredKeysSeen(ctx, []string{"cfg_b", "cfg_c"}, later)
	if err != nil || len(seen) != 2 || !seen["cfg_b"].Equal(first) || !seen["cfg_c"].Equal(later) {
		t.Fatalf("seen again through the other instance: %v, %v", seen, err)
	}
	if seen, err = s.DeclaredKeysSeen(ctx, nil, later); err != nil || len(seen) != 0 {
		t.Fatalf("no ids: %v, %v", seen, err)
	}
	// Instances starting at once agree on one first sighting.
	got := make([]time.Time, 10)
	concurrently(len(got), s, twin, func(i int, h state.Store) {
		seen, err := h.DeclaredKeysSeen(ctx, []string{"cfg_race"}, later.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Error(err)
		}
		got[i] = seen["cfg_race"]
	})
	for _, g := range got {
		if !g.Equal(got[0]) {
			t.Fatalf("concurrent first sightings disagree: %v", got)
		}
	}
	// Instances declaring many keys, each configuration in its own order,
	// all start: no two lock the keys against each other (PostgreSQL
	// found a deadlock between two and failed one's start).
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = fmt.Sprintf("cfg_many_%03d", i)
	}
	concurrently(8, s, twin, func(i int, h state.Store) {
		order := slices.Clone(ids)
		rand.New(rand.NewPCG(uint64(i), 1)).Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		if seen, err := h.DeclaredKeysSeen(ctx, order, later); err != nil || len(seen) != len(ids) {
			t.Errorf("declaring %d keys at once, in instance %d's order: %d seen, %v", len(ids), i, len(seen), err)
		}
	})
}
