package caddymodule

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
	"github.com/caddyserver/caddy/v2"
)

// The admin API's parsers of operator input never panic: each gives a
// value that holds what the endpoint promises, or a 400-class error
// saying what is wrong (for query parameters: naming the parameter).
// `go test` runs the seeds; `go test -fuzz FuzzX` explores.

// adminBodyError checks err is a 4xx caddy.APIError with a message.
func adminBodyError(t *testing.T, err error) {
	t.Helper()
	var apiErr caddy.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus < 400 || apiErr.HTTPStatus > 499 || apiErr.Err == nil || apiErr.Err.Error() == "" {
		t.Fatalf("error %#v, want a 4xx caddy.APIError with a message", err)
	}
}

// adminParamError checks err is a 400 naming one of names, or saying the
// query is malformed.
func adminParamError(t *testing.T, err error, names ...string) {
	t.Helper()
	adminBodyError(t, err)
	msg := err.(caddy.APIError).Err.Error()
	if strings.HasPrefix(msg, "malformed query") {
		return
	}
	if !slices.ContainsFunc(names, func(name string) bool { return strings.HasPrefix(msg, name+": ") }) {
		t.Fatalf("error %q names none of the parameters %q", msg, names)
	}
}

func adminRequest(body string) *http.Request {
	return httptest.NewRequest(http.MethodPost, "/agentgate/x", strings.NewReader(body))
}

func FuzzDecodeTier(f *testing.F) {
	for _, seed := range []struct{ name, body string }{
		{"gold", `{"monthly_tokens":1000,"rpm":60,"tpm":1000,"concurrent":2}`},
		{"gold", `{"monthly_budget_usd":12.5,"unpriced":"allow","models":["gpt-*"]}`},
		{"gold", `{"name":"silver","rpm":1}`},
		{"gold", `{"rpm":-1}`},
		{"gold", `{"name":"gold"}`},
		{"gold", `{"unpriced":"maybe","rpm":1}`},
		{"gold", `{"rpm":1} {}`},
		{"gold", `null`},
		{"", `{"rpm":"1"}`},
		{"a\x00b", `{"rpm":1}`},
		{"a\xffb", `{"rpm":1}`},
	} {
		f.Add(seed.name, seed.body)
	}
	f.Fuzz(func(t *testing.T, name, body string) {
		tier, err := decodeTier(adminRequest(body), name)
		if err != nil {
			adminBodyError(t, err)
			return
		}
		if err := tier.Check(); err != nil {
			t.Fatalf("accepted a tier Check refuses: %v", err)
		}
		if tier.Name != "" && tier.Name != name {
			t.Fatalf("accepted a body naming %q for the tier %q", tier.Name, name)
		}
		if !state.ValidName(name) {
			t.Fatalf("accepted the tier %q, which no store holds", name)
		}
	})
}

func FuzzDecodeKeyBodies(f *testing.F) {
	for _, body := range []string{
		`{"tenant":"acme"}`,
		`{"tenant":"acme","tier":"gold","email":"a@b.c","projects":["proj-a","p.b:c_1"]}`,
		`{"tenant":"acme","tier":"platinum"}`,
		`{"tenant":"acme","projects":["proj a",""]}`,
		`{"tier":"gold"}`,
		`{"tenant":"acme","projects":"x"}`,
		`{"tenant":"acme","unknown":1}`,
		`[]`,
		`{"tenant":"a\u0000b"}`,
		`{"tenant":"acme","tier":"g\u0000"}`,
	} {
		f.Add(body)
	}
	// With no tier configured, any tier name exists.
	tierSets := []func(string) bool{func(name string) bool { return name == "free" || name == "gold" }, func(string) bool { return true }}
	f.Fuzz(func(t *testing.T, body string) {
		for _, exists := range tierSets {
			req, err := decodeCreateKey(adminRequest(body), exists)
			if err != nil {
				adminBodyError(t, err)
			} else {
				if req.Tenant == "" || !exists(req.Tier) || !state.ValidName(req.Tenant) || !state.ValidName(req.Tier) {
					t.Fatalf("created a key of tenant %q, tier %q", req.Tenant, req.Tier)
				}
				for _, p := range req.Projects {
					if !adapters.ValidProject(p) {
						t.Fatalf("created a key of project %q", p)
					}
				}
			}
			patch, err := decodePatchKey(adminRequest(body), exists)
			if err != nil {
				adminBodyError(t, err)
			} else if !exists(patch.Tier) || !state.ValidName(patch.Tier) {
				t.Fatalf("moved a key to tier %q", patch.Tier)
			}
		}
	})
}

func FuzzAdminQuery(f *testing.F) {
	for _, q := range []string{"", "tenant=a&agent=b", "tenant=a&tenant=b", "x=1", "tenant=%zz", "type=semantic;x", "&&=", "tenant", "tenant=a%00b", "agent=%FF"} {
		f.Add(q)
	}
	allowed := []string{"tenant", "agent", "type"}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		got, err := adminQuery(&url.URL{RawQuery: rawQuery}, allowed...)
		if err != nil {
			vals, _ := url.ParseQuery(rawQuery)
			names := slices.Clone(allowed)
			for name := range vals {
				names = append(names, name)
			}
			adminParamError(t, err, names...)
			return
		}
		want, err := url.ParseQuery(rawQuery)
		if err != nil {
			t.Fatalf("accepted a query url.ParseQuery refuses: %v", err)
		}
		for name, v := range got {
			if !slices.Contains(allowed, name) || !slices.Equal(want[name], []string{v}) || !state.ValidName(v) {
				t.Fatalf("parameter %s=%q, want one of %q given once (%q)", name, v, allowed, want[name])
			}
		}
	})
}

func FuzzSpendQuery(f *testing.F) {
	for _, q := range []string{
		"", "tenant=a&key=k&group_by=day", "group_by=week", "from=2026-01-01&to=2026-02-01",
		"from=2026-02-01&to=2026-01-01", "from=2026-01-01T00:00:00.5+02:00", "to=yesterday", "to=0000-01-01", "teant=a",
	} {
		f.Add(q)
	}
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	params := []string{"tenant", "key", "group_by", "from", "to"}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		v, err := parseSpendQuery(&url.URL{RawQuery: rawQuery}, now)
		if err != nil {
			vals, _ := url.ParseQuery(rawQuery)
			names := slices.Clone(params)
			for name := range vals {
				names = append(names, name)
			}
			adminParamError(t, err, names...)
			return
		}
		if !v.From.Before(v.To) || !slices.Contains(state.UsageGroups, v.GroupBy) {
			t.Fatalf("accepted the period [%v, %v) grouped by %q", v.From, v.To, v.GroupBy)
		}
	})
}
