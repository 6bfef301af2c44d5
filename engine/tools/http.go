package tools

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"
)

// MaxResultBytes caps the response a webhook may return and the result an
// MCP tool may produce: everything a tool returns goes into the model's
// context, so a runaway tool must not be able to flood it.
const MaxResultBytes = 1 << 20

// errorExcerptBytes is how much of a failing webhook's body the model sees.
const errorExcerptBytes = 256

// methodName is what every provider accepts as a function name (OpenAI
// and Anthropic: ^[a-zA-Z0-9_-]{1,64}$). Dots are left out on purpose:
// the registry reads "Toolkit.method" as a qualified name.
var methodName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// HTTPMethodConfig declares one webhook method of an HTTP toolkit.
type HTTPMethodConfig struct {
	Name        string
	Description string
	// URL receives the arguments as a JSON object in a POST. It is the
	// operator's: nothing a model or tenant sends can change it.
	URL string
	// Parameters is the JSON Schema of the arguments object; empty means
	// an object with no declared properties.
	Parameters           json.RawMessage
	RequiresConfirmation bool
	// Timeout bounds one call; zero means DefaultTimeout.
	Timeout time.Duration
	// Headers are sent with every call, e.g. the webhook's credentials.
	Headers map[string]string
}

// HTTPToolkit builds a toolkit of webhooks. Each method POSTs its
// arguments to its URL with Content-Type application/json and the
// configured headers, and returns the response body: JSON as it is, any
// other body as {"result": "<text>"}. A non-2xx answer is a tool error
// naming the status with a short excerpt of the body. Redirects are not
// followed, so a request only ever goes to the configured URL.
//
// client may be nil; a copy of it is used, with redirects disabled.
func HTTPToolkit(name string, methods []HTTPMethodConfig, client *http.Client) (*Toolkit, error) {
	if strings.TrimSpace(name) == "" {
		return nil, errors.New("http toolkit: a name is required")
	}
	if len(methods) == 0 {
		return nil, fmt.Errorf("http toolkit %q: at least one method is required", name)
	}
	hc := &http.Client{}
	if client != nil {
		c := *client
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	tk := &Toolkit{Name: name, Kind: KindHTTP}
	seen := map[string]bool{}
	for i, mc := range methods {
		if mc.Name == "" {
			return nil, fmt.Errorf("http toolkit %q: method %d has no name", name, i+1)
		}
		if !methodName.MatchString(mc.Name) {
			return nil, fmt.Errorf("http toolkit %q: method name %q must be 1 to 64 letters, digits, underscores or hyphens", name, mc.Name)
		}
		if seen[mc.Name] {
			return nil, fmt.Errorf("http toolkit %q: method %q declared twice", name, mc.Name)
		}
		seen[mc.Name] = true
		target, err := webhookURL(mc.URL)
		if err != nil {
			return nil, fmt.Errorf("http toolkit %q, method %q: %w", name, mc.Name, err)
		}
		params, err := objectSchema(mc.Parameters)
		if err != nil {
			return nil, fmt.Errorf("http toolkit %q, method %q: parameters: %w", name, mc.Name, err)
		}
		header := make(http.Header, len(mc.Headers))
		for k, v := range mc.Headers {
			if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
				return nil, fmt.Errorf("http toolkit %q, method %q: invalid header %q", name, mc.Name, k)
			}
			header.Set(k, v)
		}
		if mc.Timeout < 0 {
			return nil, fmt.Errorf("http toolkit %q, method %q: negative timeout", name, mc.Name)
		}
		wh := &webhook{client: hc, url: target, header: header}
		tk.Methods = append(tk.Methods, &Method{
			Name:                 mc.Name,
			Description:          mc.Description,
			Parameters:           params,
			RequiresConfirmation: mc.RequiresConfirmation,
			Timeout:              mc.Timeout,
			Call:                 wh.call,
		})
	}
	return tk, nil
}

// webhookURL accepts only absolute http and https URLs with a host. Its
// errors never quote the URL: a webhook's or MCP endpoint's URL may carry
// a token (in its user info, path or query), and the errors are logged.
func webhookURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("a URL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("invalid URL: " + parseProblem(err))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("the URL must be absolute http or https")
	}
	if u.Fragment != "" {
		return "", errors.New("the URL must not have a fragment")
	}
	return u.String(), nil
}

// parseProblem says what url.Parse found wrong without the part of the
// URL it quotes (`invalid port ":…" after host` becomes "invalid port").
func parseProblem(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg, _, _ := strings.Cut(err.Error(), `"`)
	if msg = strings.TrimSpace(strings.TrimPrefix(msg, "net/url: ")); msg == "" {
		return "cannot be parsed"
	}
	return msg
}

