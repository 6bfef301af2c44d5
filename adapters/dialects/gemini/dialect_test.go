package gemini

import (
	"net/http"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/dialecttest"
	"github.com/tidwall/gjson"
)

func textEvents() [][]adapters.Event {
	u := adapters.Usage{InputTokens: 3, OutputTokens: 1}
	return [][]adapters.Event{{
		{Type: adapters.EventStart}, {Type: adapters.EventDelta, Text: "ok"},
		{Type: adapters.EventUsage, Usage: &u}, {Type: adapters.EventDone, FinishReason: "stop"},
	}}
}

// TestTenantIsolation: an agent of tenant A is invisible to tenant B on
// every route that names or lists models, and answers tenant A.
func TestTenantIsolation(t *testing.T) {
	secret := &adapters.Agent{ID: "secret-a", Name: "Secret A", Tenant: dialecttest.TenantA.Tenant, Model: "gemini-test"}
	h := dialecttest.New(t, Name, &dialecttest.Script{Events: textEvents()}, agent(), secret)
	body := []byte(`{"contents":[{"parts":[{"text":"hi"}]}]}`)
	routes := []struct{ method, path string }{
		{"POST", "/v1beta/models/secret-a:generateContent"},
		{"POST", "/v1beta/models/secret-a:streamGenerateContent?alt=sse"},
		{"POST", "/v1beta/models/secret-a:streamGenerateContent"},
		{"POST", "/v1beta/models/secret-a:countTokens"},
		{"POST", "/v1/models/secret-a:generateContent"},
		{"POST", "/v1/models/Secret%20A:generateContent"},
		{"GET", "/v1beta/models/secret-a"},
		{"GET", "/v1beta/models/Secret%20A"},
	}
	for _, rt := range routes {
		if rec := h.Do(rt.method, rt.path, body); rec.Code != http.StatusOK {
			t.Errorf("tenant A %s %s: %d %s", rt.method, rt.path, rec.Code, rec.Body)
		}
		rec := h.Do(rt.method, rt.path, body, "X-Test-Tenant", "b")
		if rec.Code != http.StatusNotFound || gjson.GetBytes(rec.Body.Bytes(), "error.status").Str != "NOT_FOUND" {
			t.Errorf("tenant B %s %s: %d %s, want 404 NOT_FOUND", rt.method, rt.path, rec.Code, rec.Body)
		}
	}
	for tenant, want := range map[string][]string{"a": {"models/assistant", "models/secret-a"}, "b": {"models/assistant"}} {
		rec := h.Do("GET", "/v1beta/models", nil, "X-Test-Tenant", tenant)
		var got []string
		for _, m := range gjson.GetBytes(rec.Body.Bytes(), "models.#.name").Array() {
			got = append(got, m.Str)
		}
		if len(got) != len(want) || got[0] != want[0] || got[len(got)-1] != want[len(want)-1] {
			t.Errorf("tenant %s lists %v, want %v", tenant, got, want)
		}
	}
}

// TestListModelsPages: pageSize and pageToken page through the agents as
// the SDKs' pagers expect.
func TestListModelsPages(t *testing.T) {
	agents := []*adapters.Agent{agent(), {ID: "b-agent", Name: "B", Model: "m"}, {ID: "c-agent", Name: "C", Model: "m"}}
	h := dialecttest.New(t, Name, &dialecttest.Script{Events: textEvents()}, agents...)
	var names []string
	token := ""
	for page := 0; page < 5; page++ {
		path := "/v1beta/models?pageSize=2"
		if token != "" {
			path += "&pageToken=" + token
		}
		rec := h.Do("GET", path, nil)
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		res := gjson.ParseBytes(rec.Body.Bytes())
		if n := len(res.Get("models").Array()); n == 0 || n > 2 {
			t.Fatalf("%s: %d models", path, n)
		}
		for _, m := range res.Get("models").Array() {
			names = append(names, m.Get("name").Str)
			if m.Get("supportedGenerationMethods.0").Str != "generateContent" {
				t.Errorf("model %s", m.Raw)
			}
		}
		if token = res.Get("nextPageToken").Str; token == "" {
			break
		}
	}
	if len(names) != 3 {
		t.Fatalf("paged through %v, want the 3 agents", names)
	}
	for _, bad := range []string{"pageSize=-1", "pageToken=x"} {
		rec := h.Do("GET", "/v1beta/models?"+bad, nil)
		if rec.Code != 400 || gjson.GetBytes(rec.Body.Bytes(), "error.status").Str != "INVALID_ARGUMENT" {
			t.Errorf("%s: %d %s", bad, rec.Code, rec.Body)
		}
	}
}

