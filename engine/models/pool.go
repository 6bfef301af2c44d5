package models

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

// PoolMember is one upstream of a pool: a provider built for one key or
// base URL, with its share of the traffic.
type PoolMember struct {
	Provider adapters.Provider
	// Weight is the member's share; 0 means 1.
	Weight int
}

// Pool spreads calls over several keys or base URLs of one provider: the
// least busy member relative to its weight serves each call, and a member
// answered 429 cools down for the upstream's Retry-After (1s when it gave
// none) while the call moves to another member. A pool is a Provider, so
// retries, fallbacks and accounting see one provider.
type Pool struct {
	now     func() time.Time
	mu      sync.Mutex
	members []*poolMember
}

type poolMember struct {
	PoolMember
	inflight  int
	coolUntil time.Time
}

// maxCooldown caps how long one 429 sidelines a member.
const maxCooldown = time.Minute

// NewPool returns a pool of members; now is its clock (nil: time.Now).
func NewPool(members []PoolMember, now func() time.Time) *Pool {
	if now == nil {
		now = time.Now
	}
	p := &Pool{now: now}
	for _, m := range members {
		if m.Weight <= 0 {
			m.Weight = 1
		}
		p.members = append(p.members, &poolMember{PoolMember: m})
	}
	return p
}

// pick takes the least busy usable member not yet tried, or reports how
// long until a cooling member is usable again.
func (p *Pool) pick(tried map[*poolMember]bool) (*poolMember, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	var best *poolMember
	soonest := time.Duration(-1)
	for _, m := range p.members {
		if tried[m] {
			continue
		}
		if wait := m.coolUntil.Sub(now); wait > 0 {
			if soonest < 0 || wait < soonest {
				soonest = wait
			}
			continue
		}
		// Compare inflight/weight without division: a/wa < b/wb.
		if best == nil || m.inflight*best.Weight < best.inflight*m.Weight {
			best = m
		}
	}
	if best != nil {
		best.inflight++
	}
	return best, soonest
}

func (p *Pool) done(m *poolMember, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m.inflight--
	var e *adapters.Error
	if errors.As(err, &e) && e.Kind == adapters.KindRateLimited {
		cool := e.RetryAfter
		if cool <= 0 {
			cool = time.Second
		}
		m.coolUntil = p.now().Add(min(cool, maxCooldown))
	}
}

// Chat implements adapters.Provider.
func (p *Pool) Chat(ctx context.Context, req *adapters.Request, emit adapters.Emit) error {
	tried := map[*poolMember]bool{}
	var lastErr error
	for {
		m, wait := p.pick(tried)
		if m == nil {
			if lastErr != nil {
				return lastErr
			}
			return &adapters.Error{Kind: adapters.KindRateLimited, Code: "upstream_rate_limited", RetryAfter: wait,
				Message: "every upstream key is cooling down after a 429"}
		}
		tried[m] = true
		emitted := false
		err := m.Provider.Chat(ctx, req, func(ev adapters.Event) error {
			emitted = true
			return emit(ev)
		})
		p.done(m, err)
		var e *adapters.Error
		if err == nil || emitted || !errors.As(err, &e) || e.Kind != adapters.KindRateLimited {
			return err
		}
		lastErr = err // rate limited before any event: try another member
	}
}

// Embed implements adapters.Embedder when the members do.
func (p *Pool) Embed(ctx context.Context, model string, inputs []string) ([][]float32, adapters.Usage, error) {
	tried := map[*poolMember]bool{}
	var lastErr error = &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "embeddings_not_supported",
		Message: "this provider does not compute embeddings"}
	for {
		m, _ := p.pick(tried)
		if m == nil {
			return nil, adapters.Usage{}, lastErr
		}
		tried[m] = true
		emb, ok := m.Provider.(adapters.Embedder)
		if !ok {
			p.done(m, nil)
			continue
		}
		vecs, u, err := emb.Embed(ctx, model, inputs)
		p.done(m, err)
		var e *adapters.Error
		if err == nil || !errors.As(err, &e) || e.Kind != adapters.KindRateLimited {
			return vecs, u, err
		}
		lastErr = err
	}
}

// Cooldowns returns, for each member in order, when it is usable again
// after a 429: a time not after now for a member that is not cooling
// down.
func (p *Pool) Cooldowns() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]time.Time, len(p.members))
	for i, m := range p.members {
		out[i] = m.coolUntil
	}
	return out
}

