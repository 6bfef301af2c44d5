package caddymodule

import (
	"net/http/httptest"
	"testing"
)

// TestRequestKey: every place a client SDK puts its key is read, and a key
// in the query is always taken out of the request's URL.
func TestRequestKey(t *testing.T) {
	cases := []struct {
		name, target string
		header       [2]string
		key, uri     string
	}{
		{"bearer", "/v1/chat/completions", [2]string{"Authorization", "Bearer agk_1"}, "agk_1", "/v1/chat/completions"},
		{"x-api-key", "/v1/messages", [2]string{"X-API-Key", "agk_2"}, "agk_2", "/v1/messages"},
		{"x-goog-api-key", "/v1beta/models", [2]string{"x-goog-api-key", "agk_3"}, "agk_3", "/v1beta/models"},
		{"query", "/v1beta/models/m:streamGenerateContent?alt=sse&key=agk_4", [2]string{}, "agk_4", "/v1beta/models/m:streamGenerateContent?alt=sse"},
		{"query only", "/v1beta/models?key=agk%2B5", [2]string{}, "agk+5", "/v1beta/models"},
		{"query first", "/v1beta/models?key=agk_6&pageSize=2", [2]string{}, "agk_6", "/v1beta/models?pageSize=2"},
		{"escaped name", "/v1beta/models?%6Bey=agk_7", [2]string{}, "agk_7", "/v1beta/models"},
		{"header wins, query still removed", "/v1beta/models?key=leaked", [2]string{"x-goog-api-key", "agk_8"}, "agk_8", "/v1beta/models"},
		{"other params kept", "/v1beta/models?monkey=1&keys=2", [2]string{}, "", "/v1beta/models?monkey=1&keys=2"},
		{"none", "/v1/models", [2]string{}, "", "/v1/models"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", c.target, nil)
			if c.header[0] != "" {
				r.Header.Set(c.header[0], c.header[1])
			}
			if got := requestKey(r); got != c.key {
				t.Errorf("key %q, want %q", got, c.key)
			}
			if r.RequestURI != c.uri || r.URL.RequestURI() != c.uri {
				t.Errorf("URI after authentication %q (URL %q), want %q", r.RequestURI, r.URL.RequestURI(), c.uri)
			}
		})
	}
}
