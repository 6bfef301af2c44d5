package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"mime/multipart"
	"net/http"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/tidwall/gjson"
)

// uploadBytes is the size of the memory test's upload.
const uploadBytes = 100 << 20

// maxUploadAllocs bounds what the whole process (client, gateway and fake
// upstream, all in this test binary) may allocate while uploadBytes pass
// through: a gateway that held the upload would allocate at least its
// size.
const maxUploadAllocs = 24 << 20

// pattern is an endless, cheap stream of bytes to upload.
type pattern struct{ n int64 }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(p.n*7 + p.n>>9)
		p.n++
	}
	return len(b), nil
}

// heapAllocs is the bytes the process has allocated on the heap so far.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestForwardLargeUploadMemory streams a 100 MiB multipart upload through
// the passthrough, twice: to /v1/files (no model: the body streams
// untouched) and to /v1/audio/transcriptions with the file before the
// model, as openai-go sends it (the gateway spools the file to disk to
// find the model). The upstream receives every byte (its hash matches),
// and the process allocates far less than the upload's size.
func TestForwardLargeUploadMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 200 MiB through the gateway")
	}
	up, g := startForward(t)
	for _, tc := range []struct {
		name, path string
		fields     [][2]string // sent after the file
	}{
		{"file upload", "/v1/files", [][2]string{{"purpose", "batch"}}},
		{"model after the file", "/v1/audio/transcriptions", [][2]string{{"model", "whisper-1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := sha256.New()
			pr, pw := io.Pipe()
			mw := multipart.NewWriter(pw)
			go func() {
				part, err := mw.CreateFormFile("file", "big.bin")
				if err == nil {
					_, err = io.Copy(part, io.TeeReader(io.LimitReader(&pattern{}, uploadBytes), want))
				}
				for _, f := range tc.fields {
					if err == nil {
						err = mw.WriteField(f[0], f[1])
					}
				}
				if err == nil {
					err = mw.Close()
				}
				pw.CloseWithError(err)
			}()
			req, err := http.NewRequest("POST", g.URL+tc.path, pr)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+testgate.KeyA)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			runtime.GC()
			before := heapAllocs()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			allocated := heapAllocs() - before
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			rec := up.LastAPIRequest()
			if rec.FileBytes != uploadBytes || rec.FileSHA256 != hex.EncodeToString(want.Sum(nil)) {
				t.Fatalf("upstream got %d bytes (sha256 %s)", rec.FileBytes, rec.FileSHA256)
			}
			if tc.path == "/v1/files" && gjson.GetBytes(body, "bytes").Int() != uploadBytes {
				t.Errorf("answer %s", body)
			}
			t.Logf("%d MiB through the gateway: %.1f MiB allocated by the whole process", uploadBytes>>20, float64(allocated)/(1<<20))
			if allocated > maxUploadAllocs {
				t.Errorf("allocated %d bytes while %d passed through: the upload is buffered somewhere", allocated, uploadBytes)
			}
		})
	}
}
