package state

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
)

func TestCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "counts.db")
	b, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.AddCount(ctx, "t1", "exec/p1/a", 1); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n, err := b.AddCount(ctx, "t1", "exec/p1/b", 2); err != nil || n != 2 {
		t.Fatalf("AddCount = %d, %v", n, err)
	}
	if _, err := b.AddCount(ctx, "t1", "exec/p2/a", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddCount(ctx, "t2", "exec/p1/a", 5); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddCount(ctx, "t\x00", "x", 1); err == nil {
		t.Error("a tenant with NUL was accepted")
	}
	if _, err := b.AddCount(ctx, "t1", "", 1); err == nil {
		t.Error("an empty counter name was accepted")
	}
	// Counts survive a reopen and are scoped by tenant and prefix.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b, err = OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, err := b.CountsWithPrefix(ctx, "t1", "exec/p1/")
	if err != nil || len(got) != 2 || got["exec/p1/a"] != 20 || got["exec/p1/b"] != 2 {
		t.Errorf("CountsWithPrefix = %v, %v", got, err)
	}
	if got, _ := b.CountsWithPrefix(ctx, "t3", ""); len(got) != 0 {
		t.Errorf("another tenant's counts: %v", got)
	}
}
