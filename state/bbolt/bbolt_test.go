package bbolt_test

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
	"github.com/agentgate/agentgate/state/storetest"
)

var ctx = context.Background()

func openBolt(t testing.TB, path string, opts bbolt.Options) *bbolt.Store {
	t.Helper()
	s, err := bbolt.Open(path, opts)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	return s
}

func TestBoltContract(t *testing.T) {
	storetest.Run(t, storetest.Backend{Open: func(t *testing.T) state.Store {
		return openBolt(t, filepath.Join(t.TempDir(), "agentgate.db"), bbolt.Options{})
	}})
}

func TestBoltReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s := openBolt(t, path, bbolt.Options{})
	at := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	agent := &adapters.Agent{ID: "a1", Tenant: "t", Name: "persisted", Model: "m", CreatedAt: at}
	key := &state.APIKey{ID: "k1", Hash: sha256.Sum256([]byte("s")), Tenant: "t", Created: at}
	must(t, s.CreateAgent(ctx, agent))
	must(t, s.PutKey(ctx, key))
	for i := range 3 {
		must(t, s.AppendTurn(ctx, &state.Session{ID: "s1", Tenant: "t", AgentID: "a1"},
			[]adapters.Message{adapters.TextMessage(adapters.RoleUser, fmt.Sprint("turn ", i))}))
	}
	must(t, s.AppendUsage(ctx, []state.UsageRecord{{ID: "u1", Time: at, Tenant: "t", KeyID: "k1", InputTokens: 10, OutputTokens: 5}}))
	must(t, s.Close())

	s = openBolt(t, path, bbolt.Options{})
	defer s.Close()
	if got, err := s.GetAgent(ctx, "t", "a1"); err != nil || got.Name != "persisted" {
		t.Fatalf("GetAgent after reopen = %+v, %v", got, err)
	}
	if got, err := s.KeyByHash(ctx, key.Hash); err != nil || got.ID != "k1" {
		t.Fatalf("KeyByHash after reopen = %+v, %v", got, err)
	}
	if sess, err := s.GetSession(ctx, state.SessionKey{Tenant: "t", AgentID: "a1", ID: "s1"}); err != nil || sess.Turns != 3 {
		t.Fatalf("GetSession after reopen = %+v, %v", sess, err)
	}
	msgs, err := s.RecentTurns(ctx, state.SessionKey{Tenant: "t", AgentID: "a1", ID: "s1"}, 2)
	must(t, err)
	if len(msgs) != 2 || msgs[0].Text() != "turn 1" || msgs[1].Text() != "turn 2" {
		t.Fatalf("RecentTurns after reopen = %+v", msgs)
	}
	// Appending continues the sequence rather than overwriting turn 1.
	must(t, s.AppendTurn(ctx, &state.Session{ID: "s1", Tenant: "t", AgentID: "a1"}, []adapters.Message{adapters.TextMessage(adapters.RoleUser, "turn 3")}))
	msgs, err = s.RecentTurns(ctx, state.SessionKey{Tenant: "t", AgentID: "a1", ID: "s1"}, 10)
	must(t, err)
	if len(msgs) != 4 || msgs[3].Text() != "turn 3" {
		t.Fatalf("RecentTurns after append past reopen = %+v", msgs)
	}
	if recs, err := s.ListUsage(ctx, "t", 10); err != nil || len(recs) != 1 || recs[0].ID != "u1" {
		t.Fatalf("ListUsage after reopen = %+v, %v", recs, err)
	}
	if n, err := s.MonthlyTokens(ctx, "key:k1", at); err != nil || n != 15 {
		t.Fatalf("MonthlyTokens after reopen = %d, %v", n, err)
	}
}

