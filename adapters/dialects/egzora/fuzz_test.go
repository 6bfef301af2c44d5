package egzora

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
)

// FuzzChatRequest feeds arbitrary bytes to the /v1/chat decoder: it must
// never panic, and every failure is an *adapters.Error with a 4xx status
// (so the client gets an answer naming what is wrong, never a 500).
// Accepted requests are well formed: one user message whose first part is
// the non-empty text, then only image parts holding data URLs.
func FuzzChatRequest(f *testing.F) {
	seeds := []string{
		`{"agent_id":"assistant","message":"Hi"}`,
		`{"agent_id":"a","message":"Hi","stream":true,"reasoning_enabled":false,"session_id":"s1"}`,
		`{"agent_id":"a","message":"Hi","images":["` + pngURL + `","` + gifURL + `"]}`,
		`{"agent_id":"a","message":"Hi","images":["data:image/jpeg;base64,..."]}`,
		`{"agent_id":"a","message":"Hi","images":["data:image/png;base64,` + strings.Repeat("A", 300) + `"]}`,
		`{"agent_id":"a","message":"Hi","images":[null, 1, {}, []]}`,
		`{"agent_id":"a","message":"Hi","images":["data:image/png;base64,iVBORw0KGgo"]}`,
		`{"agent_id":"a","message":"Hi","images":["DATA:IMAGE/PNG;BASE64,iVBORw0KGgo="]}`,
		`{"agent_id":"a","message":"Hi","temperature":-1}`,
		`{"agent_id":"a","message":"Hi","session_id":"\u0000"}`,
		`{"agent_id":null,"message":null}`,
		`{"agent_id":"a","message":"Hi"} trailing`,
		`[]`, `null`, `""`, `{`, ``, "\xff\xfe",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	limits := dialects.Limits{MaxBodyBytes: 1 << 20, MaxImageBytes: 128}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeChat(body, limits)
		if err != nil {
			var e *adapters.Error
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, not *adapters.Error: %v", err, err)
			}
			if s := e.Status(); s < 400 || s > 499 {
				t.Fatalf("status %d for %v", s, e)
			}
			if e.Message == "" {
				t.Fatal("error without a message")
			}
			return
		}
		if req.agentID == "" || len(req.call.Messages) != 1 {
			t.Fatalf("accepted a malformed request: %+v", req)
		}
		m := req.call.Messages[0]
		if m.Role != adapters.RoleUser || len(m.Parts) == 0 || m.Parts[0].Type != adapters.PartText || strings.TrimSpace(m.Parts[0].Text) == "" {
			t.Fatalf("bad message: %+v", m)
		}
		for _, p := range m.Parts[1:] {
			if p.Type != adapters.PartImage || !strings.HasPrefix(strings.ToLower(p.ImageURL), "data:image/") {
				t.Fatalf("bad image part: %+v", p)
			}
		}
	})
}

// FuzzLogLimit feeds arbitrary query strings to GET /v1/logs?limit=: an
// accepted limit is within 1 and the maximum; a rejection is a 4xx naming
// limit.
func FuzzLogLimit(f *testing.F) {
	for _, s := range []string{"", "limit=5", "limit=0", "limit=-1", "limit=1001", "limit=x", "limit=", "limit=9223372036854775808", "limit=%2B3", "limit=1&limit=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		n, err := logLimit(q)
		if err != nil {
			var e *adapters.Error
			if !errors.As(err, &e) || e.Status() < 400 || e.Status() > 499 || e.Param != "limit" || !strings.Contains(e.Message, "limit") {
				t.Fatalf("%q: %v is not a 4xx naming limit", query, err)
			}
			return
		}
		if n < 1 || n > maxLogLimit || (!q.Has("limit") && n != defaultLogLimit) {
			t.Fatalf("%q: limit %d", query, n)
		}
	})
}
