package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// idleResult is what a proxy's memory did while it held the idle streams.
type idleResult struct {
	target  string
	streams int
	// rss is the proxy's resident set before the streams opened and with
	// all of them open, in bytes; heap its Go heap and stacks in use.
	rssBefore, rssWith   int64
	heapBefore, heapWith int64
	heapOK               bool
	// opening is how long the streams took to open.
	opening time.Duration
}

// perStream is the growth of before→with over the streams, in KB.
func (r idleResult) perStream(before, with int64) float64 {
	return float64(with-before) / 1024 / float64(r.streams)
}

func (r idleResult) progressLine() string {
	s := fmt.Sprintf("%-13s %-11s %d streams open in %s: RSS %+.1f KB/stream", scenarioIdle, r.target, r.streams,
		r.opening.Round(time.Millisecond), r.perStream(r.rssBefore, r.rssWith))
	if r.heapOK {
		s += fmt.Sprintf(", Go heap+stacks %+.1f KB/stream", r.perStream(r.heapBefore, r.heapWith))
	}
	return s
}

// openConcurrency bounds the streams being opened at once, so the
// listeners' accept queues do not overflow.
const openConcurrency = 128

// measureIdle opens o.idleStreams streams through tg, each to the
// upstream's idle model (it sends the first chunk, then nothing), waits
// until every one has its first chunk, weighs the proxy, and closes them.
func measureIdle(ctx context.Context, o options, tg target, stderr io.Writer) (idleResult, error) {
	r := idleResult{target: tg.name, streams: o.idleStreams}
	tr := &http.Transport{
		Proxy:              nil,
		DialContext:        (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		DisableKeepAlives:  true, // each stream its own connection, none kept after
		DisableCompression: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var err error
	if r.rssBefore, err = procRSS(tg.proc.pid()); err != nil {
		return r, err
	}
	r.heapBefore, r.heapOK = goMemory(ctx, tg.admin)

	streams, cancel := context.WithCancel(ctx)
	defer cancel()
	body := requestBody(scenarioStream, idleModel)
	var (
		open    sync.WaitGroup // every stream has its first chunk, or failed
		held    sync.WaitGroup // every stream has ended
		failed  atomic.Int64
		errOnce sync.Once
		first   error
	)
	fail := func(err error) {
		failed.Add(1)
		errOnce.Do(func() { first = err })
	}
	sem := make(chan struct{}, openConcurrency)
	start := time.Now()
	for range o.idleStreams {
		open.Add(1)
		held.Add(1)
		sem <- struct{}{}
		go func() {
			defer held.Done()
			established := false
			defer func() {
				if !established {
					open.Done()
					<-sem
				}
			}()
			req, err := http.NewRequestWithContext(streams, http.MethodPost, tg.baseURL+"/chat/completions", bytes.NewReader(body))
			if err != nil {
				fail(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tg.key)
			resp, err := client.Do(req)
			if err != nil {
				fail(err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
				fail(fmt.Errorf("status %d: %s", resp.StatusCode, msg))
				return
			}
			br := bufio.NewReaderSize(resp.Body, 512)
			if _, err := br.ReadSlice('\n'); err != nil {
				fail(fmt.Errorf("no first chunk: %w", err))
				return
			}
			established = true
			open.Done()
			<-sem
			_, _ = io.Copy(io.Discard, br) // until the stream is cancelled
		}()
	}
	open.Wait()
	r.opening = time.Since(start)
	if n := failed.Load(); n > 0 {
		cancel()
		held.Wait()
		return r, fmt.Errorf("%d of %d streams failed (first: %v)", n, o.idleStreams, first)
	}
	// Let the proxy finish what opening the last streams started.
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return r, ctx.Err()
	}
	if r.rssWith, err = procRSS(tg.proc.pid()); err != nil {
		return r, err
	}
	var ok bool
	r.heapWith, ok = goMemory(ctx, tg.admin)
	r.heapOK = r.heapOK && ok
	cancel()
	held.Wait()
	if !r.heapOK {
		fmt.Fprintf(stderr, "  (no Go memory figures from %s/metrics)\n", tg.admin)
	}
	return r, nil
}

// procRSS is the resident set size of process pid, in bytes.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(string(b))
}

// parseVmRSS reads VmRSS (in kB) from the contents of /proc/<pid>/status.
func parseVmRSS(status string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("VmRSS: %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS: %w", err)
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("no VmRSS")
}

// goMemory is the Go heap and stacks a Caddy has in use, from its admin
// endpoint's Prometheus metrics.
func goMemory(ctx context.Context, admin string) (int64, bool) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, false
	}
	return parseGoMemory(string(b))
}

// parseGoMemory sums go_memstats_heap_inuse_bytes and
// go_memstats_stack_inuse_bytes in a Prometheus exposition.
func parseGoMemory(exposition string) (int64, bool) {
	var sum int64
	found := 0
	for _, line := range strings.Split(exposition, "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || (name != "go_memstats_heap_inuse_bytes" && name != "go_memstats_stack_inuse_bytes") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return 0, false
		}
		sum += int64(v)
		found++
	}
	return sum, found == 2
}
