package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/pgtest"
	"github.com/agentgate/agentgate/internal/redistest"
	goredis "github.com/redis/go-redis/v9"
	"github.com/tidwall/gjson"
)

// Model names: what the upstream is asked for directly and through plain
// Caddy, and the agent the agentgate target calls (which asks the upstream
// for upstreamModel).
const (
	upstreamModel = "gpt-bench"
	agentModel    = "bench"
	upstreamKey   = "sk-bench-upstream"
	// idleModel is what the idle streams ask for; fastModel streams
	// without pauses.
	idleModel = "gpt-bench-idle"
	fastModel = "gpt-bench-fast"
)

// serveUpstream is the -serve-upstream child: it serves the fake upstream
// on loopback, prints its base URL (…/v1) on stdout, and runs until its
// stdin closes (the parent went away) or it is signalled.
func serveUpstream(o options) int {
	up := (&fakeupstream.OpenAI{Reply: upstreamReply(o.tokens), Idle: isIdle, Delay: func(req gjson.Result) time.Duration {
		if req.Get("model").String() == fastModel {
			return 0
		}
		return o.tokenDelay
	}}).Start()
	fmt.Println(up.URL)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	<-ctx.Done()
	closed := make(chan struct{})
	go func() { up.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
	}
	return 0
}

// upstreamReply is the upstream's answer: n words.
func upstreamReply(n int) string {
	words := make([]string, n)
	for i := range words {
		words[i] = fmt.Sprintf("word%d", i+1)
	}
	return strings.Join(words, " ")
}

// isIdle tells the idle streams' requests: they ask for idleModel, which
// the upstream answers with its first chunk and then nothing.
func isIdle(req gjson.Result) bool { return req.Get("model").String() == idleModel }

// child is a started child process.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error         // its exit status, once done
}

func startChild(name string, cmd *exec.Cmd) (*child, error) {
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop asks the child to exit (SIGINT: Caddy shuts down gracefully) and
// kills it after grace.
func (c *child) stop(grace time.Duration) {
	if c == nil || c.exited() {
		return
	}
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil {
		_ = c.cmd.Process.Kill()
	}
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// env is the running setup: the upstream, plain Caddy, one Caddy per
// storage and limits backend under test, and their URLs.
type env struct {
	dir        string
	keep       bool
	upstream   *child
	upstreamIn io.Closer // the upstream's stdin: closing it ends the upstream
	// plain is the Caddy serving plain reverse_proxy: a process of its
	// own, so its CPU and memory are its own.
	plain      *child
	plainLog   string
	plainAdmin string // its admin endpoint
	gates      []*gate
	// sessions are the agent scenario's sessions stored in each gate.
	sessions int
	key      string
	postgres *pgtest.Server    // started for -storage postgres without -postgres-dsn
	redis    *redistest.Server // started for -limits redis without -redis-url
	// redisClient reads the Redis server's command statistics.
	redisClient *goredis.Client

	upstreamURL string // base URL with /v1
	caddyURL    string // plain reverse_proxy site
}

// gate is one Caddy process serving agentgate on one storage backend
// and one limits backend.
type gate struct {
	storage string // bbolt or postgres
	limits  string // memory or redis
	caddy   *child
	url     string // agentgate site
	admin   string // its Caddy's admin endpoint
	log     string
}

// backends names the gate's storage and limits backends.
func (g *gate) backends() string { return g.storage + ", " + g.limits }

// close stops the children (and the servers it started) and removes the
// temporary directory.
func (e *env) close() {
	for _, g := range e.gates {
		g.caddy.stop(10 * time.Second)
	}
	e.plain.stop(10 * time.Second)
	if e.redisClient != nil {
		_ = e.redisClient.Close()
	}
	if e.redis != nil {
		if err := e.redis.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping Redis: %v\n", err)
		}
	}
	if e.upstreamIn != nil {
		_ = e.upstreamIn.Close()
	}
	e.upstream.stop(5 * time.Second)
	if e.postgres != nil {
		if err := e.postgres.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping PostgreSQL: %v\n", err)
		}
	}
	if e.keep {
		fmt.Fprintf(os.Stderr, "kept %s\n", e.dir)
		return
	}
	_ = os.RemoveAll(e.dir)
}

