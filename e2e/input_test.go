package e2e

// Request bodies that are not exactly one JSON object (issue 13, item 8):
// every admin route taking a body, and the Responses versions route,
// answer 400 naming the problem and change nothing.

import (
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/tidwall/gjson"
)

// badBodies are refused everywhere; valid is the route's own good body.
func badBodies(valid string) []struct{ name, body, says string } {
	unknown := `{"colour":"red"}`
	if valid != "{}" {
		unknown = `{"colour":"red",` + valid[1:]
	}
	return []struct{ name, body, says string }{
		{"empty", "", "body is empty"},
		{"whitespace", " \n", "body is empty"},
		{"null", "null", "body is null"},
		{"array", "[" + valid + "]", "must be a JSON object"},
		{"malformed", valid[:len(valid)-1], "malformed JSON"},
		{"trailing garbage", valid + "x", "unexpected data after the JSON object at byte " + strconv.Itoa(len(valid))},
		{"two objects", valid + " " + valid, "unexpected data after the JSON object at byte " + strconv.Itoa(len(valid)+1)},
		{"unknown field", unknown, "colour: unknown field"},
	}
}

func TestAdminRefusesBodiesThatAreNotOneObject(t *testing.T) {
	g := testgate.Start(t, testgate.Config{Block: mockBlock})
	_, created := adminDo(t, g, http.MethodPost, "/agentgate/keys", `{"tenant":"acme","tier":"pro"}`)
	keyID := gjson.Get(created, "id").String()
	if keyID == "" {
		t.Fatalf("creating a key: %s", created)
	}
	keys := func() map[string]string { // id → tier
		_, list := adminDo(t, g, http.MethodGet, "/agentgate/keys", "")
		out := map[string]string{}
		for _, k := range gjson.Parse(list).Array() {
			out[k.Get("id").String()] = k.Get("tier").String()
		}
		return out
	}
	before := keys()

	routes := []struct {
		method, path, valid string
	}{
		{http.MethodPost, "/agentgate/keys", `{"tenant":"acme","tier":"pro"}`},
		{http.MethodPatch, "/agentgate/keys/" + keyID, `{"tier":"pro"}`},
		{http.MethodPut, "/agentgate/tiers/gold", `{"rpm":5}`},
	}
	for _, rt := range routes {
		cases := badBodies(rt.valid)
		if rt.method == http.MethodPut {
			// A tier PUT replaces the tier; one naming no limit would make it
			// unlimited by mistake.
			cases = append(cases,
				struct{ name, body, says string }{"no field", `{}`, "name at least one of"},
				struct{ name, body, says string }{"only the name", `{"name":"gold"}`, "name at least one of"},
				struct{ name, body, says string }{"another name", `{"name":"silver","rpm":5}`, `differs from the tier "gold"`},
				struct{ name, body, says string }{"mistyped field", `{"rpm":"5"}`, "rpm: expected a number"})
		}
		for _, c := range cases {
			t.Run(rt.method+" "+rt.path+" "+c.name, func(t *testing.T) {
				status, body := adminDo(t, g, rt.method, rt.path, c.body)
				if status != http.StatusBadRequest || !strings.Contains(gjson.Get(body, "error").String(), c.says) {
					t.Fatalf("%q: %d %s, want 400 saying %q", c.body, status, body, c.says)
				}
			})
		}
	}
	// Nothing refused changed anything.
	if after := keys(); !maps.Equal(after, before) {
		t.Fatalf("keys changed by refused requests: %v, then %v", before, after)
	}
	if status, body := adminDo(t, g, http.MethodGet, "/agentgate/tiers/gold", ""); status != http.StatusNotFound {
		t.Fatalf("tier gold after refused PUTs: %d %s", status, body)
	}
	// The good bodies work.
	for _, rt := range routes {
		if status, body := adminDo(t, g, rt.method, rt.path, rt.valid); status/100 != 2 {
			t.Fatalf("%s %s %s: %d %s", rt.method, rt.path, rt.valid, status, body)
		}
	}
	if _, body := adminDo(t, g, http.MethodGet, "/agentgate/tiers/gold", ""); gjson.Get(body, "rpm").Int() != 5 {
		t.Fatalf("tier gold: %s", body)
	}
}

// TestVersionsRefusesMalformedBodies: publishing takes no parameters, so
// {} publishes; anything else (an empty body included) is a 400 in the
// OpenAI error shape, and publishes nothing.
func TestVersionsRefusesMalformedBodies(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: rspReply}).Start()
	defer up.Close()
	g := rspStart(t, up)
	const path = "/api/client/v1/agents/support-bot/versions"
	for i, body := range []string{"{}", " {}\n", "{ }"} {
		status, out, _ := g.Do(http.MethodPost, path, testgate.KeyA, body)
		if status != http.StatusCreated || gjson.GetBytes(out, "version").Int() != int64(i+1) {
			t.Fatalf("publishing with body %q: %d %s", body, status, out)
		}
	}
	for _, c := range badBodies(`{}`) {
		t.Run(c.name, func(t *testing.T) {
			status, out, _ := g.Do(http.MethodPost, path, testgate.KeyA, c.body)
			e := gjson.GetBytes(out, "error")
			msg := e.Get("message").String()
			if status != http.StatusBadRequest || e.Get("type").String() != "invalid_request_error" || !strings.Contains(msg, c.says) {
				t.Fatalf("%q: %d %s, want 400 saying %q", c.body, status, out, c.says)
			}
		})
	}
	status, out, _ := g.Do(http.MethodGet, path, testgate.KeyA, nil)
	if status != 200 || len(gjson.GetBytes(out, "versions").Array()) != 3 {
		t.Fatalf("versions after the refused requests: %d %s", status, out)
	}
}
