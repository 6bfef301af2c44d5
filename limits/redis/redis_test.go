package redis_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/agentgate/agentgate/limits"
	"github.com/agentgate/agentgate/limits/limitstest"
	"github.com/agentgate/agentgate/limits/redis"
	"github.com/agentgate/agentgate/state"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.StopShared()
	os.Exit(code)
}

var ctx = context.Background()

func client(t testing.TB, s *redistest.Server, hooks ...goredis.Hook) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
	for _, h := range hooks {
		c.AddHook(h)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestContract runs the limits contract on a real redis-server: each
// instance its own client, as each gateway process has; time is the
// server's.
func TestContract(t *testing.T) {
	limitstest.Run(t, func(t *testing.T) limitstest.Env {
		s := redistest.Shared(t)
		prefix := s.Prefix()
		admin := client(t, s)
		return limitstest.Env{
			Open: func() limits.Backend {
				return redis.New(goredis.NewClient(&goredis.Options{Addr: s.Addr(), MaxRetries: -1}), prefix)
			},
			Now: func() time.Time {
				now, err := admin.Time(ctx).Result()
				if err != nil {
					t.Fatal(err)
				}
				return now
			},
			Sleep: time.Sleep,
		}
	})
}

// TestMonthOfMatchesGo: the scripts' calendar month of a server time is
// state.MonthKey's, at every month boundary from 1970 to 2400 and at
// random instants.
func TestMonthOfMatchesGo(t *testing.T) {
	c := client(t, redistest.Shared(t))
	lib, err := os.ReadFile("lua/lib.lua")
	if err != nil {
		t.Fatal(err)
	}
	script := goredis.NewScript(string(lib) + "\nlocal out = {}\nfor i = 1, #ARGV do out[i] = month_of(tonumber(ARGV[i])) end\nreturn out")
	var instants []time.Time
	for m := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC); m.Year() < 2400; m = m.AddDate(0, 1, 0) {
		instants = append(instants, m, m.Add(-time.Millisecond), m.Add(time.Millisecond))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		instants = append(instants, time.UnixMilli(rng.Int64N(time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())))
	}
	for len(instants) > 0 {
		batch := instants[:min(len(instants), 1000)]
		instants = instants[len(batch):]
		args := make([]any, len(batch))
		for i, at := range batch {
			args[i] = at.UnixMilli()
		}
		got, err := script.Run(ctx, c, nil, args...).StringSlice()
		if err != nil {
			t.Fatal(err)
		}
		for i, at := range batch {
			if want := state.MonthKey(at); got[i] != want {
				t.Fatalf("month_of(%d) (%s) = %s, want %s", at.UnixMilli(), at.UTC(), got[i], want)
			}
		}
	}
}

// counter counts the commands a client sends, scripts by name, and the
// scripts alone (not a new connection's handshake).
type counter struct {
	calls, scripts atomic.Int64
	names          atomic.Value
}

