package e2e

import (
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/tidwall/gjson"
)

// TestAdminRefusesNamesNoStoreHolds: a tenant, tier, key or other name
// with a NUL (or, in a query, not UTF-8) is no name the store can hold;
// every admin endpoint taking one answers a 400 naming the field, never
// a 500 from the store's refusal.
func TestAdminRefusesNamesNoStoreHolds(t *testing.T) {
	g := testgate.Start(t, testgate.Config{Block: mockBlock}) // no tiers: any tier name exists
	for _, c := range []struct {
		method, path, body string
		field              string
	}{
		{"POST", "/agentgate/keys", `{"tenant":"a\u0000b","tier":"pro"}`, "tenant"},
		{"POST", "/agentgate/keys", `{"tenant":"","tier":"pro"}`, "tenant"},
		{"POST", "/agentgate/keys", `{"tenant":"acme","tier":"a\u0000b"}`, "tier"},
		{"PUT", "/agentgate/tiers/a%00b", `{"rpm":1}`, "tier"},
		{"PUT", "/agentgate/tiers/a%FFb", `{"rpm":1}`, "tier"},
		{"GET", "/agentgate/memories?tenant=a%00b&agent=x", "", "tenant"},
		{"GET", "/agentgate/memories?tenant=a&agent=x%FF", "", "agent"},
		{"GET", "/agentgate/spend?tenant=a%00b", "", "tenant"},
		{"GET", "/agentgate/spend?key=k%00", "", "key"},
		{"GET", "/agentgate/usage?tenant=a%00b", "", "tenant"},
		{"GET", "/agentgate/usage?tenant=a&run=r%FF", "", "run"},
	} {
		status, body := adminDo(t, g, c.method, c.path, c.body)
		if msg := gjson.Get(body, "error").String(); status != 400 || !strings.HasPrefix(msg, c.field+": ") {
			t.Errorf("%s %s %s: %d %s; want a 400 naming %s", c.method, c.path, c.body, status, body, c.field)
		}
	}
	// Nothing was made.
	if _, body := adminDo(t, g, "GET", "/agentgate/keys", ""); strings.Contains(body, `"acme"`) || strings.Contains(body, `a\u0000b`) {
		t.Errorf("keys after refused creations: %s", body)
	}
	for _, path := range []string{"/agentgate/tiers/a%00b", "/agentgate/keys/a%00b"} {
		for _, method := range []string{"GET", "DELETE"} {
			if status, body := adminDo(t, g, method, path, ""); status != 404 {
				t.Errorf("%s %s: %d %s; want a 404", method, path, status, body)
			}
		}
	}
}
