package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/net/http/httpguts"
)

// MCPProtocolVersion is the MCP protocol version agentgate asks for by
// default. Pinning it skips the SDK's server/discover probe (SEP-2575),
// which servers that predate it can answer in ways that break the
// connection before the initialize handshake.
const MCPProtocolVersion = "2025-11-25"

// codeRejected is the code of the SDK's "rejected by transport" error,
// which wraps HTTP failures (such as a 500) rather than carrying what the
// server said.
const codeRejected = -32005

// maxToolErrorBytes caps the text of a tool error passed to the model.
const maxToolErrorBytes = 4 << 10

// MCPOptions configures an MCP toolkit.
type MCPOptions struct {
	// HTTPClient is the base client for the streamable HTTP transport;
	// nil means a client on http.DefaultTransport.
	HTTPClient *http.Client
	// Headers are sent with every request to the server, e.g. its
	// credentials.
	Headers map[string]string
	// Tools, if set, lists the server's tools to expose; the others are
	// left out. Every name must exist on the server.
	Tools []string
	// Confirm names the tools that require confirmation; "*" means all.
	// Every name must be a tool the toolkit exposes.
	Confirm []string
	// Timeout bounds one tool call; zero means DefaultTimeout.
	Timeout time.Duration
	// ProtocolVersion is asked for in the handshake; empty means
	// MCPProtocolVersion.
	ProtocolVersion string
}

// ErrMCPClosed is returned by the methods of a closed MCP toolkit.
var ErrMCPClosed = errors.New("the MCP server connection is closed")

// MCPToolkit connects to the MCP server at endpoint (streamable HTTP),
// lists its tools, and returns them as a toolkit, with a closer that ends
// the session (an HTTP DELETE). The toolkit keeps one session; when the
// server has forgotten it (404, e.g. after a restart) a call reconnects
// once and is retried. The tool list is the one read at construction:
// the standalone SSE stream that would carry list changes is disabled.
func MCPToolkit(ctx context.Context, name, endpoint string, opts MCPOptions) (*Toolkit, io.Closer, error) {
	if strings.TrimSpace(name) == "" {
		return nil, nil, errors.New("mcp toolkit: a name is required")
	}
	if _, err := webhookURL(endpoint); err != nil {
		return nil, nil, fmt.Errorf("mcp toolkit %q: endpoint: %w", name, err)
	}
	if opts.Timeout < 0 {
		return nil, nil, fmt.Errorf("mcp toolkit %q: negative timeout", name)
	}
	header := make(http.Header, len(opts.Headers))
	for k, v := range opts.Headers {
		if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
			return nil, nil, fmt.Errorf("mcp toolkit %q: invalid header %q", name, k)
		}
		header.Set(k, v)
	}
	hc := &http.Client{}
	if opts.HTTPClient != nil {
		c := *opts.HTTPClient
		hc = &c
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	if len(header) > 0 {
		hc.Transport = &headerTransport{base: base, header: header}
	}
	version := opts.ProtocolVersion
	if version == "" {
		version = MCPProtocolVersion
	}
	conn := &mcpConn{
		toolkit:  name,
		endpoint: endpoint,
		client:   mcp.NewClient(&mcp.Implementation{Name: "agentgate", Version: "v0.1.0"}, nil),
		transport: &mcp.StreamableClientTransport{
			Endpoint:             endpoint,
			HTTPClient:           hc,
			DisableStandaloneSSE: true,
		},
		options: &mcp.ClientSessionOptions{ProtocolVersion: version},
		sem:     make(chan struct{}, 1),
	}
	tk, err := conn.listToolkit(ctx, opts)
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	return tk, conn, nil
}

