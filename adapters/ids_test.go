package adapters

import (
	"regexp"
	"testing"
	"time"
)

func TestNewIDSortsByTimeAndStaysUnique(t *testing.T) {
	form := regexp.MustCompile(`^run-[a-z2-7]{26}$`)
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 2000; i++ {
		id := NewID("run-")
		if !form.MatchString(id) || seen[id] {
			t.Fatalf("id %q: malformed or repeated", id)
		}
		seen[id] = true
		if i%500 == 0 {
			if prev != "" && id[:12] < prev[:12] {
				t.Fatalf("%q sorts before the earlier %q", id, prev)
			}
			prev = id
			time.Sleep(2 * time.Millisecond)
		}
	}
}