// Member returns one of the pool's members: all are the same kind of
// upstream, so it tells which optional interfaces the pool serves
// (adapters.As).
func (p *Pool) Member() adapters.Provider { return p.members[0].Provider }

// ListModels implements adapters.ModelLister when the members do: every
// member serves the same models, so the least busy one answers.
func (p *Pool) ListModels(ctx context.Context) ([]adapters.ModelInfo, error) {
	m, _ := p.pick(nil)
	if m == nil {
		m = p.members[0]
		p.mu.Lock()
		m.inflight++
		p.mu.Unlock()
	}
	lister, ok := adapters.As[adapters.ModelLister](m.Provider)
	if !ok {
		p.done(m, nil)
		return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "models_not_listed",
			Message: "this provider does not list its models"}
	}
	models, err := lister.ListModels(ctx)
	p.done(m, err)
	return models, err
}

// Forward implements adapters.Forwarder when the members do: the least
// busy member takes the request. One answered 429 cools down, and the
// request moves to another member when its body can be sent again
// (req.GetBody); otherwise the client gets the 429.
func (p *Pool) Forward(req *http.Request) (*http.Response, error) {
	tried := map[*poolMember]bool{}
	for {
		m, wait := p.pick(tried)
		if m == nil {
			return nil, &adapters.Error{Kind: adapters.KindRateLimited, Code: "upstream_rate_limited", RetryAfter: wait,
				Message: "every upstream key is cooling down after a 429"}
		}
		tried[m] = true
		fw, ok := adapters.As[adapters.Forwarder](m.Provider)
		if !ok {
			p.done(m, nil)
			return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "passthrough_not_supported",
				Message: "this provider does not speak OpenAI's API"}
		}
		resp, err := fw.Forward(req)
		if err != nil || resp.StatusCode != http.StatusTooManyRequests {
			p.done(m, err)
			return resp, err
		}
		p.done(m, &adapters.Error{Kind: adapters.KindRateLimited, RetryAfter: retryAfter(resp.Header)})
		if req.GetBody == nil || len(tried) == len(p.members) {
			return resp, nil
		}
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		_ = resp.Body.Close()
		req = req.Clone(req.Context())
		req.Body = body
	}
}

// RelayChat implements adapters.ChatRelayer when the members do: the
// least busy member takes the call, and keeps counting it in flight until
// its answer's body is closed; one that answered 429 cools down while the
// call moves to another member, as Chat does.
func (p *Pool) RelayChat(ctx context.Context, body []byte, stream bool) (*http.Response, error) {
	tried := map[*poolMember]bool{}
	var lastErr error
	for {
		m, wait := p.pick(tried)
		if m == nil {
			if lastErr != nil {
				return nil, lastErr
			}
			return nil, &adapters.Error{Kind: adapters.KindRateLimited, Code: "upstream_rate_limited", RetryAfter: wait,
				Message: "every upstream key is cooling down after a 429"}
		}
		tried[m] = true
		rl, ok := adapters.As[adapters.ChatRelayer](m.Provider)
		if !ok {
			p.done(m, nil)
			return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "passthrough_not_supported",
				Message: "this provider does not speak OpenAI's API"}
		}
		resp, err := rl.RelayChat(ctx, body, stream)
		if err == nil {
			resp.Body = &memberBody{ReadCloser: resp.Body, done: func() { p.done(m, nil) }}
			return resp, nil
		}
		p.done(m, err)
		var e *adapters.Error
		if !errors.As(err, &e) || e.Kind != adapters.KindRateLimited {
			return nil, err
		}
		lastErr = err // rate limited: try another member
	}
}

// memberBody is an answer of a pool member: closing it ends the member's
// call.
type memberBody struct {
	io.ReadCloser
	done func()
	once sync.Once
}

func (b *memberBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// retryAfter reads a Retry-After header given in seconds.
func retryAfter(h http.Header) time.Duration {
	if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

var (
	_ adapters.Forwarder   = (*Pool)(nil)
	_ adapters.ChatRelayer = (*Pool)(nil)
	_ adapters.Provider    = (*Pool)(nil)
	_ adapters.Embedder    = (*Pool)(nil)
	_ adapters.ModelLister = (*Pool)(nil)
)