func TestSSERequested(t *testing.T) {
	for query, want := range map[string]bool{
		"alt=sse": true, "key=x&alt=sse": true, "%24alt=sse%3Benum-encoding%3Dint": true, "$alt=sse;enum-encoding=int": true,
		"": false, "alt=json": false, "$alt=json;enum-encoding=int": false, "salt=sse": false,
	} {
		r, _ := http.NewRequest("POST", "/v1beta/models/m:streamGenerateContent?"+query, nil)
		if got := sseRequested(r); got != want {
			t.Errorf("%q: %v, want %v", query, got, want)
		}
	}
}

func TestGoogleClient(t *testing.T) {
	for _, c := range []struct {
		target, header string
		want           bool
	}{
		{"/v1/models", "X-Goog-Api-Key", true},
		{"/v1/models", "X-Goog-Api-Client", true},
		{"/v1/models?key=agk_1", "", true},
		{"/v1/models?pageSize=2&key=agk_1", "", true},
		{"/v1/models", "", false},
		{"/v1/models", "Authorization", false},
		{"/v1/models?monkey=1", "", false},
	} {
		r, _ := http.NewRequest("GET", c.target, nil)
		if c.header != "" {
			r.Header.Set(c.header, "x")
		}
		if got := googleClient(r); got != c.want {
			t.Errorf("%s with %q: %v, want %v", c.target, c.header, got, c.want)
		}
	}
}

// TestListModelsPageToken: a page token the gateway did not give — past
// the list, negative, not a number, or big enough to wrap offset+size — is
// a 400 naming pageToken in Gemini's shape, never a page whose
// nextPageToken the SDK pager cannot send back.
func TestListModelsPageToken(t *testing.T) {
	agents := []*adapters.Agent{agent(), {ID: "b-agent", Name: "B", Model: "m"}, {ID: "c-agent", Name: "C", Model: "m"}}
	h := dialecttest.New(t, Name, &dialecttest.Script{Events: textEvents()}, agents...)
	for _, c := range []struct {
		query string
		code  int
		names int
		next  string
	}{
		{"pageSize=2&pageToken=1", 200, 2, ""},
		{"pageSize=1&pageToken=1", 200, 1, "2"},
		{"pageToken=3", 200, 0, ""},
		{"pageSize=1000&pageToken=2", 200, 1, ""},
		{"pageToken=4", 400, 0, ""},
		{"pageToken=9223372036854775807", 400, 0, ""},
		{"pageSize=1000&pageToken=9223372036854775807", 400, 0, ""},
		{"pageToken=9223372036854775808", 400, 0, ""},
		{"pageToken=-1", 400, 0, ""},
		{"pageToken=abc", 400, 0, ""},
		{"pageToken=1.0", 400, 0, ""},
	} {
		rec := h.Do("GET", "/v1beta/models?"+c.query, nil)
		res := gjson.ParseBytes(rec.Body.Bytes())
		if rec.Code != c.code {
			t.Errorf("%s: %d %s, want %d", c.query, rec.Code, rec.Body, c.code)
			continue
		}
		if c.code == 400 {
			if res.Get("error.status").Str != "INVALID_ARGUMENT" || !strings.Contains(res.Get("error.message").Str, "pageToken") {
				t.Errorf("%s: %s, want INVALID_ARGUMENT naming pageToken", c.query, rec.Body)
			}
			continue
		}
		if n := len(res.Get("models").Array()); n != c.names || res.Get("nextPageToken").Str != c.next {
			t.Errorf("%s: %d models, nextPageToken %q; want %d, %q", c.query, n, res.Get("nextPageToken").Str, c.names, c.next)
		}
	}
}
