package openai

import (
	"bytes"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// TestForwardFormRewriteUnsent: a form whose model the gateway rewrote
// (withModel: a goroutine copies it into a pipe as the upstream reads)
// and that is never sent — the provider pool refused before any upstream
// call (every key cooling down after a 429: models.Pool.Forward returns
// without calling http.Client.Do, which is what closes a request body) —
// must not leave the copying goroutine behind. Found in review: nothing
// closes the pipe's reader then (forwardBody.close only removes the
// spool), so the goroutine blocks in its first write for ever, holding
// the client's body. The test fails by timing out (go test -timeout).
func TestForwardFormRewriteUnsent(t *testing.T) {
	ct, body := form([]string{"model=openai/whisper-1", "file=@a.wav"}, 64<<10)
	r := httptest.NewRequest("POST", "/v1/audio/transcriptions", bytes.NewReader(body))
	r.Header.Set("Content-Type", ct)
	fb, err := readForwardBody(r, 1<<20, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := fb.withModel("whisper-1"); err != nil {
		t.Fatal(err)
	}
	// forward: up.Forward(req) fails before sending; the handler returns.
	fb.close()
	buf := make([]byte, 1<<20)
	for {
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "copyForm") && !strings.Contains(stacks, "withModel.func") {
			return
		}
		runtime.Gosched()
	}
}
