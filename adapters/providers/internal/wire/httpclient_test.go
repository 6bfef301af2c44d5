package wire

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
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
// does (a 307 or 308 sends the body again), answers a redirect without a
// Location as it came, and reports a connection failure as Do's
// *url.Error.
func TestPostRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/old":
			http.Redirect(w, r, "/new", http.StatusTemporaryRedirect)
		case "/moved":
			http.Redirect(w, r, "/new", http.StatusPermanentRedirect)
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
	for _, path := range []string{"/old", "/moved"} {
		resp, err := c.Post(context.Background(), srv.URL+path, []byte(`{"a":1}`), false)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != `POST {"a":1}` {
			t.Errorf("%s: the redirect's target got %q", path, b)
		}
	}
	if _, err := c.Post(context.Background(), srv.URL+"/nowhere", []byte(`{}`), false); adapters.AsError(err).UpstreamStatus != http.StatusFound {
		t.Errorf("a redirect without a Location: %v, want the 302 mapped", err)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	_, err := c.Post(context.Background(), dead.URL+"/x", []byte(`{}`), false)
	var ue *url.Error
	if e := adapters.AsError(err); e.Kind != adapters.KindUnavailable || !errors.As(err, &ue) || ue.Op != "Post" || ue.URL != dead.URL+"/x" {
		t.Errorf("an unreachable upstream: %v, want unavailable with Do's *url.Error as its cause", err)
	}
}
