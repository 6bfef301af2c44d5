package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
)

// BenchmarkChatCompletions drives chat completions through a real
// in-process Caddy, one sub-benchmark per lane of the request path, with
// allocations per request (the client's and the upstream's included: they
// are the same in every lane); run with -cpuprofile to see the gateway's
// share. ./xcaddy.sh bench gives the cross-process comparison.
//
//   - lane, lane_stream: the agent "assistant" (a system prompt only) on
//     the raw passthrough lane, whole and streamed;
//   - passthrough: a routed model named directly, on the lane too;
//   - canonical, canonical_stream: the agent "tempered" (a sampling
//     default) on the canonical path;
//   - agent_session: an Egzora turn of a session (the agent path: history
//     read, the turn stored);
//   - reverse_proxy: the passthrough request through a plain Caddy
//     reverse_proxy site of the same process to the same upstream, the
//     yardstick of the lanes (what the gateway adds is the difference).
func BenchmarkChatCompletions(b *testing.B) {
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	plainURL := fmt.Sprintf("http://127.0.0.1:%d", testgate.FreePort(b))
	// Limits on (every check runs) but high enough never to refuse.
	g := testgate.Start(b, testgate.Config{Block: openaiBlock(up) + `
		route gpt-* up
		agent tempered {
			model gpt-test
			provider up
			temperature 0.5
		}
		tier pro {
			monthly_tokens 1000000000000
			rpm 100000000
			tpm 100000000000
			concurrent 100000
		}
`, Sites: plainURL + ` {
	bind 127.0.0.1
	reverse_proxy ` + strings.TrimPrefix(up.Server.URL, "http://") + `
}`})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var turn atomic.Int64
	chat := func(model, extra string) func() (string, string) {
		body := `{"model":"` + model + `","messages":[{"role":"user","content":"Hello there"}]` + extra + `}`
		return func() (string, string) { return "/v1/chat/completions", body }
	}
	stream := `,"stream":true,"stream_options":{"include_usage":true}`
	for _, bc := range []struct {
		name    string
		request func() (path, body string)
		// base and key, when set, are where the request goes instead of
		// the gateway, with what key.
		base, key string
	}{
		{"reverse_proxy", chat("gpt-4o-mini", ""), plainURL, "sk-upstream"},
		{"lane", chat("assistant", ""), "", ""},
		{"lane_stream", chat("assistant", stream), "", ""},
		{"passthrough", chat("gpt-4o-mini", ""), "", ""},
		{"canonical", chat("tempered", ""), "", ""},
		{"canonical_stream", chat("tempered", stream), "", ""},
		{"agent_session", func() (string, string) {
			n := turn.Add(1)
			return "/v1/chat", fmt.Sprintf(`{"agent_id":"assistant","message":"Hello there, turn %d","session_id":"bench-%d"}`, n, n%64)
		}, "", ""},
	} {
		base, key := g.URL, testgate.KeyA
		if bc.base != "" {
			base, key = bc.base, bc.key
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					path, body := bc.request()
					req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+key)
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Fatal(resp.Status)
					}
				}
			})
		})
	}
}
