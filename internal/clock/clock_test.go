package clock

import (
	"sync"
	"testing"
	"time"
)

func TestManualMovesOnlyWhenTold(t *testing.T) {
	t0 := time.Date(2028, 2, 29, 23, 59, 59, 9e8, time.UTC)
	c := NewManual(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("Now = %s, want %s", got, t0)
	}
	c.Add(200 * time.Millisecond)
	if got, want := c.Now(), time.Date(2028, 3, 1, 0, 0, 0, 1e8, time.UTC); !got.Equal(want) {
		t.Fatalf("after Add: %s, want %s", got, want)
	}
	c.Set(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("after Set back: %s", got)
	}
	// Readers and writers may share it (run with -race).
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				c.Add(time.Millisecond)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if got := c.Now().Sub(t0); got != 400*time.Millisecond {
		t.Fatalf("400 concurrent moves of 1ms moved it %s", got)
	}
}
