package models

import (
	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/pricing"
	"go.uber.org/zap"
)

// cost prices one model call when its usage record is written, at the
// prices of this configuration (a reload builds new Models: records
// already written keep their cost). models are the model the
// upstream reported, then the one asked for. A model without a price
// has an unknown cost (nil), never 0, and a warning names it once per
// process; so has a call that names no model.
func (m *Models) cost(u adapters.Usage, images int, models ...string) *pricing.Micros {
	if c, ok := m.prices.Cost(u, images, models...); ok {
		return &c
	}
	model := ""
	for _, name := range models {
		if name != "" {
			model = name
			break
		}
	}
	var p *pricing.Price
	for _, name := range models {
		if p = m.prices.Lookup(name); p != nil {
			break
		}
	}
	switch {
	case model == "": // a call that named no model (a passed-through file upload): nothing to name
	case p == nil && pricing.FirstUnpriced(model):
		m.log.Warn("model has no price: the cost of its calls is unknown (null) until a `price` entry covers it",
			zap.String("model", model))
	case p != nil && pricing.FirstUnpriced(p.Model+" above"):
		m.log.Warn("model has no price for prompts this long: the cost of such calls is unknown (null)",
			zap.String("model", p.Model), zap.Int64("above_tokens", p.Above.Tokens), zap.Int("prompt_tokens", u.InputTokens))
	}
	return nil
}

// imagesIn counts the images of a request's messages, for per-image
// prices.
func imagesIn(msgs []adapters.Message) int {
	n := 0
	for i := range msgs {
		for _, p := range msgs[i].Parts {
			if p.Type == adapters.PartImage {
				n++
			}
		}
	}
	return n
}
