package wire

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/clock"
)

func TestCall(t *testing.T) {
	var gotHeader http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHeader = r.Header
		switch r.URL.Path {
		case "/sse":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: x\n\n")
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"a":1}`)
		default:
			w.WriteHeader(http.StatusTeapot)
			_, _ = io.WriteString(w, "no")
		}
	}))
	defer srv.Close()
	o := NewOptions("test", adapters.ProviderConfig{}, time.Second)
	o.Headers.Set("Authorization", "Bearer k")
	o.Headers.Set("Content-Type", "text/plain") // the client's own wins
	c := o.Client(time.Minute, errTestTimeout, func(status int, _ http.Header, body []byte, _ time.Time) *adapters.Error {
		return &adapters.Error{Kind: adapters.KindUpstream, Message: string(body), UpstreamStatus: status}
	})
	defer c.CloseIdleConnections()

	var got string
	stream := func(_ context.Context, body io.Reader, status int) error {
		b, _ := io.ReadAll(body)
		got = "stream " + string(b)
		return nil
	}
	whole := func(body string, status int) error {
		got = "whole " + body
		return nil
	}
	for _, tt := range []struct {
		path   string
		stream bool
		want   string
	}{
		{"/sse", false, "stream data: x\n\n"},
		{"/json", true, `whole {"a":1}`}, // the last call: its headers are checked below
	} {
		if err := c.Call(context.Background(), srv.URL+tt.path, []byte("{}"), tt.stream, stream, whole); err != nil || got != tt.want {
			t.Errorf("%s: got %q %v", tt.path, got, err)
		}
	}
	if gotHeader.Get("Authorization") != "Bearer k" || gotHeader.Get("Content-Type") != "application/json" ||
		gotHeader.Get("Accept") != "text/event-stream" || gotHeader.Get("User-Agent") != "agentgate" {
		t.Errorf("headers sent: %v", gotHeader)
	}
	err := c.Call(context.Background(), srv.URL+"/teapot", []byte("{}"), false, stream, whole)
	var ae *adapters.Error
	if !errors.As(err, &ae) || ae.UpstreamStatus != http.StatusTeapot || ae.Message != "no" {
		t.Errorf("got %v", err)
	}
}

// An upstream that repeats the key it was sent in its error body gets it
// redacted from the client's message and from the cause the gateway logs.
func TestPostRedactsCredentials(t *testing.T) {
	const key = "sk-secret-key-12345"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "overloaded; your key "+r.Header.Get("X-Api-Key")+" waits")
	}))
	defer srv.Close()
	o := NewOptions("test", adapters.ProviderConfig{}, time.Second)
	o.Headers.Set("X-Api-Key", key)
	c := o.Client(time.Minute, errTestTimeout, func(status int, h http.Header, body []byte, now time.Time) *adapters.Error {
		e := MapHTTPStatus(status, h, now, StatusDetails{Message: string(body)}, 0)
		e.Message += ": " + string(body)
		return e
	})
	defer c.CloseIdleConnections()
	_, err := c.Post(context.Background(), srv.URL, []byte("{}"), false)
	var e *adapters.Error
	if !errors.As(err, &e) || e.Cause == nil {
		t.Fatalf("got %v", err)
	}
	for _, s := range []string{e.Message, e.Cause.Error()} {
		if strings.Contains(s, key) || !strings.Contains(s, "[redacted]") {
			t.Errorf("not redacted: %q", s)
		}
	}
}

// TestPostRetryAfterDate: an upstream's Retry-After date is counted from
// the gateway's clock (adapters.ProviderConfig.Clock), not the machine's.
func TestPostRetryAfterDate(t *testing.T) {
	clk := clock.NewManual(time.Date(2031, 7, 14, 9, 30, 0, 0, time.UTC))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", clk.Now().Add(90*time.Second).Format(http.TimeFormat))
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	c := NewOptions("test", adapters.ProviderConfig{Clock: clk}, time.Second).Client(time.Minute, errTestTimeout,
		func(status int, h http.Header, body []byte, now time.Time) *adapters.Error {
			return MapHTTPStatus(status, h, now, StatusDetails{Message: string(body)}, 0)
		})
	defer c.CloseIdleConnections()
	_, err := c.Post(context.Background(), srv.URL, []byte("{}"), false)
	if e := adapters.AsError(err); e.Kind != adapters.KindRateLimited || e.RetryAfter != 90*time.Second {
		t.Errorf("got %v (retry after %v), want rate limited for the 90s the date is ahead of the gateway's clock", err, e.RetryAfter)
	}
}

// TestPostRedirects: Post follows an upstream's redirects as http.Client
// does (a 307 or 308 sends the body again, a 301, 302 or 303 turns the
// POST into a GET without it), sending each hop once, answers a redirect
// without a Location as it came, and reports a connection failure as
// Do's *url.Error.
func TestPostRedirects(t *testing.T) {
	var mu sync.Mutex
	hops := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hops[r.URL.Path]++
		mu.Unlock()
		switch r.URL.Path {
		case "/307":
			http.Redirect(w, r, "/new", http.StatusTemporaryRedirect)
		case "/308":
			http.Redirect(w, r, "/new", http.StatusPermanentRedirect)
		case "/301":
			http.Redirect(w, r, "/new", http.StatusMovedPermanently)
		case "/302":
			http.Redirect(w, r, "/new", http.StatusFound)
		case "/303":
			http.Redirect(w, r, "/new", http.StatusSeeOther)
		case "/chain":
			http.Redirect(w, r, "/308", http.StatusTemporaryRedirect)
		case "/nowhere":
			w.WriteHeader(http.StatusFound) // no Location
		case "/new":
			_, _ = io.WriteString(w, r.Method+" "+string(b))
		}
	}))
	defer srv.Close()
	o := NewOptions("test", adapters.ProviderConfig{}, time.Second)
	c := o.Client(time.Minute, errTestTimeout, func(status int, _ http.Header, body []byte, _ time.Time) *adapters.Error {
		return &adapters.Error{Kind: adapters.KindUpstream, UpstreamStatus: status}
	})
	defer c.CloseIdleConnections()
	for _, tt := range []struct {
		path, want string
		hops       map[string]int
	}{
		{"/307", `POST {"a":1}`, map[string]int{"/307": 1, "/new": 1}},
		{"/308", `POST {"a":1}`, map[string]int{"/308": 1, "/new": 1}},
		{"/301", `GET `, map[string]int{"/301": 1, "/new": 1}},
		{"/302", `GET `, map[string]int{"/302": 1, "/new": 1}},
		{"/303", `GET `, map[string]int{"/303": 1, "/new": 1}},
		{"/chain", `POST {"a":1}`, map[string]int{"/chain": 1, "/308": 1, "/new": 1}},
	} {
		mu.Lock()
		clear(hops)
		mu.Unlock()
		resp, err := c.Post(context.Background(), srv.URL+tt.path, []byte(`{"a":1}`), false)
		if err != nil {
			t.Fatalf("%s: %v", tt.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tt.want {
			t.Errorf("%s: the redirect's target got %q, want %q", tt.path, b, tt.want)
		}
		mu.Lock()
		if !maps.Equal(hops, tt.hops) {
			t.Errorf("%s: hops sent %v, want %v", tt.path, hops, tt.hops)
		}
		mu.Unlock()
	}
	mu.Lock()
	clear(hops)
	mu.Unlock()
	if _, err := c.Post(context.Background(), srv.URL+"/nowhere", []byte(`{}`), false); adapters.AsError(err).UpstreamStatus != http.StatusFound {
		t.Errorf("a redirect without a Location: %v, want the 302 mapped", err)
	}
	mu.Lock()
	if hops["/nowhere"] != 1 {
		t.Errorf("a redirect without a Location was sent %d times", hops["/nowhere"])
	}
	mu.Unlock()
	// The key goes to the upstream's host, not to another it redirects to.
	var awayAuth atomic.Value
	away := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		awayAuth.Store("Authorization: " + r.Header.Get("Authorization"))
	}))
	defer away.Close()
	elsewhere := strings.Replace(away.URL, "127.0.0.1", "localhost", 1)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere+"/new", http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	o.Headers.Set("Authorization", "Bearer sk-upstream")
	keyed := o.Client(time.Minute, errTestTimeout, nil)
	defer keyed.CloseIdleConnections()
	resp, err := keyed.Post(context.Background(), redirect.URL, []byte(`{}`), false)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, _ := awayAuth.Load().(string); got != "Authorization: " {
		t.Errorf("the other host got %q, want the redirected call without the key", got)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	_, err = c.Post(context.Background(), dead.URL+"/x", []byte(`{}`), false)
	var ue *url.Error
	if e := adapters.AsError(err); e.Kind != adapters.KindUnavailable || !errors.As(err, &ue) || ue.Op != "Post" || ue.URL != dead.URL+"/x" {
		t.Errorf("an unreachable upstream: %v, want unavailable with Do's *url.Error as its cause", err)
	}
}