func TestBoltLocked(t *testing.T) {
	for _, tc := range []struct {
		name string
		// hold opens the store the way the other holder does and returns
		// its close.
		hold func(t *testing.T, path string) func() error
		want []string
	}{
		{"other process", func(t *testing.T, path string) func() error {
			// flock conflicts between open files, so a plain bbolt
			// handle in this process stands in for another process.
			db, err := bolt.Open(path, 0o600, nil)
			must(t, err)
			return db.Close
		}, []string{"already in use by another Caddy process", "caddy reload"}},
		{"this process", func(t *testing.T, path string) func() error {
			return openBolt(t, path, bbolt.Options{}).Close
		}, []string{"already open in this process"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "store.db")
			release := tc.hold(t, path)

			// OpenBolt must give up after about its LockTimeout rather
			// than wait for the holder; how long it took is only logged
			// (a loaded machine stretches it), the bound ends a hang.
			type opened struct {
				s   *bbolt.Store
				err error
			}
			start := time.Now()
			done := make(chan opened, 1)
			go func() {
				s, err := bbolt.Open(path, bbolt.Options{LockTimeout: 100 * time.Millisecond})
				done <- opened{s, err}
			}()
			var s2 *bbolt.Store
			var err error
			select {
			case o := <-done:
				s2, err = o.s, o.err
			case <-time.After(30 * time.Second):
				t.Fatal("OpenBolt on a locked store did not give up within 30s (LockTimeout 100ms)")
			}
			elapsed := time.Since(start)
			if err == nil {
				s2.Close()
				t.Fatal("second OpenBolt on an open store succeeded")
			}
			if !errors.Is(err, bbolt.ErrLocked) {
				t.Fatalf("err = %v, want ErrLocked", err)
			}
			for _, want := range append(tc.want, path) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			t.Logf("error after %v: %v", elapsed.Round(time.Millisecond), err)

			// Once the holder closes, the store opens again.
			must(t, release())
			s3 := openBolt(t, path, bbolt.Options{LockTimeout: 100 * time.Millisecond})
			must(t, s3.Close())
		})
	}
}

// writeBolt makes a bbolt file at path and lets fn fill it.
func writeBolt(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	must(t, err)
	must(t, db.Update(fn))
	must(t, db.Close())
}

func agentgateMeta(magic string, version uint64) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("magic"), []byte(magic)); err != nil {
			return err
		}
		return b.Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, version))
	}
}

// corruptFreelist overwrites the page type of the freelist page that the
// newest meta page points at, which makes bbolt panic while opening.
func corruptFreelist(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	const pageSize = 4096 // bbolt's default on every platform the tests run on
	var freelist, txid uint64
	for i := range 2 {
		// page header (16 bytes), then meta: magic, version, pageSize,
		// flags (4 each), root bucket (16), freelist, pgid, txid (8 each).
		m := data[i*pageSize+16:]
		if tx := binary.LittleEndian.Uint64(m[48:]); tx >= txid {
			txid, freelist = tx, binary.LittleEndian.Uint64(m[32:])
		}
	}
	off := int(freelist)*pageSize + 8 // the page's flags
	binary.LittleEndian.PutUint16(data[off:], 0x01)
	must(t, os.WriteFile(path, data, 0o600))
}

func TestBoltRejectsFiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T, path string)
		want error
	}{
		{"random bytes", func(t *testing.T, path string) {
			must(t, os.WriteFile(path, randomBytes(64<<10), 0o600))
		}, bbolt.ErrNotStore},
		{"short random bytes", func(t *testing.T, path string) {
			must(t, os.WriteFile(path, randomBytes(100), 0o600))
		}, bbolt.ErrNotStore},
		{"text file", func(t *testing.T, path string) {
			must(t, os.WriteFile(path, []byte("{\n  \"apps\": {\"http\": {}}\n}\n"), 0o600))
		}, bbolt.ErrNotStore},
		{"foreign bbolt", func(t *testing.T, path string) {
			writeBolt(t, path, func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket([]byte("certificates"))
				if err != nil {
					return err
				}
				return b.Put([]byte("x"), []byte("y"))
			})
		}, bbolt.ErrNotStore},
		{"foreign meta bucket", func(t *testing.T, path string) {
			writeBolt(t, path, agentgateMeta("somethingelse", 1))
		}, bbolt.ErrNotStore},
		{"newer schema", func(t *testing.T, path string) {
			writeBolt(t, path, agentgateMeta("agentgate", 7))
		}, bbolt.ErrSchema},
		{"corrupt freelist", func(t *testing.T, path string) {
			s := openBolt(t, path, bbolt.Options{})
			must(t, s.Close())
			// The store keeps no freelist page (bbolt rebuilds it at
			// open); a bbolt file that has one, as stores written before
			// did, is read from it.
			writeBolt(t, path, func(tx *bolt.Tx) error { return nil })
			corruptFreelist(t, path)
		}, bbolt.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "store.db")
			tc.make(t, path)
			before, err := os.ReadFile(path)
			must(t, err)
			s, err := bbolt.Open(path, bbolt.Options{LockTimeout: 100 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatal("OpenBolt succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			t.Logf("%v", err)
			after, err := os.ReadFile(path)
			must(t, err)
			if !bytes.Equal(before, after) {
				t.Error("OpenBolt changed the file it rejected")
			}
		})
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return b
}