// setup starts the upstream and Caddy and waits until both serve. On
// error the returned env, if not nil, must still be closed.
func setup(ctx context.Context, o options, stderr io.Writer) (*env, error) {
	bin, err := filepath.Abs(o.binary)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%v (build it: go build -o ./agentgate ./cmd/agentgate)", err)
	}
	dir, err := os.MkdirTemp("", "agentgate-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, keep: o.keep, sessions: o.sessions}

	// The upstream: this very binary, re-executed.
	self, err := os.Executable()
	if err != nil {
		return e, err
	}
	cmd := exec.Command(self, "-serve-upstream", "-token-delay", o.tokenDelay.String(), "-tokens", fmt.Sprint(o.tokens))
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return e, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return e, err
	}
	if e.upstream, err = startChild("upstream", cmd); err != nil {
		return e, err
	}
	e.upstreamIn = stdin
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			return e, errors.New("the upstream exited without printing its URL")
		}
		e.upstreamURL = strings.TrimSpace(line)
	case <-time.After(15 * time.Second):
		return e, errors.New("the upstream did not print its URL within 15s")
	case <-ctx.Done():
		return e, ctx.Err()
	}
	u, err := url.Parse(e.upstreamURL)
	if err != nil || u.Host == "" {
		return e, fmt.Errorf("the upstream printed %q, not a URL", e.upstreamURL)
	}

	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return e, err
	}
	e.key = "agk_bench_" + hex.EncodeToString(secret)

	// Plain Caddy.
	ports, err := freePorts(2)
	if err != nil {
		return e, err
	}
	sub := filepath.Join(dir, "plain")
	e.caddyURL = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	e.plainLog = filepath.Join(dir, "caddy-plain.log")
	e.plainAdmin = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	if e.plain, err = startCaddy(bin, sub, e.plainLog, plainCaddyfile(ports[0], ports[1], filepath.Join(sub, "caddy"), u.Host)); err != nil {
		return e, err
	}
	if err := waitListening(ctx, e.plain, ports[1], time.Now().Add(60*time.Second)); err != nil {
		return e, fmt.Errorf("%v\n--- %s:\n%s", err, e.plainLog, tail(e.plainLog, 30))
	}

	// One Caddy per storage and limits backend, so each row's CPU is its
	// own.
	type backends struct{ storage, limits string }
	var all []backends
	for _, storage := range o.storages {
		for _, limits := range o.limits {
			all = append(all, backends{storage, limits})
		}
	}
	for i, bk := range all {
		storage := bk.storage
		line, dsn, err := e.storageLine(ctx, o, storage)
		if err != nil {
			return e, err
		}
		limitsLine, err := e.limitsLine(o, bk.limits, i)
		if err != nil {
			return e, err
		}
		line += "\n\t\t" + limitsLine
		name := storage + "-" + bk.limits
		ports, err := freePorts(2)
		if err != nil {
			return e, err
		}
		admin, gatePort := ports[0], ports[1]
		g := &gate{storage: storage, limits: bk.limits, url: fmt.Sprintf("http://127.0.0.1:%d", gatePort),
			admin: fmt.Sprintf("http://127.0.0.1:%d", admin), log: filepath.Join(dir, "caddy-"+name+".log")}
		sub := filepath.Join(dir, name)
		p := caddyfileParams{
			Admin: admin, GatePort: gatePort, UpstreamURL: e.upstreamURL,
			DataDir: filepath.Join(sub, "data"), StorageDir: filepath.Join(sub, "caddy"), Storage: line, Key: e.key,
		}
		if o.sessions > 0 {
			if err := seedSessions(ctx, storage, p.DataDir, dsn, o.sessions, upstreamReply(o.tokens), stderr); err != nil {
				return e, err
			}
		}
		if g.caddy, err = startCaddy(bin, sub, g.log, caddyfile(p)); err != nil {
			return e, err
		}
		g.caddy.name = "caddy (" + g.backends() + ")"
		e.gates = append(e.gates, g)
		if err := waitListening(ctx, g.caddy, gatePort, time.Now().Add(60*time.Second)); err != nil {
			return e, fmt.Errorf("%v\n--- %s:\n%s", err, g.log, tail(g.log, 30))
		}
	}
	return e, nil
}

// startCaddy starts `bin run` on the Caddyfile cf in the directory sub,
// logging to logPath.
func startCaddy(bin, sub, logPath, cf string) (*child, error) {
	if err := os.MkdirAll(sub, 0o700); err != nil {
		return nil, err
	}
	cfPath := filepath.Join(sub, "Caddyfile")
	if err := os.WriteFile(cfPath, []byte(cf), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "run", "--config", cfPath, "--adapter", "caddyfile")
	cmd.Dir = sub
	cmd.Stdout, cmd.Stderr = logf, logf
	// Keep Caddy's autosave, certificates and locks in the temp directory.
	cmd.Env = append(os.Environ(),
		"XDG_CONFIG_HOME="+filepath.Join(sub, "config"),
		"XDG_DATA_HOME="+filepath.Join(sub, "share"))
	return startChild("caddy", cmd)
}