// toolkit lists the server's tools (every page) and makes them methods.
func (c *mcpConn) listToolkit(ctx context.Context, opts MCPOptions) (*Toolkit, error) {
	sess, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	var listed []*mcp.Tool
	for t, err := range sess.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("mcp toolkit %q: listing tools: %w", c.toolkit, c.describe(err))
		}
		listed = append(listed, t)
	}
	byName := map[string]*mcp.Tool{}
	for _, t := range listed {
		byName[t.Name] = t
	}
	if len(opts.Tools) > 0 {
		var kept []*mcp.Tool
		for _, n := range opts.Tools {
			t, ok := byName[n]
			if !ok {
				return nil, fmt.Errorf("mcp toolkit %q: the server has no tool %q", c.toolkit, n)
			}
			if !slices.Contains(kept, t) {
				kept = append(kept, t)
			}
		}
		listed = kept
	}
	confirmAll := slices.Contains(opts.Confirm, "*")
	for _, n := range opts.Confirm {
		if n == "*" {
			continue
		}
		if t, ok := byName[n]; !ok || !slices.Contains(listed, t) {
			return nil, fmt.Errorf("mcp toolkit %q: confirm names %q, which is not one of its tools", c.toolkit, n)
		}
	}
	tk := &Toolkit{Name: c.toolkit, Kind: KindMCP}
	for _, t := range listed {
		if !methodName.MatchString(t.Name) {
			return nil, fmt.Errorf("mcp toolkit %q: tool %q has a name models cannot call (1 to 64 letters, digits, underscores or hyphens); list the tools to expose to leave it out", c.toolkit, t.Name)
		}
		var params json.RawMessage
		if t.InputSchema != nil {
			if params, err = json.Marshal(t.InputSchema); err != nil {
				return nil, fmt.Errorf("mcp toolkit %q: tool %q: input schema: %w", c.toolkit, t.Name, err)
			}
		}
		if params, err = objectSchema(params); err != nil {
			return nil, fmt.Errorf("mcp toolkit %q: tool %q: input schema: %w", c.toolkit, t.Name, err)
		}
		desc := t.Description
		if desc == "" {
			desc = t.Title
		}
		tool := t.Name
		tk.Methods = append(tk.Methods, &Method{
			Name:                 t.Name,
			Description:          desc,
			Parameters:           params,
			RequiresConfirmation: confirmAll || slices.Contains(opts.Confirm, t.Name),
			Timeout:              opts.Timeout,
			Call: func(ctx context.Context, args json.RawMessage) (json.RawMessage, error) {
				return c.call(ctx, tool, args)
			},
		})
	}
	return tk, nil
}

// mcpConn is a toolkit's client session, made again when it is lost.
type mcpConn struct {
	toolkit   string
	endpoint  string // for scrubbing from the SDK's error texts
	client    *mcp.Client
	transport mcp.Transport
	options   *mcp.ClientSessionOptions

	sem     chan struct{} // held while connecting or swapping sessions
	session *mcp.ClientSession
	closed  bool
	wg      sync.WaitGroup // replaced sessions being closed
}

func (c *mcpConn) lock(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *mcpConn) unlock() { <-c.sem }

// current returns the session, connecting if there is none.
func (c *mcpConn) current(ctx context.Context) (*mcp.ClientSession, error) {
	return c.replace(ctx, nil)
}

// replace returns a session other than stale: the current one if another
// call has already replaced stale, else a new one. A nil stale asks for
// the current session.
func (c *mcpConn) replace(ctx context.Context, stale *mcp.ClientSession) (*mcp.ClientSession, error) {
	if err := c.lock(ctx); err != nil {
		return nil, err
	}
	defer c.unlock()
	if c.closed {
		return nil, ErrMCPClosed
	}
	if c.session != nil && c.session != stale {
		return c.session, nil
	}
	if old := c.session; old != nil {
		c.session = nil
		c.wg.Go(func() { _ = old.Close() })
	}
	sess, err := c.client.Connect(ctx, c.transport, c.options)
	if err != nil {
		return nil, fmt.Errorf("mcp toolkit %q: connecting: %w", c.toolkit, c.describe(err))
	}
	c.session = sess
	return sess, nil
}

// Close ends the session. It is safe to call more than once.
func (c *mcpConn) Close() error {
	c.sem <- struct{}{}
	sess := c.session
	c.session, c.closed = nil, true
	<-c.sem
	var err error
	if sess != nil {
		err = sess.Close()
	}
	c.wg.Wait()
	return err
}

// call runs a tool, reconnecting once if the session was lost.
func (c *mcpConn) call(ctx context.Context, tool string, args json.RawMessage) (json.RawMessage, error) {
	var arguments map[string]any
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.UseNumber()
	if err := dec.Decode(&arguments); err != nil || arguments == nil {
		return nil, errors.New("the arguments must be a JSON object")
	}
	sess, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	params := &mcp.CallToolParams{Name: tool, Arguments: arguments}
	res, err := sess.CallTool(ctx, params)
	if err != nil && sessionLost(err) && ctx.Err() == nil {
		if sess, err = c.replace(ctx, sess); err != nil {
			return nil, err
		}
		res, err = sess.CallTool(ctx, params)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, c.describe(err)
	}
	return toolResult(res)
}

