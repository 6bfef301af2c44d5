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
//
// An error reply about the call itself (a key of the wrong type, a
// script's runtime error) or a reply that cannot be read is returned
// wrapping limits.ErrRejected; any other error, replies about the
// server's state included (see serverState), says Redis could not be
// reached.
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
	if err := limits.CheckRules(req.Rules); err != nil {
		return limits.Answer{}, err
	}
	keys := make([]string, len(req.Rules))
	args := make([]any, 0, 3+4*len(req.Rules))
	peek := "0"
	if req.Peek {
		peek = "1"
	}
	args = append(args, req.Lease, req.TTL.Milliseconds(), peek)
	for i, r := range req.Rules {
		keys[i] = b.key(r)
		seed := ""
		for _, s := range req.Seeds {
			if s.Rule == i {
				seed = s.Month + ":" + strconv.FormatInt(s.Used, 10)
			}
		}
		args = append(args, class(r), r.Max, req.Amounts[i], seed)
	}
	cmd := admitScript.Run(ctx, b.client, keys, args...)
	if err := cmd.Err(); err != nil {
		return limits.Answer{}, classify(err)
	}
	reply, err := cmd.Int64Slice()
	if err != nil {
		return limits.Answer{}, fmt.Errorf("%w: reading the admission reply: %w", limits.ErrRejected, err)
	}
	return decode(reply, len(req.Rules))
}

// decode reads admit.lua's reply.
func decode(v []int64, rules int) (limits.Answer, error) {
	if len(v) < 4 || v[3] < 0 || len(v) != 4+int(v[3])+5*rules {
		return limits.Answer{}, fmt.Errorf("%w: unexpected admission reply %v", limits.ErrRejected, v)
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

// Renew implements limits.Backend: one call per renewBatch leases. A
// batch that does not reach the server ends the renewal, as the next
// ones would wait as long: against a server that swallows packets, a
// renewal costs one timeout. One the server rejects does not, nor does
// a key of another type, which the script skips (and counts).
func (b *Backend) Renew(ctx context.Context, leases []limits.Held, ttl time.Duration) error {
	var rejected []error
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
		skipped, err := renewScript.Run(ctx, b.client, keys, args...).Int()
		if err := classify(err); err != nil {
			if !errors.Is(err, limits.ErrRejected) {
				return err
			}
			rejected = append(rejected, err)
		} else if skipped > 0 {
			rejected = append(rejected, fmt.Errorf("%w: %d of the batch's keys hold another type than a sorted set; their leases were not renewed, the batch's others were", limits.ErrRejected, skipped))
		}
	}
	return errors.Join(rejected...)
}

// Settle implements limits.Backend.
func (b *Backend) Settle(ctx context.Context, s *limits.Settlement) error {
	if err := limits.CheckRules(s.Rules); err != nil {
		return err
	}
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
	return classify(settleScript.Run(ctx, b.client, keys, args...).Err())
}

// classify returns err, a call's error, wrapping limits.ErrRejected when
// it is the server's error reply about the call itself: the same call
// would fail again, and the server is reachable.
func classify(err error) error {
	var reply goredis.Error
	if err == nil || !errors.As(err, &reply) || serverState(err) {
		return err
	}
	return fmt.Errorf("%w: %w", limits.ErrRejected, err)
}

// serverState reports whether err is an error reply about the server's
// state rather than the call: it is loading its data, running a script
// too long, a replica, out of memory, unable to persist, without a
// primary or a cluster, full of clients, refusing the credentials, or
// without the URL's database (a new connection's SELECT). A later call
// may succeed (a restart's load, a failover, an operator); until then,
// Redis cannot take calls, as when it cannot be reached.
func serverState(err error) bool {
	return goredis.IsLoadingError(err) || goredis.IsReadOnlyError(err) || goredis.IsOOMError(err) ||
		goredis.IsMasterDownError(err) || goredis.IsTryAgainError(err) || goredis.IsClusterDownError(err) ||
		goredis.IsNoReplicasError(err) || goredis.IsMaxClientsError(err) || goredis.IsAuthError(err) ||
		// go-redis has no type for these: their replies' prefixes.
		goredis.HasErrorPrefix(err, "BUSY ") || goredis.HasErrorPrefix(err, "MISCONF ") ||
		goredis.HasErrorPrefix(err, "DB index is out of range")
}

// Close implements limits.Backend.
func (b *Backend) Close() error { return b.client.Close() }

var _ limits.Backend = (*Backend)(nil)