func TestBoltAdoptsEmptyFiles(t *testing.T) {
	for name, make := range map[string]func(t *testing.T, path string){
		"zero bytes":      func(t *testing.T, path string) { must(t, os.WriteFile(path, nil, 0o600)) },
		"empty bbolt":     func(t *testing.T, path string) { writeBolt(t, path, func(*bolt.Tx) error { return nil }) },
		"missing buckets": func(t *testing.T, path string) { writeBolt(t, path, agentgateMeta("agentgate", 1)) },
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "store.db")
			make(t, path)
			s := openBolt(t, path, bbolt.Options{})
			defer s.Close()
			must(t, s.CreateAgent(ctx, &adapters.Agent{ID: "a", Tenant: "t"}))
			must(t, s.AppendUsage(ctx, []state.UsageRecord{{Tenant: "t", KeyID: "k", Time: time.Now(), InputTokens: 1}}))
		})
	}
}

func TestBoltCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s := openBolt(t, filepath.Join(dir, "store.db"), bbolt.Options{})
	defer s.Close()
	fi, err := os.Stat(dir)
	must(t, err)
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("directory mode %v, want 0700", perm)
	}
	fi, err = os.Stat(s.Path())
	must(t, err)
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode %v, want 0600", perm)
	}
}

func TestBoltClosed(t *testing.T) {
	s := openBolt(t, filepath.Join(t.TempDir(), "store.db"), bbolt.Options{})
	must(t, s.CreateAgent(ctx, &adapters.Agent{ID: "a", Tenant: "t"}))
	_, err := s.GetAgent(ctx, "t", "a") // now cached
	must(t, err)
	must(t, s.Close())
	must(t, s.Close())
	_, err = s.GetAgent(ctx, "t", "a")
	if !errors.Is(err, state.ErrClosed) {
		t.Errorf("GetAgent after Close: err = %v, want state.ErrClosed", err)
	}
	if err := s.AppendTurn(ctx, &state.Session{ID: "s", Tenant: "t"}, nil); !errors.Is(err, state.ErrClosed) {
		t.Errorf("AppendTurn after Close: err = %v, want state.ErrClosed", err)
	}
}

// TestBoltCloseWaits closes the store while AppendTurn calls are in
// flight: each either completes durably or fails with state.ErrClosed.
func TestBoltCloseWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s := openBolt(t, path, bbolt.Options{})
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.AppendTurn(ctx, &state.Session{ID: fmt.Sprint("s", i), Tenant: "t"}, nil)
		})
	}
	time.Sleep(2 * time.Millisecond) // let some calls reach bbolt's batch
	must(t, s.Close())
	wg.Wait()

	s = openBolt(t, path, bbolt.Options{})
	defer s.Close()
	done := 0
	for i, err := range errs {
		_, getErr := s.GetSession(ctx, state.SessionKey{Tenant: "t", ID: fmt.Sprint("s", i)})
		switch {
		case err == nil:
			done++
			if getErr != nil {
				t.Errorf("AppendTurn %d succeeded but its session is missing: %v", i, getErr)
			}
		case errors.Is(err, state.ErrClosed):
			if getErr == nil {
				t.Errorf("AppendTurn %d failed but stored its session", i)
			}
		default:
			t.Errorf("AppendTurn %d: %v", i, err)
		}
	}
	t.Logf("%d of %d appends completed before Close", done, n)
}

