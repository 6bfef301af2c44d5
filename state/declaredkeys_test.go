package state

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestDeclaredKeysSeen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	b, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first := time.Date(2026, 2, 28, 23, 59, 59, 500, time.FixedZone("X", 3600))
	seen, err := b.DeclaredKeysSeen(ctx, []string{"cfg_a", "cfg_b"}, first)
	if err != nil || !seen["cfg_a"].Equal(first) || !seen["cfg_b"].Equal(first) || seen["cfg_a"].Location() != time.UTC {
		t.Fatalf("first sighting: %v, %v", seen, err)
	}
	if _, err := b.DeclaredKeysSeen(ctx, []string{"ok", ""}, first); err == nil {
		t.Error("an empty key id was accepted")
	}
	// Reopened a day later with one key more: the known keys keep their
	// first sighting.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err = OpenBolt(path, BoltOptions{}); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	later := first.Add(24 * time.Hour)
	seen, err = b.DeclaredKeysSeen(ctx, []string{"cfg_b", "cfg_c"}, later)
	if err != nil || len(seen) != 2 || !seen["cfg_b"].Equal(first) || !seen["cfg_c"].Equal(later) {
		t.Fatalf("after reopen: %v, %v", seen, err)
	}
	if seen, err = b.DeclaredKeysSeen(ctx, nil, later); err != nil || len(seen) != 0 {
		t.Fatalf("no ids: %v, %v", seen, err)
	}
}
