package pricing

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/agentgate/agentgate/adapters"
)

// Table is a price list: the operator's entries, consulted first, over
// the default table. Within each, an exact model name wins over a prefix,
// and a longer prefix over a shorter one; so an operator's "claude-*"
// prices every Claude model, the defaults' exact names included.
// A Table is immutable; a reload builds a new one, so a price change
// applies to calls whose usage is recorded after it.
type Table struct {
	layers [2]layer
}

type layer struct {
	exact map[string]*Price
	// prefixes are the "*" entries, longest prefix first.
	prefixes []*Price
}

// NewTable builds the table of the operator's prices over defaults
// (either may be empty). An operator's entry replaces the default entry
// of the same model name as a whole.
func NewTable(operator, defaults []Price) (*Table, error) {
	t := &Table{}
	for i, prices := range [2][]Price{operator, defaults} {
		l, err := newLayer(prices)
		if err != nil {
			return nil, err
		}
		t.layers[i] = l
	}
	return t, nil
}

func newLayer(prices []Price) (layer, error) {
	l := layer{exact: make(map[string]*Price, len(prices))}
	seen := map[string]bool{}
	for i := range prices {
		p := &prices[i]
		if err := p.Validate(); err != nil {
			return layer{}, fmt.Errorf("price %q: %w", p.Model, err)
		}
		if seen[p.Model] {
			return layer{}, fmt.Errorf("price %q is given twice", p.Model)
		}
		seen[p.Model] = true
		if strings.HasSuffix(p.Model, "*") {
			l.prefixes = append(l.prefixes, p)
		} else {
			l.exact[p.Model] = p
		}
	}
	sort.SliceStable(l.prefixes, func(i, j int) bool { return len(l.prefixes[i].Model) > len(l.prefixes[j].Model) })
	return l, nil
}

func (l *layer) lookup(model string) *Price {
	if p, ok := l.exact[model]; ok {
		return p
	}
	for _, p := range l.prefixes {
		if strings.HasPrefix(model, p.Model[:len(p.Model)-1]) {
			return p
		}
	}
	return nil
}

// Lookup returns the price of model, or nil when it has none.
func (t *Table) Lookup(model string) *Price {
	if t == nil || model == "" {
		return nil
	}
	for i := range t.layers {
		if p := t.layers[i].lookup(model); p != nil {
			return p
		}
	}
	return nil
}

// Cost prices a model call with usage u and images input images under
// the first of models that has a price (the model the upstream reported,
// then the one asked for: a dated snapshot such as gpt-4o-mini-2024-07-18
// is priced as the model it was asked as). ok is false when the cost is
// unknown: no model has a price, or the price does not cover the call.
func (t *Table) Cost(u adapters.Usage, images int, models ...string) (Micros, bool) {
	for _, m := range models {
		if p := t.Lookup(m); p != nil {
			return p.Cost(u, images)
		}
	}
	return 0, false
}

// Estimate is what a call to model with a prompt of inputTokens and up to
// maxOutput generated tokens may cost (Price.Estimate); ok is false when
// model has no price that covers it.
func (t *Table) Estimate(model string, inputTokens, maxOutput int64, images int) (Micros, bool) {
	if p := t.Lookup(model); p != nil {
		return p.Estimate(inputTokens, maxOutput, images)
	}
	return 0, false
}

// maxWarned bounds the models FirstUnpriced remembers: clients choose
// the model names of routed prefixes, so the set must not grow without
// end. Past it, no further model is warned about.
const maxWarned = 1024

var warned struct {
	sync.Mutex
	models map[string]struct{}
}

// FirstUnpriced reports whether this is the first time this process meets
// model without a price, so that the warning naming it is logged once
// (per process, across reloads).
func FirstUnpriced(model string) bool {
	warned.Lock()
	defer warned.Unlock()
	if _, ok := warned.models[model]; ok || len(warned.models) >= maxWarned {
		return false
	}
	if warned.models == nil {
		warned.models = map[string]struct{}{}
	}
	warned.models[model] = struct{}{}
	return true
}