// sessionLost reports whether err means the session is gone and the
// request was not run, so that a new session may run it: the server
// answered 404 for the session, or the connection had already failed
// (the SDK refuses a call on a broken connection before writing it).
// Other failures are not retried, since the tool may have run.
func sessionLost(err error) bool {
	return errors.Is(err, mcp.ErrSessionMissing) || errors.Is(err, mcp.ErrConnectionClosed)
}

// describe turns a client error into one fit for the model: the
// server's JSON-RPC error message, or what went wrong with the
// connection, never the endpoint (which may carry a token).
func (c *mcpConn) describe(err error) error {
	var rpcErr *jsonrpc.Error
	var urlErr *url.Error
	switch {
	case errors.Is(err, ErrMCPClosed):
		return err
	case errors.As(err, &urlErr):
		return errors.New("the MCP server could not be reached (" + transportReason(urlErr.Err) + ")")
	case errors.Is(err, mcp.ErrSessionMissing):
		return errors.New("the MCP server lost the session")
	case errors.As(err, &rpcErr) && rpcErr.Code != codeRejected:
		return errors.New("the MCP server answered with an error: " + excerpt([]byte(rpcErr.Message), maxToolErrorBytes))
	case errors.Is(err, mcp.ErrConnectionClosed):
		return errors.New("the connection to the MCP server was closed")
	}
	// The SDK's text may quote the endpoint (a *url.Error wrapped with
	// %v is not found by errors.As above).
	return errors.New("the MCP server call failed: " + excerpt([]byte(scrubURL(err.Error(), c.endpoint)), errorExcerptBytes))
}

// toolResult is a call's result as JSON for the model: the structured
// content if there is any, else the content blocks. An error result
// becomes a Go error carrying its text.
func toolResult(res *mcp.CallToolResult) (json.RawMessage, error) {
	if res.IsError {
		var texts []string
		for _, c := range res.Content {
			if t, ok := c.(*mcp.TextContent); ok && t.Text != "" {
				texts = append(texts, t.Text)
			}
		}
		msg := strings.Join(texts, "\n")
		if msg == "" {
			msg = "the tool reported an error"
		} else if len(msg) > maxToolErrorBytes {
			msg = excerpt([]byte(msg), maxToolErrorBytes)
		}
		return nil, errors.New(msg)
	}
	var out []byte
	var err error
	if res.StructuredContent != nil {
		out, err = json.Marshal(res.StructuredContent)
	} else {
		blocks := make([]any, 0, len(res.Content))
		for _, c := range res.Content {
			blocks = append(blocks, contentBlock(c))
		}
		out, err = json.Marshal(map[string]any{"content": blocks})
	}
	if err != nil {
		return nil, errors.New("the tool's result could not be encoded")
	}
	if len(out) > MaxResultBytes {
		return nil, fmt.Errorf("the tool's result is larger than %d bytes", MaxResultBytes)
	}
	return out, nil
}

// contentBlock is one content block in the shape the model sees: text
// as it is; images, audio and binary resources by type and size, since
// base64 in a tool result only costs the model tokens.
func contentBlock(c mcp.Content) any {
	type block struct {
		Type        string `json:"type"`
		Text        string `json:"text,omitempty"`
		URI         string `json:"uri,omitempty"`
		Name        string `json:"name,omitempty"`
		Description string `json:"description,omitempty"`
		MIMEType    string `json:"mimeType,omitempty"`
		Bytes       int    `json:"bytes,omitempty"`
		Omitted     bool   `json:"omitted,omitempty"`
	}
	switch c := c.(type) {
	case *mcp.TextContent:
		return map[string]string{"type": "text", "text": c.Text}
	case *mcp.ImageContent:
		return block{Type: "image", MIMEType: c.MIMEType, Bytes: len(c.Data), Omitted: true}
	case *mcp.AudioContent:
		return block{Type: "audio", MIMEType: c.MIMEType, Bytes: len(c.Data), Omitted: true}
	case *mcp.ResourceLink:
		return block{Type: "resource_link", URI: c.URI, Name: c.Name, Description: c.Description, MIMEType: c.MIMEType}
	case *mcp.EmbeddedResource:
		if c.Resource == nil {
			return block{Type: "resource"}
		}
		r := c.Resource
		return block{Type: "resource", URI: r.URI, MIMEType: r.MIMEType, Text: r.Text, Bytes: len(r.Blob), Omitted: len(r.Blob) > 0}
	}
	return c
}

// headerTransport adds the operator's static headers to every request.
type headerTransport struct {
	base   http.RoundTripper
	header http.Header
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range t.header {
		req.Header[k] = slices.Clone(v)
	}
	return t.base.RoundTrip(req)
}
