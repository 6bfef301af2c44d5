package e2e

import (
	"bufio"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/tidwall/gjson"
)

// TestReloadUnderStreamingLoad reloads the config three times while 16
// streams are in flight: every stream must finish intact, and the store
// (shared across configs, never opened twice) keeps serving.
func TestReloadUnderStreamingLoad(t *testing.T) {
	words := strings.Repeat("token ", 30)
	up := (&fakeupstream.OpenAI{Reply: strings.TrimSpace(words), TokenDelay: 10 * time.Millisecond}).Start()
	defer up.Close()
	cfg := testgate.Config{Block: openaiBlock(up)}
	g := testgate.Start(t, cfg)

	const streams = 16
	var started, done sync.WaitGroup
	started.Add(streams)
	done.Add(streams)
	results := make([]string, streams)
	errs := make([]error, streams)
	for i := 0; i < streams; i++ {
		go func(i int) {
			defer done.Done()
			results[i], errs[i] = readStream(g.URL, &started)
		}(i)
	}
	started.Wait() // every stream has its first chunk: all are mid-flight
	for i := 0; i < 3; i++ {
		cfg.Block = openaiBlock(up) + strings.Repeat("\n", i+1) + "\t\tmax_body_bytes " + []string{"100000", "200000", "300000"}[i] + "\n"
		g.Load(cfg)
	}
	done.Wait()
	for i := 0; i < streams; i++ {
		if errs[i] != nil {
			t.Errorf("stream %d: %v", i, errs[i])
			continue
		}
		if results[i] != strings.TrimSpace(words) {
			t.Errorf("stream %d got %q", i, results[i])
		}
	}
	// The new config serves, on the same store. Idle keep-alive
	// connections belong to the old servers, which close them as they
	// shut down; a POST racing that close would be reset, as with any
	// server's graceful shutdown.
	http.DefaultClient.CloseIdleConnections()
	status, body, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA,
		`{"model":"assistant","messages":[{"role":"user","content":"after reload"}]}`)
	if status != 200 {
		t.Fatalf("after reload: %d %s", status, body)
	}
}

// readStream runs one streamed chat and returns its content; it marks
// started after the first content chunk.
func readStream(base string, started *sync.WaitGroup) (string, error) {
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions",
		strings.NewReader(`{"model":"assistant","stream":true,"messages":[{"role":"user","content":"go"}]}`))
	req.Header.Set("Authorization", "Bearer "+testgate.KeyA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		started.Done()
		return "", err
	}
	defer resp.Body.Close()
	var sb strings.Builder
	first, sawDone := true, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if line == "[DONE]" {
			sawDone = true
			break
		}
		if c := gjson.Get(line, "choices.0.delta.content").String(); c != "" {
			sb.WriteString(c)
			if first {
				first = false
				started.Done()
			}
		}
	}
	if first {
		started.Done()
	}
	if !sawDone {
		return sb.String(), errString("stream ended without [DONE]")
	}
	return sb.String(), sc.Err()
}

type errString string

func (e errString) Error() string { return string(e) }