func (c *counter) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (c *counter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		c.calls.Add(1)
		if strings.HasPrefix(cmd.Name(), "eval") {
			c.scripts.Add(1)
		}
		names, _ := c.names.Load().(string)
		c.names.Store(names + cmd.Name() + " ")
		return next(ctx, cmd)
	}
}
func (c *counter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

// TestOneRoundTrip: with every kind of rule, an admission is one call
// (EVALSHA) and its settlement one more; the figures of a month the
// server has none of cost one more admission call, once.
func TestOneRoundTrip(t *testing.T) {
	s := redistest.Shared(t)
	var n counter
	b := redis.New(client(t, s, &n), s.Prefix())
	if err := b.Load(ctx); err != nil {
		t.Fatal(err)
	}
	l := limits.New(b, limits.Options{Seeder: zeroSeeder{}})
	defer l.Close()
	rules := []limits.Rule{
		{Scope: "key:k", Kind: limits.Concurrent, Max: 10},
		{Scope: "key:k", Kind: limits.RequestsPerMinute, Max: 1000},
		{Scope: "key:k", Kind: limits.TokensPerMinute, Max: 100_000},
		{Scope: "key:k", Kind: limits.MonthlyTokens, Max: 1_000_000},
		{Scope: "tenant:t", Kind: limits.MonthlyTokens, Max: 1_000_000},
	}
	d, err := l.Admit(ctx, rules, limits.Cost{Tokens: 100})
	if err != nil || !d.Admitted {
		t.Fatalf("first admission: %v %+v", err, d)
	}
	if err := d.Lease.Settle(ctx, []limits.Spend{{At: d.Now, Cost: limits.Cost{Tokens: 90}}}); err != nil {
		t.Fatal(err)
	}
	n.calls.Store(0)
	n.names.Store("")
	for range 10 {
		d, err := l.Admit(ctx, rules, limits.Cost{Tokens: 100})
		if err != nil || !d.Admitted {
			t.Fatalf("admission: %v %+v", err, d)
		}
		if err := d.Lease.Settle(ctx, []limits.Spend{{At: d.Now, Cost: limits.Cost{Tokens: 90}}}); err != nil {
			t.Fatal(err)
		}
	}
	names, _ := n.names.Load().(string)
	if n.calls.Load() != 20 || strings.Count(names, "evalsha") != 20 {
		t.Fatalf("10 admissions and settlements made %d calls: %s", n.calls.Load(), names)
	}
}

type zeroSeeder struct{}

func (zeroSeeder) Used(context.Context, string, limits.Kind, time.Time) (int64, error) { return 0, nil }

// TestServerAway: while Redis is down, requests are admitted unchecked
// (on_error allow) or refused (deny) at once; the settlements made
// meanwhile are delivered when it is back; back empty (a restart loses
// its state and its scripts), limits apply again without a restart of
// the gateway, the quota's month figure seeded again from the usage
// records, once the breaker's open period has passed.
func TestServerAway(t *testing.T) {
	s := redistest.Start(t)
	clk := clock.NewManual(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	seed := &fixedSeeder{}
	seed.used.Store(500)
	newLimiter := func(deny bool) *limits.Limiter {
		b := redis.New(goredis.NewClient(&goredis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: time.Second,
			ReadTimeout: time.Second, WriteTimeout: time.Second}), "away:")
		l := limits.New(b, limits.Options{Seeder: seed, Deny: deny, RenewEvery: time.Hour, Clock: clk})
		t.Cleanup(func() { _ = l.Close() })
		return l
	}
	allow, deny := newLimiter(false), newLimiter(true)
	rules := []limits.Rule{{Scope: "key:k", Kind: limits.RequestsPerMinute, Max: 2}, {Scope: "key:k", Kind: limits.MonthlyTokens, Max: 1000}}
	held, err := allow.Admit(ctx, rules, limits.Cost{Tokens: 100})
	if err != nil || !held.Admitted || held.Unchecked {
		t.Fatalf("before: %v %+v", err, held)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if d, err := allow.Admit(ctx, rules, limits.Cost{Tokens: 100}); err != nil || !d.Admitted || !d.Unchecked {
		t.Fatalf("on_error allow, Redis down: %v %+v", err, d)
	}
	if _, err := deny.Admit(ctx, rules, limits.Cost{Tokens: 100}); !errors.Is(err, limits.ErrUnavailable) {
		t.Fatalf("on_error deny, Redis down: %v", err)
	}
	// The request admitted before settles while Redis is down.
	if err := held.Lease.Settle(ctx, []limits.Spend{{At: held.Now, Cost: limits.Cost{Tokens: 70}}}); !errors.Is(err, limits.ErrUnavailable) {
		t.Fatalf("settling while Redis is down: %v", err)
	}

	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	clk.Add(limits.BreakerOpen)
	// Back, empty: the month's figure comes from the usage records again
	// (which would hold the 70 the request used: the seeder says 570).
	seed.used.Store(570)
	for i, want := range []bool{true, true, false} {
		d, err := deny.Admit(ctx, rules, limits.Cost{Tokens: 100})
		if err != nil || d.Admitted != want || d.Unchecked {
			t.Fatalf("request %d after the restart: %v %+v", i, err, d)
		}
		if i == 0 && (d.States[1].Used != 570 || d.States[1].Reserved != 0) {
			t.Fatalf("quota after the restart: %+v", d.States[1])
		}
	}
	// The settlement kept during the outage is delivered at the next
	// renewal. The month's figure was seeded after the outage from usage
	// records that already hold its 70 tokens: the live figure counts
	// them twice, erring on the side of refusing early, never of
	// overspending (the usage records keep them once).
	if err := allow.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := deny.Peek(ctx, rules)
	if err != nil {
		t.Fatal(err)
	}
	if d.States[1].Used != 640 || d.States[1].Reserved != 200 {
		t.Fatalf("quota after the kept settlement: %+v", d.States[1])
	}
}

type fixedSeeder struct{ used atomic.Int64 }

func (f *fixedSeeder) Used(context.Context, string, limits.Kind, time.Time) (int64, error) {
	return f.used.Load(), nil
}

// cutter dials connections whose reads the test can cut: once cut, a
// read fails at once with a timeout, as the client's read timeout would
// end it, however long that timeout. The calls a paused server never
// answers then cost no wait, and every other call keeps a generous
// timeout, which a loaded machine does not run out of.
type cutter struct{ cut atomic.Bool }

func (c *cutter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &cutConn{Conn: conn, c: c}, nil
}

// cutConn is a cutter's connection. The client sets a read deadline
// before each read, and cut sets one in the past instead.
type cutConn struct {
	net.Conn
	c *cutter
}

func (cc *cutConn) deadline(t time.Time) time.Time {
	if cc.c.cut.Load() {
		return time.Unix(1, 0)
	}
	return t
}

func (cc *cutConn) SetReadDeadline(t time.Time) error { return cc.Conn.SetReadDeadline(cc.deadline(t)) }
func (cc *cutConn) SetDeadline(t time.Time) error {
	if err := cc.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return cc.SetReadDeadline(t)
}

// cutClient is a client of s whose reads cut cuts, with generous
// timeouts otherwise, counting its commands in n.
func cutClient(t *testing.T, s *redistest.Server, cut *cutter, n *counter) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr(), MaxRetries: -1, Dialer: cut.dial,
		DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
	c.AddHook(n)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestServerSwallowsPackets: a Redis that accepts connections but
// answers nothing (its process stopped: as a dead host or a firewall
// that drops packets) costs the first admission the client's timeout
// (here cut short: cutter); the breaker then holds the next admissions
// and settlements back, which take on_error without a command sent to
// Redis, while a renewal, which no request waits for, probes it once.
// Back, and the breaker's open period passed on the gateway's clock,
// the next admission probes it, and limits are enforced again.
func TestServerSwallowsPackets(t *testing.T) {
	s := redistest.Start(t) // its own: the test stops it
	for _, deny := range []bool{false, true} {
		var n counter
		var cut cutter
		clk := clock.NewManual(time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC))
		l := limits.New(redis.New(cutClient(t, s, &cut, &n), s.Prefix()), limits.Options{Deny: deny, Clock: clk, RenewEvery: time.Hour})
		rules := []limits.Rule{{Scope: "key:k", Kind: limits.RequestsPerMinute, Max: 4}, {Scope: "key:k", Kind: limits.Concurrent, Max: 10}}
		fallback := func(what string) {
			t.Helper()
			d, err := l.Admit(ctx, rules, limits.Cost{})
			if deny && !errors.Is(err, limits.ErrUnavailable) || !deny && (err != nil || !d.Admitted || !d.Unchecked) {
				t.Fatalf("deny %v, %s: %+v, %v; want on_error's answer", deny, what, d, err)
			}
		}
		// Two requests before: one ends during the outage, one runs on
		// (its lease renewed).
		held, err := l.Admit(ctx, rules, limits.Cost{})
		if err != nil || !held.Admitted || held.Unchecked {
			t.Fatalf("deny %v, before: %v %+v", deny, err, held)
		}
		if d, err := l.Admit(ctx, rules, limits.Cost{}); err != nil || !d.Admitted || d.Unchecked {
			t.Fatalf("deny %v, before: %v %+v", deny, err, d)
		}
		if err := s.Pause(); err != nil {
			t.Fatal(err)
		}
		cut.cut.Store(true)
		paused := true
		resume := func() {
			if paused {
				paused = false
				cut.cut.Store(false)
				if err := s.Resume(); err != nil {
					t.Fatal(err)
				}
			}
		}
		t.Cleanup(resume)
		sent := n.scripts.Load()
		fallback("the admission that timed out")
		if got := n.scripts.Load() - sent; got != 1 {
			t.Fatalf("deny %v: the admission that timed out sent %d scripts, want 1", deny, got)
		}
		sent = n.scripts.Load()
		for i := range 20 {
			fallback(fmt.Sprintf("admission %d while the breaker is open", i))
		}
		if err := held.Lease.Settle(ctx, nil); !errors.Is(err, limits.ErrUnavailable) {
			t.Fatalf("deny %v: settling while the breaker is open: %v", deny, err)
		}
		if got := n.scripts.Load() - sent; got != 0 {
			t.Fatalf("deny %v: %d scripts sent to the paused Redis by calls the breaker holds back", deny, got)
		}
		if err := l.Renew(ctx); !errors.Is(err, limits.ErrUnavailable) {
			t.Fatalf("deny %v: renewing while Redis is paused: %v", deny, err)
		}
		fallback("an admission after the renewal timed out")
		if got := n.scripts.Load() - sent; got != 1 {
			t.Fatalf("deny %v: %d scripts sent after the renewal's probe, want its 1", deny, got)
		}

		resume()
		clk.Add(limits.BreakerOpen)
		// Enforced again: rpm 4, of which the requests before took two, and
		// the admission that timed out one more if Redis ran it when it
		// woke (its reply was lost, not its command).
		admitted := 0
		for i := 0; ; i++ {
			d, err := l.Admit(ctx, rules, limits.Cost{})
			if err != nil || d.Unchecked {
				t.Fatalf("deny %v, admission %d after Redis is back: %+v, %v", deny, i, d, err)
			}
			if !d.Admitted {
				break
			}
			admitted++
			if admitted > 2 {
				t.Fatalf("deny %v: %d admissions after Redis is back, beyond rpm 4 with two taken before", deny, admitted)
			}
		}
		if admitted == 0 {
			t.Fatalf("deny %v: no admission after Redis is back", deny)
		}
		// The settlement kept meanwhile is delivered at the next renewal.
		if err := l.Renew(ctx); err != nil {
			t.Fatalf("deny %v: renewing after Redis is back: %v", deny, err)
		}
		_ = l.Close()
	}
}

// TestRenewBatches: a renewal is one call per 500 leases; the first
// batch that does not reach the server ends it (against a server that
// swallows packets, one timeout, not one per batch), while one the
// server rejects does not.
func TestRenewBatches(t *testing.T) {
	s := redistest.Shared(t)
	for _, tc := range []struct {
		name string
		// swallow cuts the replies; poison makes the first lease's key a
		// string, which the renewal script cannot read.
		swallow, poison bool
		wantSent        int64
		wantRejected    bool
	}{
		{name: "answered", wantSent: 3},
		{name: "server swallows packets", swallow: true, wantSent: 1},
		{name: "first batch rejected", poison: true, wantSent: 3, wantRejected: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n counter
			var cut cutter
			prefix := s.Prefix()
			b := redis.New(cutClient(t, s, &cut, &n), prefix)
			if err := b.Load(ctx); err != nil {
				t.Fatal(err)
			}
			leases := make([]limits.Held, 1200)
			for i := range leases {
				leases[i] = limits.Held{Lease: fmt.Sprint("lease", i), Rules: []limits.Rule{{Scope: fmt.Sprint("key:", i), Kind: limits.Concurrent, Max: 1}}}
			}
			// lease1 holds a slot that lives 10s more by the server's clock.
			c := client(t, s)
			serverNow, err := c.Time(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			held := float64(serverNow.Add(10 * time.Second).UnixMilli())
			if err := c.ZAdd(ctx, prefix+"concurrent:key:1", goredis.Z{Score: held, Member: "lease1"}).Err(); err != nil {
				t.Fatal(err)
			}
			if tc.poison {
				if err := c.Set(ctx, prefix+"concurrent:key:0", "x", 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			cut.cut.Store(tc.swallow)
			sent := n.scripts.Load()
			err = b.Renew(ctx, leases, time.Minute)
			cut.cut.Store(false)
			// The bad key skipped, its batch's other leases are renewed
			// (found in review: the script's error left them all out).
			if score := c.ZScore(ctx, prefix+"concurrent:key:1", "lease1").Val(); !tc.swallow && score <= held {
				t.Errorf("lease1 lives until %v, want renewed for a minute past %v", score, held)
			}
			if got := n.scripts.Load() - sent; got != tc.wantSent {
				t.Errorf("%d scripts sent, want %d", got, tc.wantSent)
			}
			switch {
			case tc.wantRejected:
				if !errors.Is(err, limits.ErrRejected) {
					t.Errorf("renewal: %v, want the rejection", err)
				}
			case tc.swallow:
				if err == nil || errors.Is(err, limits.ErrRejected) {
					t.Errorf("renewal: %v, want an unreachable server's error", err)
				}
			case err != nil:
				t.Error(err)
			}
		})
	}
}

// TestErrorReplies: Redis's error replies about the call itself (a key
// of the wrong type, a script's runtime error) reject it
// (limits.ErrRejected); those about the server's state (out of memory,
// busy with a script, a read-only replica, credentials wanted, a
// database it lacks) say it cannot take calls, as when it cannot be
// reached. Each reply comes from
// a real server put in that state.
func TestErrorReplies(t *testing.T) {
	s := redistest.Start(t)      // its own: the test reconfigures it
	admin := client(t, s).Conn() // one connection: it stays authenticated under requirepass
	t.Cleanup(func() { _ = admin.Close() })
	do := func(t *testing.T, args ...any) {
		t.Helper()
		if err := admin.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	prefix := s.Prefix()
	// admit admits under an rpm rule of scope: the script's first write
	// stores its bucket (a server out of memory refuses a script's first
	// write, and lets the next ones finish what it began).
	admit := func(b *redis.Backend, scope string) error {
		_, err := b.Admit(ctx, &limits.Request{Lease: "l", TTL: time.Minute, Amounts: []int64{1},
			Rules: []limits.Rule{{Scope: scope, Kind: limits.RequestsPerMinute, Max: 10}}})
		return err
	}
	prefixed := func(p string) func(error) bool { return func(err error) bool { return goredis.HasErrorPrefix(err, p) } }
	for _, tc := range []struct {
		name string
		// setup puts the server in the state and returns what undoes it.
		setup func(t *testing.T) func()
		call  func(b *redis.Backend) error
		// reply recognizes the server's error reply.
		reply    func(error) bool
		rejected bool
	}{
		{
			name: "wrong type",
			setup: func(t *testing.T) func() {
				do(t, "SET", prefix+"rpm:key:wrongtype", "x")
				return func() {}
			},
			call:     func(b *redis.Backend) error { return admit(b, "key:wrongtype") },
			reply:    prefixed("WRONGTYPE "),
			rejected: true,
		},
		{
			name: "script runtime error",
			setup: func(t *testing.T) func() {
				// A reservation that is not a number: settle.lua's
				// arithmetic on it fails.
				do(t, "HSET", prefix+"monthly_tokens:key:lua", "l", "abc")
				return func() {}
			},
			call: func(b *redis.Backend) error {
				return b.Settle(ctx, &limits.Settlement{Lease: "l", Taken: []int64{1},
					Rules: []limits.Rule{{Scope: "key:lua", Kind: limits.MonthlyTokens, Max: 10}}})
			},
			reply:    prefixed("user_script:"),
			rejected: true,
		},
		{
			name: "out of memory",
			setup: func(t *testing.T) func() {
				do(t, "CONFIG", "SET", "maxmemory", "1")
				return func() { do(t, "CONFIG", "SET", "maxmemory", "0") }
			},
			call:  func(b *redis.Backend) error { return admit(b, "key:oom") },
			reply: prefixed("OOM "),
		},
		{
			name: "busy with a script",
			setup: func(t *testing.T) func() {
				do(t, "CONFIG", "SET", "busy-reply-threshold", "10")
				looping := make(chan error)
				loop := goredis.NewClient(&goredis.Options{Addr: s.Addr(), MaxRetries: -1, ReadTimeout: -1})
				t.Cleanup(func() { _ = loop.Close() })
				go func() { looping <- loop.Eval(ctx, "while true do end", nil).Err() }()
				// Busy once the script has run past the threshold.
				for !goredis.HasErrorPrefix(admin.Ping(ctx).Err(), "BUSY ") {
					select {
					case err := <-looping:
						t.Fatalf("the looping script ended: %v", err)
					default:
					}
				}
				return func() {
					do(t, "SCRIPT", "KILL")
					<-looping
					do(t, "CONFIG", "SET", "busy-reply-threshold", "5000")
				}
			},
			call:  func(b *redis.Backend) error { return admit(b, "key:busy") },
			reply: prefixed("BUSY "),
		},
		{
			name: "read-only replica",
			setup: func(t *testing.T) func() {
				do(t, "REPLICAOF", "127.0.0.1", "1") // a primary it never reaches
				return func() { do(t, "REPLICAOF", "NO", "ONE") }
			},
			call:  func(b *redis.Backend) error { return admit(b, "key:replica") },
			reply: prefixed("READONLY "),
		},
		{
			name: "credentials wanted",
			setup: func(t *testing.T) func() {
				do(t, "CONFIG", "SET", "requirepass", "secret")
				return func() { do(t, "CONFIG", "SET", "requirepass", "") }
			},
			call: func(b *redis.Backend) error { return admit(b, "key:auth") },
			// NOAUTH, or the protocol error of a command too long for a
			// client not authenticated.
			reply: goredis.IsAuthError,
		},
		{
			name:  "no such database",
			setup: func(*testing.T) func() { return func() {} },
			call: func(*redis.Backend) error {
				c := goredis.NewClient(&goredis.Options{Addr: s.Addr(), DB: 1000, MaxRetries: -1})
				defer c.Close()
				return admit(redis.New(c, prefix), "key:db")
			},
			reply: prefixed("DB index is out of range"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			undo := tc.setup(t)
			err := tc.call(redis.New(client(t, s), prefix))
			undo()
			if !tc.reply(err) {
				t.Fatalf("got %v, want the server's reply of that state", err)
			}
			if errors.Is(err, limits.ErrRejected) != tc.rejected {
				t.Fatalf("%v: rejected %v, want %v", err, !tc.rejected, tc.rejected)
			}
		})
	}
}
