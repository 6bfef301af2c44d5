package wire

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

// stallServer answers per its path; a stalled handler waits for the
// client to go away and reports it on gone.
func stallServer(t *testing.T) (*httptest.Server, <-chan string) {
	gone := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		rc := http.NewResponseController(w)
		stall := func() {
			select {
			case <-r.Context().Done():
				gone <- r.URL.Path
			case <-time.After(30 * time.Second):
				t.Errorf("%s: the stalled request was not cancelled", r.URL.Path)
			}
		}
		sse := func(s string) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, s)
			_ = rc.Flush()
		}
		switch r.URL.Path {
		case "/never":
			stall()
		case "/headers":
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			_ = rc.Flush()
			stall()
		case "/midway":
			sse("data: one\n\n")
			stall()
		case "/pings":
			// Alive all along, each ping well within the idle bound,
			// for longer than the bound in total.
			for range 80 {
				sse(": ping\n\n")
				time.Sleep(10 * time.Millisecond)
			}
			sse("data: done\n\n")
		case "/late":
			// Headers after 4 header bounds: only a stream minds.
			time.Sleep(800 * time.Millisecond)
			sse("data: late\n\n")
		default:
			sse("data: a\n\ndata: b\n\n")
		}
	}))
	t.Cleanup(srv.Close)
	return srv, gone
}

func TestStreamTimeouts(t *testing.T) {
	srv, gone := stallServer(t)
	o := NewOptions("test", adapters.ProviderConfig{StreamHeaderTimeout: 200 * time.Millisecond, StreamIdleTimeout: 500 * time.Millisecond}, time.Second)
	c := o.Client(time.Minute, errTestTimeout, func(status int, _ http.Header, body []byte, _ time.Time) *adapters.Error {
		return &adapters.Error{Kind: adapters.KindUpstream, UpstreamStatus: status}
	})
	defer c.CloseIdleConnections()

	tests := []struct {
		path   string
		stream bool
		read   string // what readStream saw before the error
		err    string // the *adapters.Error's message, or "" for success
	}{
		{"/never", true, "", "upstream sent no response headers within 200ms"},
		{"/headers", true, "", "upstream stream was silent for 500ms"},
		{"/midway", true, "data: one\n\n", "upstream stream was silent for 500ms"},
		{"/pings", true, strings.Repeat(": ping\n\n", 80) + "data: done\n\n", ""},
		{"/late", true, "", "upstream sent no response headers within 200ms"},
		{"/late", false, "data: late\n\n", ""},
	}
	for _, tt := range tests {
		var read strings.Builder
		readStream := func(ctx context.Context, body io.Reader, status int) error {
			buf := make([]byte, 64)
			for {
				n, err := body.Read(buf)
				read.Write(buf[:n])
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return StreamError(ctx, err, time.Minute, errTestTimeout, status)
				}
			}
		}
		err := c.Call(context.Background(), srv.URL+tt.path, []byte("{}"), tt.stream, readStream,
			func(string, int) error { return errors.New("answered as one message") })
		var ae *adapters.Error
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s (stream %v): %v", tt.path, tt.stream, err)
		case tt.err != "" && (!errors.As(err, &ae) || ae.Kind != adapters.KindTimeout || ae.Message != tt.err):
			t.Errorf("%s (stream %v): got %v, want a timeout %q", tt.path, tt.stream, err, tt.err)
		}
		if read.String() != tt.read {
			t.Errorf("%s (stream %v): read %q, want %q", tt.path, tt.stream, read.String(), tt.read)
		}
	}
	// Every stalled request was cancelled: the upstream saw it go.
	cancelled := map[string]bool{}
	for range 3 {
		select {
		case p := <-gone:
			cancelled[p] = true
		case <-time.After(20 * time.Second):
			t.Fatalf("stalled requests cancelled: %v, want /never, /headers and /midway", cancelled)
		}
	}
	if !cancelled["/never"] || !cancelled["/headers"] || !cancelled["/midway"] {
		t.Errorf("stalled requests cancelled: %v", cancelled)
	}
}

// TestStreamIdleCountsUpstreamOnly: time the reader spends between reads
// (writing to a slow client) is not the upstream's silence.
func TestStreamIdleCountsUpstreamOnly(t *testing.T) {
	srv, _ := stallServer(t)
	o := NewOptions("test", adapters.ProviderConfig{StreamIdleTimeout: 200 * time.Millisecond}, time.Second)
	c := o.Client(time.Minute, errTestTimeout, nil)
	defer c.CloseIdleConnections()
	var got strings.Builder
	err := c.Call(context.Background(), srv.URL+"/whole", []byte("{}"), true,
		func(ctx context.Context, body io.Reader, status int) error {
			buf := make([]byte, 4)
			for {
				n, err := body.Read(buf)
				got.Write(buf[:n])
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				time.Sleep(250 * time.Millisecond) // longer than the bound, after every read
			}
		}, nil)
	if err != nil || got.String() != "data: a\n\ndata: b\n\n" {
		t.Fatalf("got %q %v", got.String(), err)
	}
}

func TestStreamGuardOff(t *testing.T) {
	base := http.DefaultTransport
	o := NewOptions("test", adapters.ProviderConfig{StreamHeaderTimeout: -1, StreamIdleTimeout: -1}, time.Second)
	if o.StreamGuard(base) != base {
		t.Errorf("with both bounds off, the transport is wrapped")
	}
}