// RedactURL is raw as logs may show it: its scheme and host only, since
// the user info, path and query may each carry a credential (a token
// parameter, a webhook secret in the path). Unparsable, it is "".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
}

// scrubURL removes raw and its secret-bearing parts (user info, path,
// query, fragment) from msg, a third party's error text that may quote
// the URL in any form (as given, re-encoded, with the password masked).
func scrubURL(msg, raw string) string {
	if raw == "" {
		return msg
	}
	redacted := RedactURL(raw)
	if redacted == "" {
		redacted = "the URL"
	}
	msg = strings.ReplaceAll(msg, raw, redacted)
	u, err := url.Parse(raw)
	if err != nil {
		return msg
	}
	for _, s := range []string{u.String(), u.Redacted()} {
		msg = strings.ReplaceAll(msg, s, redacted)
	}
	parts := []string{u.RawQuery, u.EscapedPath(), u.Path, u.EscapedFragment()}
	if u.User != nil {
		pw, _ := u.User.Password()
		parts = append(parts, u.User.String(), u.User.Username(), pw)
	}
	for _, p := range parts {
		if len(p) > 1 { // "/" alone is no secret, and is everywhere
			msg = strings.ReplaceAll(msg, p, "…")
		}
	}
	return msg
}

// objectSchema checks that a parameters schema is a JSON object whose
// type, if given, is "object", and returns it compacted.
func objectSchema(raw json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return json.RawMessage(`{"type":"object","properties":{}}`), nil
	}
	var schema map[string]json.RawMessage
	if err := json.Unmarshal(raw, &schema); err != nil || schema == nil {
		return nil, errors.New("must be a JSON Schema object")
	}
	if t, ok := schema["type"]; ok {
		var s string
		if json.Unmarshal(t, &s) != nil || s != "object" {
			return nil, errors.New(`the schema's "type" must be "object": a tool takes an arguments object`)
		}
	}
	if p, ok := schema["properties"]; ok {
		var props map[string]json.RawMessage
		if json.Unmarshal(p, &props) != nil || props == nil {
			return nil, errors.New(`"properties" must be an object`)
		}
		for k, v := range props {
			var sub map[string]json.RawMessage
			if json.Unmarshal(v, &sub) != nil || sub == nil {
				return nil, fmt.Errorf("property %q must be a schema object", k)
			}
		}
	}
	if r, ok := schema["required"]; ok {
		var req []string
		if json.Unmarshal(r, &req) != nil {
			return nil, errors.New(`"required" must be a list of property names`)
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type webhook struct {
	client *http.Client
	url    string
	header http.Header
}

func (w *webhook) call(ctx context.Context, args json.RawMessage) (json.RawMessage, error) {
	args = bytes.TrimSpace(args)
	if len(args) == 0 || args[0] != '{' {
		return nil, errors.New("the arguments must be a JSON object")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(args))
	if err != nil {
		return nil, errors.New("the webhook request could not be built")
	}
	req.Header = w.header.Clone()
	req.Header.Set("Content-Type", "application/json")
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := w.client.Do(req)
	if err != nil {
		// The url.Error names the operator's URL (which may carry a
		// token) and addresses; the model hears only what went wrong.
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errors.New("the webhook could not be reached (" + transportReason(err) + ")")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResultBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errors.New("the webhook's response could not be read")
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := "the webhook answered " + resp.Status
		if ex := excerpt(body, errorExcerptBytes); ex != "" {
			msg += ": " + ex
		}
		return nil, errors.New(msg)
	}
	if len(body) > MaxResultBytes {
		return nil, fmt.Errorf("the webhook's response is larger than %d bytes", MaxResultBytes)
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && json.Valid(trimmed) {
		return trimmed, nil
	}
	return json.Marshal(map[string]string{"result": string(body)})
}

// transportReason says why a request failed without naming the URL or
// any address.
func transportReason(err error) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var opErr *net.OpError
	switch {
	case errors.As(err, &dnsErr):
		return "host not found"
	case errors.As(err, &certErr):
		return "TLS certificate not trusted"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return "connection closed"
	case errors.As(err, &opErr) && opErr.Timeout():
		return "timeout"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "connection failed"
	}
	return "request failed"
}

// excerpt returns up to n bytes of b as one line of valid UTF-8, with an
// ellipsis when it was cut.
func excerpt(b []byte, n int) string {
	cut := len(b) > n
	if cut {
		b = b[:n]
		for i := 0; i < utf8.UTFMax-1 && len(b) > 0; i++ { // don't split a rune
			if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size != 1 {
				break
			}
			b = b[:len(b)-1]
		}
	}
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "\uFFFD")), " ")
	if cut && s != "" {
		s += "…"
	}
	return s
}
