package wire

import (
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

func TestOptions(t *testing.T) {
	cfg := adapters.ProviderConfig{Name: "p%v", BaseURL: "ftp://x"}
	o := NewOptions("test", cfg, 10*time.Second, "Authorization", "X-Api-Key")
	for _, k := range []string{"header.", "header.authorization", "header.x-api-key"} {
		if err := o.Parse(k, "v"); err == nil || err.Error() != `test provider "p%v": option "`+k+`": set the key with api_key` {
			t.Errorf("%s: %v", k, err)
		}
	}
	if err := o.Parse("dial_timeout", "-1s"); err == nil || err.Error() != `test provider "p%v": option dial_timeout: invalid duration "-1s"` {
		t.Errorf("dial_timeout: %v", err)
	}
	for k, v := range map[string]string{"header.X-Extra": "1", "dial_timeout": "2s", "header_timeout": "3s", "unknown": "x"} {
		if err := o.Parse(k, v); err != nil {
			t.Fatal(err)
		}
	}
	tr := o.Transport()
	if o.Headers.Get("X-Extra") != "1" || tr.TLSHandshakeTimeout != 2*time.Second || tr.ResponseHeaderTimeout != 3*time.Second {
		t.Errorf("headers %v, transport %+v", o.Headers, tr)
	}
	if err := o.BadBaseURL(); err.Error() != `test provider "p%v": base URL "ftp://x" must be an absolute http(s) URL` {
		t.Errorf("got %v", err)
	}
	if _, err := o.Timeout(-1, time.Minute); err == nil || err.Error() != `test provider "p%v": negative timeout` {
		t.Errorf("got %v", err)
	}
	if d, err := o.Timeout(0, time.Minute); d != time.Minute || err != nil {
		t.Errorf("got %v %v", d, err)
	}
	for base, ok := range map[string]bool{"https://h/v1": true, "http://h": true, "ftp://h": false, "/v1": false, "https://": false} {
		if _, got := ParseBaseURL(base); got != ok {
			t.Errorf("%q: got %v", base, got)
		}
	}
	for _, tt := range []struct {
		header, idle time.Duration
		want         StreamTimeouts
	}{
		{0, 0, StreamTimeouts{Header: DefaultStreamHeaderTimeout, Idle: DefaultStreamIdleTimeout}},
		{time.Second, 2 * time.Second, StreamTimeouts{Header: time.Second, Idle: 2 * time.Second}},
		{-1, -time.Second, StreamTimeouts{}},
	} {
		o := NewOptions("test", adapters.ProviderConfig{StreamHeaderTimeout: tt.header, StreamIdleTimeout: tt.idle}, time.Second)
		if o.Stream != tt.want {
			t.Errorf("stream timeouts %v %v: got %+v, want %+v", tt.header, tt.idle, o.Stream, tt.want)
		}
	}
	if got := TrimBaseURL("  https://h/v1// ", "d"); got != "https://h/v1" {
		t.Errorf("got %q", got)
	}
	if got := TrimBaseURL(" ", "https://d/"); got != "https://d" {
		t.Errorf("got %q", got)
	}
}
