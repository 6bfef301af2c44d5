package openai

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/wire"
)

var _ adapters.ChatRelayer = (*Provider)(nil)

// RelayChat implements adapters.ChatRelayer: body goes to
// {base}/chat/completions as Chat's own bodies go (the provider's key
// and headers, the call timeout, the stream timeouts when stream is set).
// A non-streamed answer is read whole and checked as Chat checks it (JSON,
// no {"error":…}, a choice) before it is returned, its body in memory.
func (p *Provider) RelayChat(ctx context.Context, body []byte, stream bool) (*http.Response, error) {
	ctx, cancel := p.client.WithTimeout(ctx)
	if stream {
		ctx = wire.StreamCall(ctx)
	}
	resp, err := p.client.Post(ctx, p.chatURL, body, stream)
	if err != nil {
		cancel()
		return nil, err
	}
	rb := &relayBody{rc: resp.Body, ctx: ctx, cancel: cancel, status: resp.StatusCode, timeout: p.client.Timeout(),
		stream: strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")}
	resp.Body = rb
	if rb.stream {
		return resp, nil
	}
	defer rb.Close()
	text, err := wire.ReadText(rb, resp.ContentLength)
	if err != nil {
		if err == wire.ErrTooLarge {
			return nil, &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream response too large", UpstreamStatus: resp.StatusCode}
		}
		return nil, err
	}
	if _, err := checkAnswer(text, resp.StatusCode); err != nil {
		return nil, err
	}
	resp.Body, resp.ContentLength = wire.NewTextBody(text), int64(len(text))
	return resp, nil
}

var _ adapters.TextBody = (*wire.TextBody)(nil)

// drainLimit and drainTime bound what Close reads of an answer its reader
// left unfinished, so the connection can serve another call.
const (
	drainLimit = 64 << 10
	drainTime  = 100 * time.Millisecond
)

// relayBody is a relayed answer's body: its read errors are the ones Chat
// reports, and closing it ends the call.
type relayBody struct {
	rc      io.ReadCloser
	ctx     context.Context
	cancel  context.CancelFunc
	status  int
	timeout time.Duration
	stream  bool
	// ended: a read returned io.EOF or an error.
	ended bool
}

func (b *relayBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == nil {
		return n, nil
	}
	b.ended = true
	if err == io.EOF {
		return n, err
	}
	if b.stream {
		return n, wire.StreamError(b.ctx, err, b.timeout, errCallTimeout, b.status)
	}
	// As Client.ReadBody reports a non-streamed answer cut off.
	te := wire.TransportError(b.ctx, err, b.timeout, errCallTimeout)
	if ae, ok := te.(*adapters.Error); ok {
		ae.UpstreamStatus = b.status
	}
	return n, te
}

// Close ends the call. An answer its reader stopped reading before its
// end (a stream after its [DONE]) is drained briefly first, so the
// connection returns to the pool.
func (b *relayBody) Close() error {
	if !b.ended && b.ctx.Err() == nil {
		t := time.AfterFunc(drainTime, b.cancel)
		_, _ = io.CopyN(io.Discard, b.rc, drainLimit)
		t.Stop()
	}
	err := b.rc.Close()
	b.cancel()
	return err
}