func TestBoltCanceledContext(t *testing.T) {
	s := openBolt(t, filepath.Join(t.TempDir(), "store.db"), bbolt.Options{})
	defer s.Close()
	c, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.CreateAgent(c, &adapters.Agent{ID: "a", Tenant: "t"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateAgent with a canceled context: %v", err)
	}
	if _, err := s.GetAgent(ctx, "t", "a"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("agent stored despite canceled context: %v", err)
	}
}

func TestBoltInvalidIDs(t *testing.T) {
	s := openBolt(t, filepath.Join(t.TempDir(), "store.db"), bbolt.Options{})
	defer s.Close()
	for name, err := range map[string]error{
		"agent tenant NUL":    s.CreateAgent(ctx, &adapters.Agent{ID: "a", Tenant: "t\x00u"}),
		"agent id NUL":        s.CreateAgent(ctx, &adapters.Agent{ID: "a\x00b", Tenant: "t"}),
		"agent id empty":      s.UpdateAgent(ctx, &adapters.Agent{Tenant: "t"}),
		"key id empty":        s.PutKey(ctx, &state.APIKey{}),
		"session id NUL":      s.AppendTurn(ctx, &state.Session{ID: "s\x00", Tenant: "t"}, nil),
		"session tenant NUL":  s.AppendTurn(ctx, &state.Session{ID: "s", Tenant: "\x00"}, nil),
		"session agent NUL":   s.AppendTurn(ctx, &state.Session{ID: "s", Tenant: "t", AgentID: "a\x00"}, nil),
		"session project NUL": s.AppendTurn(ctx, &state.Session{ID: "s", Tenant: "t", Project: "p\x00"}, nil),
		"usage tenant NUL":    s.AppendUsage(ctx, []state.UsageRecord{{Tenant: "t\x00"}}),
	} {
		if !errors.Is(err, state.ErrInvalidID) {
			t.Errorf("%s: err = %v, want state.ErrInvalidID", name, err)
		}
	}
}

// TestBoltKilledWriter kills a process in the middle of AppendTurn calls
// and checks that the store opens and holds every acknowledged turn, that
// its file is consistent (bbolt rebuilds the freelist it does not keep),
// and that it takes more turns and holds them through another reopen.
func TestBoltKilledWriter(t *testing.T) {
	if path := os.Getenv("AGENTGATE_STATE_WRITER"); path != "" {
		killedWriter(path)
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	path := filepath.Join(t.TempDir(), "store.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestBoltKilledWriter$")
	cmd.Env = append(os.Environ(), "AGENTGATE_STATE_WRITER="+path)
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	acked := map[int]bool{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 300 {
		if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "ok ")); err == nil {
			acked[n] = true
		}
	}
	must(t, cmd.Process.Kill())
	_ = cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("writer acknowledged only %d turns", len(acked))
	}

	s := openBolt(t, path, bbolt.Options{LockTimeout: 5 * time.Second})
	defer s.Close()
	msgs, err := s.RecentTurns(ctx, state.SessionKey{Tenant: "t", ID: "s"}, 1<<20)
	must(t, err)
	stored := map[int]bool{}
	for _, m := range msgs {
		n, err := strconv.Atoi(m.Text())
		must(t, err)
		stored[n] = true
	}
	for n := range acked {
		if !stored[n] {
			t.Errorf("acknowledged turn %d lost", n)
		}
	}
	t.Logf("%d turns acknowledged before the kill, %d stored", len(acked), len(stored))
	key := state.SessionKey{Tenant: "t", ID: "s"}
	if sess, err := s.GetSession(ctx, key); err != nil || sess.Turns != len(msgs) {
		t.Errorf("GetSession after the kill = %+v, %v; want %d turns", sess, err, len(msgs))
	}
	must(t, bbolt.Check(s))

	for i := range 100 {
		must(t, s.AppendTurn(ctx, &state.Session{ID: "s", Tenant: "t"}, []adapters.Message{adapters.TextMessage(adapters.RoleUser, strconv.Itoa(-1-i))}))
	}
	must(t, s.Close())
	s = openBolt(t, path, bbolt.Options{})
	defer s.Close()
	must(t, bbolt.Check(s))
	after, err := s.RecentTurns(ctx, key, 1<<20)
	must(t, err)
	if len(after) != len(msgs)+100 || after[len(after)-1].Text() != "-100" {
		t.Errorf("after 100 more turns and a reopen: %d turns, want %d", len(after), len(msgs)+100)
	}
}

