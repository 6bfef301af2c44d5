// Package redis is the limits backend a tier of gateway instances shares:
// the state of every rule in one Redis (7 or later) or Valkey server, on
// github.com/redis/go-redis/v9. Each admission, renewal and settlement
// is one Lua script run atomically on the server (lua/*.lua): one round
// trip, called by its hash (EVALSHA) and sent again whole only when the
// server does not know it (NOSCRIPT: a restarted or flushed server).
// Time is the server's (TIME), so instances with skewed clocks agree.
//
// The keys, under a prefix (default "agentgate:"), are per rule kind and
// scope: a sorted set of the leases holding slots, a hash per bucket, and
// per quota a hash of reservations, a sorted set of their expiries and a
// string per month of used tokens, seeded from the store's counters when
// absent. Scripts build a month's key from the server's time, so the
// backend wants one server (a primary, with replicas or Sentinel), not a
// Redis Cluster. Lua counts in doubles: figures are exact up to 2^53.
package redis

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/agentgate/agentgate/limits"
)

var (
	//go:embed lua/lib.lua
	lib string
	//go:embed lua/admit.lua
	admitSrc string
	//go:embed lua/renew.lua
	renewSrc string
	//go:embed lua/settle.lua
	settleSrc string

	admitScript  = goredis.NewScript(lib + admitSrc)
	renewScript  = goredis.NewScript(lib + renewSrc)
	settleScript = goredis.NewScript(lib + settleSrc)
)

// Backend keeps limits in Redis. It is safe for concurrent use.
type Backend struct {
	client goredis.UniversalClient
	prefix string
}

// New returns a backend on client, its keys under prefix.
func New(client goredis.UniversalClient, prefix string) *Backend {
	return &Backend{client: client, prefix: prefix}
}

// Load loads the scripts into the server's script cache. Every call is
// sent by hash (EVALSHA) and sent whole (EVAL, which caches it) only when
// the server does not know it (NOSCRIPT): a new, restarted or flushed
// server.
func (b *Backend) Load(ctx context.Context) error {
	for _, s := range []*goredis.Script{admitScript, renewScript, settleScript} {
		if err := s.Load(ctx, b.client).Err(); err != nil {
			return err
		}
	}
	return nil
}

// key is rule r's key.
func (b *Backend) key(r limits.Rule) string { return b.prefix + r.Kind.String() + ":" + r.Scope }

func class(r limits.Rule) string {
	switch r.Kind.Class() {
	case limits.Slots:
		return "s"
	case limits.Bucket:
		return "b"
	}
	return "q"
}

// Admit implements limits.Backend.
func (b *Backend) Admit(ctx context.Context, req *limits.Request) (limits.Answer, error) {
	keys := make([]string, len(req.Rules))
	args := make([]any, 0, 3+4*len(req.Rules))
	peek := "0"
	if req.Peek {
		peek = "1"
	}
	args = append(args, req.Lease, req.TTL.Milliseconds(), peek)
	for i, r := range req.Rules {
		if r.Max <= 0 {
			return limits.Answer{}, fmt.Errorf("rule %s: max must be positive", r)
		}
		keys[i] = b.key(r)
		seed := ""
		for _, s := range req.Seeds {
			if s.Rule == i {
				seed = s.Month + ":" + strconv.FormatInt(s.Used, 10)
			}
		}
		args = append(args, class(r), r.Max, req.Amounts[i], seed)
	}
	reply, err := admitScript.Run(ctx, b.client, keys, args...).Int64Slice()
	if err != nil {
		return limits.Answer{}, err
	}
	return decode(reply, len(req.Rules))
}

// decode reads admit.lua's reply.
func decode(v []int64, rules int) (limits.Answer, error) {
	bad := fmt.Errorf("limits: unexpected admission reply %v", v)
	if len(v) < 4 || v[3] < 0 || len(v) != 4+int(v[3])+5*rules {
		return limits.Answer{}, bad
	}
	ans := limits.Answer{Admitted: v[0] == 1, Now: time.UnixMilli(v[1]).UTC(), Refused: int(v[2]), States: make([]limits.State, rules)}
	v = v[4:]
	for _, i := range v[:len(v)-5*rules] {
		ans.Unseeded = append(ans.Unseeded, int(i))
	}
	v = v[len(ans.Unseeded):]
	for i := range ans.States {
		s := v[5*i:]
		ans.States[i] = limits.State{Remaining: s[0], Reset: time.Duration(s[1]) * time.Millisecond,
			RetryAfter: time.Duration(s[2]) * time.Millisecond, Used: s[3], Reserved: s[4]}
	}
	return ans, nil
}

// renewBatch bounds the leases one renewal call carries.
const renewBatch = 500

// Renew implements limits.Backend: one call per renewBatch leases.
func (b *Backend) Renew(ctx context.Context, leases []limits.Held, ttl time.Duration) error {
	var errs []error
	for len(leases) > 0 {
		batch := leases[:min(len(leases), renewBatch)]
		leases = leases[len(batch):]
		var keys []string
		args := []any{ttl.Milliseconds()}
		for _, l := range batch {
			for _, r := range l.Rules {
				keys = append(keys, b.key(r))
				args = append(args, class(r), l.Lease)
			}
		}
		if err := renewScript.Run(ctx, b.client, keys, args...).Err(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Settle implements limits.Backend.
func (b *Backend) Settle(ctx context.Context, s *limits.Settlement) error {
	keys := make([]string, len(s.Rules))
	args := make([]any, 0, 1+4*len(s.Rules))
	args = append(args, s.Lease)
	for i, r := range s.Rules {
		keys[i] = b.key(r)
		var refund int64
		var months []limits.MonthAmount
		switch r.Kind.Class() {
		case limits.Bucket:
			refund = s.Refund(i)
		case limits.Quota:
			months = s.Months(i)
		}
		args = append(args, class(r), r.Max, refund, len(months))
		for _, m := range months {
			args = append(args, m.Month, m.Amount)
		}
	}
	return settleScript.Run(ctx, b.client, keys, args...).Err()
}

// Close implements limits.Backend.
func (b *Backend) Close() error { return b.client.Close() }

var _ limits.Backend = (*Backend)(nil)
