package wire

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/clock"
)

// Options reads what every provider reads the same way from its
// adapters.ProviderConfig: the base URL's shape, the call timeout, the
// stream timeouts, the "header.<Name>", "dial_timeout" and
// "header_timeout" options. The provider handles its own options and
// passes the rest to Parse.
type Options struct {
	typ, name, baseURL string
	keyHeaders         []string

	// Headers are sent with every request: the header.<Name> options and
	// whatever the provider adds (its key among them).
	Headers       http.Header
	DialTimeout   time.Duration
	HeaderTimeout time.Duration // 0: only the call timeout bounds it
	// Stream bounds the silences of streamed calls (see StreamGuard).
	Stream StreamTimeouts
	// Clock is the gateway's clock (adapters.ProviderConfig.Clock, or
	// clock.Real): what an upstream's Retry-After date is counted from.
	Clock clock.Clock
}

// NewOptions starts reading cfg for a provider of type typ ("openai").
// keyHeaders are the headers that carry the key, which header.<Name> may
// not set (Authorization always among them).
func NewOptions(typ string, cfg adapters.ProviderConfig, dialTimeout time.Duration, keyHeaders ...string) *Options {
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	return &Options{typ: typ, name: cfg.Name, baseURL: cfg.BaseURL, keyHeaders: keyHeaders,
		Headers: http.Header{}, DialTimeout: dialTimeout, Clock: clk,
		Stream: StreamTimeouts{
			Header: streamTimeout(cfg.StreamHeaderTimeout, DefaultStreamHeaderTimeout),
			Idle:   streamTimeout(cfg.StreamIdleTimeout, DefaultStreamIdleTimeout),
		}}
}

// Errorf is an error in the provider's configuration, prefixed with the
// provider's type and name.
func (o *Options) Errorf(format string, args ...any) error {
	return fmt.Errorf("%s provider %q: %s", o.typ, o.name, fmt.Sprintf(format, args...))
}

// VendorWithoutKey reports whether a provider has no API key (options
// cannot set a key header: Parse refuses them) while its base is def, the
// vendor's own API, which refuses every call without one: such a
// provider does not ask for its model list (adapters.ErrNoAPIKey).
func VendorWithoutKey(apiKey, base, def string) bool {
	return apiKey == "" && strings.TrimRight(base, "/") == strings.TrimRight(def, "/")
}

// TrimBaseURL returns raw, or def when it is blank, without surrounding
// space and trailing slashes.
func TrimBaseURL(raw, def string) string {
	base := strings.TrimSpace(raw)
	if base == "" {
		base = def
	}
	return strings.TrimRight(base, "/")
}

// ParseBaseURL parses base, which must be an absolute http(s) URL: when it
// is not, ok is false and the provider returns BadBaseURL.
func ParseBaseURL(base string) (u *url.URL, ok bool) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return u, false
	}
	return u, true
}

// BadBaseURL is the error for a base URL ParseBaseURL refused.
func (o *Options) BadBaseURL() error {
	return o.Errorf("base URL %q must be an absolute http(s) URL", o.baseURL)
}

// Timeout checks the configured call timeout: def when it is 0.
func (o *Options) Timeout(timeout, def time.Duration) (time.Duration, error) {
	if timeout < 0 {
		return 0, o.Errorf("negative timeout")
	}
	if timeout == 0 {
		return def, nil
	}
	return timeout, nil
}

// Parse reads a shared option: header.<Name> (an extra header, but not
// one that carries the key), dial_timeout and header_timeout (durations).
// Other options are ignored.
func (o *Options) Parse(k, v string) error {
	switch {
	case strings.HasPrefix(k, "header."):
		name := strings.TrimPrefix(k, "header.")
		if name == "" || o.isKeyHeader(name) {
			return o.Errorf("option %q: set the key with api_key", k)
		}
		o.Headers.Set(name, v)
	case k == "dial_timeout" || k == "header_timeout":
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return o.Errorf("option %s: invalid duration %q", k, v)
		}
		if k == "dial_timeout" {
			o.DialTimeout = d
		} else {
			o.HeaderTimeout = d
		}
	}
	return nil
}

func (o *Options) isKeyHeader(name string) bool {
	for _, h := range o.keyHeaders {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// Transport is the provider's connection pool: dials and TLS handshakes
// bounded by DialTimeout, response headers by HeaderTimeout, many idle
// connections kept per host (one upstream takes every call).
func (o *Options) Transport() *http.Transport {
	dialer := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.DialTimeout,
		ResponseHeaderTimeout: o.HeaderTimeout,
		ExpectContinueTimeout: time.Second,
	}
}
