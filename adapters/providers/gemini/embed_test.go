package gemini

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/tidwall/gjson"
)

func TestEmbed(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if r.URL.Path != "/v1beta/models/gemini-embedding-001:batchEmbedContents" || r.Header.Get("x-goog-api-key") != testKey {
			t.Errorf("got %s %s key %q", r.Method, r.URL.Path, r.Header.Get("x-goog-api-key"))
		}
		reqs := gjson.GetBytes(b, "requests").Array()
		var sb strings.Builder
		sb.WriteString(`{"embeddings":[`)
		for i, rq := range reqs {
			if i > 0 {
				sb.WriteByte(',')
			}
			text := rq.Get("content.parts.0.text").String()
			fmt.Fprintf(&sb, `{"values":[%d,0.25,-1.5]}`, len(text))
		}
		sb.WriteString(`]}`)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, sb.String())
	}))
	defer srv.Close()
	p := newTestProvider(t, srv.URL)
	vecs, u, err := p.Embed(context.Background(), "gemini-embedding-001", []string{"hello world", "wörld"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"requests":[{"content":{"parts":[{"text":"hello world"}]},"model":"models/gemini-embedding-001"},{"content":{"parts":[{"text":"wörld"}]},"model":"models/gemini-embedding-001"}]}` + "\n"
	if len(bodies) != 1 || bodies[0] != want {
		t.Errorf("body\n%s\nwant\n%s", bodies, want)
	}
	if len(vecs) != 2 || vecs[0][0] != 11 || vecs[1][0] != 6 || vecs[1][2] != -1.5 {
		t.Errorf("vectors %v", vecs)
	}
	if u != (adapters.Usage{InputTokens: 3, Estimated: true}) {
		t.Errorf("usage %+v", u)
	}

	// More than a batch: several calls, order kept.
	bodies = nil
	inputs := make([]string, 250)
	for i := range inputs {
		inputs[i] = strings.Repeat("x", i+1)
	}
	vecs, u, err = p.Embed(context.Background(), "models/gemini-embedding-001", inputs)
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 3 || len(vecs) != 250 || u.InputTokens != 250 {
		t.Fatalf("%d calls, %d vectors, usage %+v", len(bodies), len(vecs), u)
	}
	for i, v := range vecs {
		if int(v[0]) != i+1 {
			t.Fatalf("vector %d is %v", i, v)
		}
	}
	if v, _, err := p.Embed(context.Background(), "e", nil); v != nil || err != nil {
		t.Errorf("empty input: %v %v", v, err)
	}
}

func TestEmbedUsageFromStatistics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"embeddings":[{"values":[1],"statistics":{"tokenCount":4}},{"values":[2],"statistics":{"tokenCount":3}}]}`)
	}))
	defer srv.Close()
	p := newTestProvider(t, srv.URL)
	_, u, err := p.Embed(context.Background(), "e", []string{"a", "b"})
	if err != nil || u != (adapters.Usage{InputTokens: 7}) {
		t.Fatalf("usage %+v, %v", u, err)
	}
}

func TestEmbedErrors(t *testing.T) {
	for _, tt := range []struct {
		status int
		resp   string
		kind   adapters.ErrorKind
	}{
		{200, `{"embeddings":[{"values":[1]}]}`, adapters.KindUpstream}, // one of two
		{200, `{"embeddings":[{"values":[1]},{"values":[]}]}`, adapters.KindUpstream},
		{200, `not json`, adapters.KindUpstream},
		{400, `{"error":{"code":400,"message":"Request payload size exceeds the limit.","status":"INVALID_ARGUMENT"}}`, adapters.KindInvalidRequest},
		{404, `{"error":{"code":404,"message":"models/nope is not found for API version v1beta, or is not supported for embedContent.","status":"NOT_FOUND"}}`, adapters.KindNotFound},
		{429, `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`, adapters.KindRateLimited},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tt.status)
			_, _ = io.WriteString(w, tt.resp)
		}))
		p := newTestProvider(t, srv.URL)
		_, _, err := p.Embed(context.Background(), "e", []string{"a", "b"})
		srv.Close()
		var ae *adapters.Error
		if !errors.As(err, &ae) || ae.Kind != tt.kind || ae.UpstreamStatus != tt.status {
			t.Errorf("%d %s: got %#v", tt.status, tt.resp, err)
		}
	}
	p := newTestProvider(t, "http://127.0.0.1:1")
	if _, _, err := p.Embed(context.Background(), "", []string{"a"}); err == nil {
		t.Error("empty model accepted")
	}
}
