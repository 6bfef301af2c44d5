package adapters

import (
	"strings"
	"testing"
)

func TestValidProject(t *testing.T) {
	for s, want := range map[string]bool{
		"proj-a": true, "p.b:c_1": true, "A9": true, strings.Repeat("p", 128): true,
		"": false, "proj a": false, "ok/x": false, "é": false, strings.Repeat("p", 129): false, " proj": false,
	} {
		if got := ValidProject(s); got != want {
			t.Errorf("ValidProject(%q) = %v, want %v", s, got, want)
		}
	}
}