// storageLine is the `storage` line of the Caddyfile for storage:
// bbolt in the data directory, or a PostgreSQL database (whose DSN it
// returns too): -postgres-dsn's, else a new one on a throwaway server
// started for the run.
func (e *env) storageLine(ctx context.Context, o options, storage string) (line, dsn string, err error) {
	switch storage {
	case "bbolt":
		return "", "", nil
	case "postgres":
		dsn := o.postgresDSN
		if dsn == "" {
			if e.postgres == nil {
				if e.postgres, err = pgtest.New(); err != nil {
					return "", "", fmt.Errorf("starting PostgreSQL for -storage postgres (or give -postgres-dsn): %w", err)
				}
			}
			if dsn, err = e.postgres.CreateDatabase(ctx); err != nil {
				return "", "", err
			}
		}
		return "storage postgres " + dsn, dsn, nil
	}
	return "", "", fmt.Errorf("unknown storage %q (want bbolt, postgres)", storage)
}

// limitsLine is the `limits` line of the Caddyfile of gate i for limits:
// memory, or Redis: -redis-url's server, else a throwaway one started
// for the run, each gate under its own key prefix.
func (e *env) limitsLine(o options, limits string, i int) (string, error) {
	switch limits {
	case "memory":
		return "limits memory", nil
	case "redis":
		url := o.redisURL
		if url == "" {
			if e.redis == nil {
				var err error
				if e.redis, err = redistest.New(); err != nil {
					return "", fmt.Errorf("starting Redis for -limits redis (or give -redis-url): %w", err)
				}
			}
			url = e.redis.URL()
		}
		if e.redisClient == nil {
			opts, err := goredis.ParseURL(url)
			if err != nil {
				return "", fmt.Errorf("-redis-url: %w", err)
			}
			e.redisClient = goredis.NewClient(opts)
		}
		return fmt.Sprintf("limits redis %s {\n\t\t\tkey_prefix bench%d:\n\t\t}", url, i), nil
	}
	return "", fmt.Errorf("unknown limits %q (want memory, redis)", limits)
}

// redisScriptCalls is how many scripts (EVALSHA, EVAL) the Redis server
// of -limits redis has run since it started: INFO commandstats.
func (e *env) redisScriptCalls(ctx context.Context) (int64, error) {
	info, err := e.redisClient.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, err
	}
	var calls int64
	for _, line := range strings.Split(info, "\n") {
		name, stats, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || name != "cmdstat_evalsha" && name != "cmdstat_eval" {
			continue
		}
		for _, kv := range strings.Split(stats, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return 0, fmt.Errorf("INFO commandstats: %q", line)
				}
				calls += n
			}
		}
	}
	return calls, nil
}

// plainCaddyfile is the configuration of plain Caddy, the baseline
// agentgate is compared with: the same global options, and one site
// that reverse-proxies to the upstream.
func plainCaddyfile(admin, port int, storageDir, upstreamHost string) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	persist_config off
	auto_https off
	storage file_system %q
	log {
		level ERROR
	}
}

http://127.0.0.1:%d {
	reverse_proxy %s
}
`, admin, storageDir, port, upstreamHost)
}

type caddyfileParams struct {
	Admin, GatePort                   int
	UpstreamURL                       string
	DataDir, StorageDir, Storage, Key string
}

// caddyfile is the configuration of an agentgate under test.
func caddyfile(p caddyfileParams) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	persist_config off
	auto_https off
	storage file_system %q
	log {
		level ERROR
	}
	agentgate {
		data_dir %q
		%s
		provider up openai {
			base_url %s
			api_key %s
			models %s %s %s
		}
		agent %s {
			name "Bench"
			model %s
			provider up
		}
		# Limits that never bite, all checked on every request.
		tier bench {
			concurrent 1000000
			rpm 1000000000
			tpm 1000000000000
			monthly_tokens 1000000000000000
			tenant_monthly_tokens 1000000000000000
		}
		key %s {
			tenant bench
			tier bench
			email bench@example.com
		}
	}
}

http://127.0.0.1:%d {
	agentgate
	respond "agentgate: no such endpoint" 404
}
`, p.Admin, p.StorageDir, p.DataDir, p.Storage, p.UpstreamURL, upstreamKey, upstreamModel, idleModel, fastModel, agentModel, upstreamModel, p.Key,
		p.GatePort)
}

// freePorts returns n distinct loopback ports the kernel had free.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitListening waits until port answers HTTP, failing early if c exits.
func waitListening(ctx context.Context, c *child, port int, deadline time.Time) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	for {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if c.exited() {
			return fmt.Errorf("%s exited: %v", c.name, c.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is not serving on port %d: %v", c.name, port, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
