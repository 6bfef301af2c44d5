package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
)

// BenchmarkChatCompletions drives non-streaming chat completions through
// a real in-process Caddy; run with -cpuprofile to see the gateway's
// share. ./xcaddy.sh bench gives the cross-process comparison.
func BenchmarkChatCompletions(b *testing.B) {
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	// Limits on (every check runs) but high enough never to refuse.
	g := testgate.Start(b, testgate.Config{Block: openaiBlock(up) + `
		tier pro {
			monthly_tokens 1000000000000
			rpm 100000000
			tpm 100000000000
			concurrent 100000
		}
`})
	body := `{"model":"assistant","messages":[{"role":"user","content":"Hello there"}]}`
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", g.URL+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testgate.KeyA)
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
}
