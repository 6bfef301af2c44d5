package models

import (
	"context"
	"strings"

	"github.com/agentgate/agentgate/adapters"
)

// TextCall is one plain model call outside an agent run and outside any
// request (the memory manager's): req.Model is the model to route, pinned
// to Provider when set; the answer's text is all that matters. It is
// accounted by its usage record only.
type TextCall struct {
	Account
	Request  *adapters.Request
	Provider string
	// IDPrefix prefixes the usage record's id; empty means "run-".
	IDPrefix string
}

// CompleteText makes one model call, not retried, and returns the
// answer's text; its usage (estimated when the upstream reports none) is
// reported like any call's.
func (m *Models) CompleteText(ctx context.Context, c *TextCall) (string, error) {
	provider, upstream, ok := m.router.Resolve(c.Request.Model, c.Provider)
	if !ok {
		return "", &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
			Message: "no provider serves model " + adapters.Quote(c.Request.Model)}
	}
	r := *c.Request
	r.Model = upstream
	var (
		text  strings.Builder
		usage adapters.Usage
		got   bool
	)
	t0 := m.now()
	err := m.router.Provider(provider).Chat(ctx, &r, func(ev adapters.Event) error {
		switch ev.Type {
		case adapters.EventDelta:
			text.WriteString(ev.Text)
		case adapters.EventUsage:
			usage.Add(*ev.Usage)
			got = true
		case adapters.EventStart:
			if ev.Model != "" {
				upstream = ev.Model
			}
		}
		return nil
	})
	if !got && (err == nil || text.Len() > 0) {
		usage = adapters.Usage{InputTokens: EstimateRequestTokens(&r), OutputTokens: EstimateTokens(text.String()), Estimated: true}
	}
	at := m.now()
	prefix := c.IDPrefix
	if prefix == "" {
		prefix = "run-"
	}
	m.report(ctx, nil, &report{Account: c.Account, id: adapters.NewID(prefix), model: upstream, provider: provider, usage: usage,
		latency: at.Sub(t0), at: at, err: err, asked: r.Model, images: imagesIn(r.Messages)})
	return text.String(), err
}