// killedWriter appends turns from 16 goroutines until it is killed,
// printing "ok N" once turn N is durable.
func killedWriter(path string) {
	s, err := bbolt.Open(path, bbolt.Options{})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := g; ; i += 16 {
				msg := []adapters.Message{adapters.TextMessage(adapters.RoleUser, strconv.Itoa(i))}
				if err := s.AppendTurn(ctx, &state.Session{ID: "s", Tenant: "t"}, msg); err != nil {
					fmt.Println(err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Printf("ok %d\n", i)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// seeded is the key of the session id that SeedSessions wrote for tenant
// "tenant".
func seeded(id string) state.SessionKey {
	return state.SessionKey{Tenant: "tenant", AgentID: bbolt.SeedAgent, ID: id}
}

func BenchmarkRecentTurns(b *testing.B) {
	const sessions, turnsEach = 100_000, 3
	s := openBolt(b, filepath.Join(b.TempDir(), "bench.db"), bbolt.Options{})
	defer s.Close()
	turn := []adapters.Message{
		adapters.TextMessage(adapters.RoleUser, "What is the capital of France?"),
		adapters.TextMessage(adapters.RoleAssistant, "Paris."),
	}
	name := func(i int) string { return fmt.Sprintf("sess-%07d", i) }
	start := time.Now()
	must(b, bbolt.SeedSessions(s, "tenant", sessions, turnsEach, name, turn))
	must(b, bbolt.SeedSessions(s, "tenant", 1, 1000, func(int) string { return "long" }, turn))
	b.Logf("seeded %d sessions × %d turns + 1 × 1000 in %v", sessions, turnsEach, time.Since(start).Round(time.Millisecond))

	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("random/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				msgs, err := s.RecentTurns(ctx, seeded(name(rand.IntN(sessions))), n)
				if err != nil || len(msgs) != 2*min(n, turnsEach) {
					b.Fatalf("RecentTurns = %d messages, %v", len(msgs), err)
				}
			}
		})
	}
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("long/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				msgs, err := s.RecentTurns(ctx, seeded("long"), n)
				if err != nil || len(msgs) != 2*n {
					b.Fatalf("RecentTurns = %d messages, %v", len(msgs), err)
				}
			}
		})
	}
	b.Run("random/n=10/parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.RecentTurns(ctx, seeded(name(rand.IntN(sessions))), 10); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func benchmarkGetAgent(b *testing.B, opts bbolt.Options) {
	s := openBolt(b, filepath.Join(b.TempDir(), "bench.db"), opts)
	defer s.Close()
	a := &adapters.Agent{
		ID: "agent", Tenant: "tenant", Name: "Support", Model: "gpt-test",
		SystemPrompt: strings.Repeat("You are helpful. ", 20),
		Tools:        []string{"search", "calc"}, Tags: []string{"prod"},
		Sampling:  adapters.Sampling{Temperature: new(0.2)},
		CreatedAt: time.Now(),
	}
	must(b, s.CreateAgent(ctx, a))
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.GetAgent(ctx, "tenant", "agent"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.GetAgent(ctx, "tenant", "agent"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkGetAgent reads straight from bbolt (state/cache benchmarks
// the cached read).
func BenchmarkGetAgent(b *testing.B) { benchmarkGetAgent(b, bbolt.Options{}) }

// BenchmarkAppendTurnParallel shows group commit: many concurrent
// appenders share each fsync.
func BenchmarkAppendTurnParallel(b *testing.B) {
	s := openBolt(b, filepath.Join(b.TempDir(), "bench.db"), bbolt.Options{})
	defer s.Close()
	msg := []adapters.Message{adapters.TextMessage(adapters.RoleUser, "hello")}
	var n sync.Mutex
	next := 0
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		n.Lock()
		id := fmt.Sprint("s", next)
		next++
		n.Unlock()
		for pb.Next() {
			if err := s.AppendTurn(ctx, &state.Session{ID: id, Tenant: "t"}, msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAppendTurnSerial is a lone writer: each call pays its own
// fsync, and nothing else (it used to wait out bbolt's 10ms batch delay
// too).
func BenchmarkAppendTurnSerial(b *testing.B) {
	s := openBolt(b, filepath.Join(b.TempDir(), "bench.db"), bbolt.Options{})
	defer s.Close()
	msg := []adapters.Message{adapters.TextMessage(adapters.RoleUser, "hello")}
	for b.Loop() {
		if err := s.AppendTurn(ctx, &state.Session{ID: "s", Tenant: "t"}, msg); err != nil {
			b.Fatal(err)
		}
	}
}
