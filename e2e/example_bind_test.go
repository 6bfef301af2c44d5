package e2e

import (
	"os"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/tidwall/gjson"
)

// TestExampleBindsWhereTold: the example Caddyfile's site listens on every
// interface unless AGENTGATE_BIND names one; the host of AGENTGATE_LISTEN
// alone only matches the Host header.
func TestExampleBindsWhereTold(t *testing.T) {
	src, err := os.ReadFile("../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ listen, bind, want string }{
		{":8123", "", `[":8123"]`},
		{"127.0.0.1:8123", "", `[":8123"]`},
		{"127.0.0.1:8123", "127.0.0.1", `["127.0.0.1:8123"]`},
		{":8123", "127.0.0.1", `["127.0.0.1:8123"]`},
	} {
		t.Setenv("AGENTGATE_LISTEN", tc.listen)
		t.Setenv("AGENTGATE_BIND", tc.bind)
		out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": "Caddyfile"})
		if err != nil {
			t.Fatalf("listen %q bind %q: %v", tc.listen, tc.bind, err)
		}
		var got []string
		gjson.GetBytes(out, "apps.http.servers").ForEach(func(_, s gjson.Result) bool {
			got = append(got, s.Get("listen").Raw)
			return true
		})
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("listen %q bind %q: servers listen on %v, want %s", tc.listen, tc.bind, got, tc.want)
		}
	}
}
