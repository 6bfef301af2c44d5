package e2e

// The passthrough of the OpenAI endpoints agentgate does not translate
// (issue 18, item 3), through a real Caddy against the fake OpenAI
// upstream, driven by openai-go: completions, moderations, images, audio
// (multipart in, binary out), files, batches, uploads and vector stores;
// the upstream sees the provider's key; objects are the tenant's own;
// limits, quotas, usage logs; passthrough off; unknown paths.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"
)

// forwardBlock routes the fake's models to it (one by alias, one behind
// a stripped prefix) beside openaiBlock's agents, and names it the
// passthrough's default provider.
func forwardBlock(up *fakeupstream.OpenAI) string {
	return openaiBlock(up) + `
		route gpt-* up
		route omni-* up
		route dall-e-* up
		route whisper-* up
		route tts-* up
		route openai/* up
		route voice up tts-1
		passthrough up
`
}

func startForward(t *testing.T) (*fakeupstream.OpenAI, *testgate.Gateway) {
	t.Helper()
	up := (&fakeupstream.OpenAI{}).Start()
	t.Cleanup(up.Close)
	return up, testgate.Start(t, testgate.Config{Block: forwardBlock(up)})
}

// wantProviderKey checks the upstream got the provider's key and none of
// the client's.
func wantProviderKey(t *testing.T, rec fakeupstream.APIRequest) {
	t.Helper()
	if got := rec.Header.Get("Authorization"); got != "Bearer sk-upstream" {
		t.Errorf("%s %s: upstream Authorization %q, want the provider's key", rec.Method, rec.Path, got)
	}
	for k, v := range rec.Header {
		if strings.Contains(strings.Join(v, ","), "agk_test") {
			t.Errorf("%s %s: the client's key reached the upstream in %s", rec.Method, rec.Path, k)
		}
	}
}

func TestForwardModelEndpoints(t *testing.T) {
	up, g := startForward(t)
	client := sdk(g, testgate.KeyA)
	ctx := context.Background()

	t.Run("completions", func(t *testing.T) {
		c, err := client.Completions.New(ctx, openai.CompletionNewParams{
			Model: "gpt-3.5-turbo-instruct", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Say this")}})
		if err != nil {
			t.Fatal(err)
		}
		if c.Choices[0].Text != "Completed: Say this" || c.Usage.TotalTokens != 7 {
			t.Errorf("completion %s", c.RawJSON())
		}
		wantProviderKey(t, up.LastAPIRequest())

		stream := client.Completions.NewStreaming(ctx, openai.CompletionNewParams{
			Model: "gpt-3.5-turbo-instruct", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("stream me")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
		var text strings.Builder
		var usage int64
		for stream.Next() {
			ev := stream.Current()
			if len(ev.Choices) > 0 {
				text.WriteString(ev.Choices[0].Text)
			}
			usage += ev.Usage.TotalTokens
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if text.String() != "Completed: stream me" || usage != 7 {
			t.Errorf("streamed %q, usage %d", text.String(), usage)
		}
	})

	t.Run("moderations", func(t *testing.T) {
		m, err := client.Moderations.New(ctx, openai.ModerationNewParams{
			Model: openai.ModerationModelOmniModerationLatest, Input: openai.ModerationNewParamsInputUnion{OfString: openai.String("I hate this")}})
		if err != nil {
			t.Fatal(err)
		}
		if !m.Results[0].Flagged || m.Model != "omni-moderation-latest" {
			t.Errorf("moderation %s", m.RawJSON())
		}
	})

	t.Run("images", func(t *testing.T) {
		img, err := client.Images.Generate(ctx, openai.ImageGenerateParams{Model: "dall-e-3", Prompt: "a cat"})
		if err != nil {
			t.Fatal(err)
		}
		if img.Data[0].B64JSON != fakeupstream.FakePNG || img.Usage.TotalTokens != 30 {
			t.Errorf("image %s", img.RawJSON())
		}
	})

	t.Run("transcription through a stripped prefix", func(t *testing.T) {
		audio := bytes.Repeat([]byte("RIFFfake-wav"), 50000)
		sum := sha256.Sum256(audio)
		tr, err := client.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{
			Model: "openai/whisper-1", File: openai.File(bytes.NewReader(audio), "speech.wav", "audio/wav")})
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("transcribed %d bytes with whisper-1", len(audio))
		if tr.Text != want {
			t.Errorf("transcription %q, want %q", tr.Text, want)
		}
		rec := up.LastAPIRequest()
		if rec.FileSHA256 != hex.EncodeToString(sum[:]) || rec.Field("model") != "whisper-1" {
			t.Errorf("upstream form %v (file %d bytes)", rec.Fields, rec.FileBytes)
		}
		// openai-go sends the file before the model (fields by name).
		if len(rec.Fields) < 2 || !strings.HasPrefix(rec.Fields[0], "file=") {
			t.Errorf("fields %v: want the file first, as openai-go sends it", rec.Fields)
		}
		wantProviderKey(t, rec)
	})

	t.Run("speech by alias", func(t *testing.T) {
		resp, err := client.Audio.Speech.New(ctx, openai.AudioSpeechNewParams{Model: "voice", Input: "Hello", Voice: openai.AudioSpeechNewParamsVoiceUnion{OfString: openai.String("alloy")}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if !bytes.Equal(got, fakeupstream.SpeechBytes("Hello")) || resp.Header.Get("Content-Type") != "audio/mpeg" {
			t.Errorf("speech: %d bytes of %s", len(got), resp.Header.Get("Content-Type"))
		}
		if m := gjson.GetBytes(up.LastAPIRequest().Body, "model").Str; m != "tts-1" {
			t.Errorf("upstream model %q, want the alias's target", m)
		}
	})

	t.Run("usage logs", func(t *testing.T) {
		_, body, _ := g.Do("GET", "/v1/logs?limit=50", testgate.KeyA, nil)
		found := map[string]string{}
		for _, r := range gjson.ParseBytes(body).Array() {
			if r.Get("dialect").Str == "openai" && r.Get("provider").Str == "up" {
				found[r.Get("model_id").Str] = r.Get("input_tokens").Raw + "/" + r.Get("output_tokens").Raw + "/" + r.Get("status").Str
			}
		}
		for model, want := range map[string]string{"gpt-3.5-turbo-instruct": "4/3/ok", "dall-e-3": "10/20/ok",
			"whisper-1": "5/3/ok", "omni-moderation-latest": "0/0/ok", "tts-1": "0/0/ok"} {
			if found[model] != want {
				t.Errorf("usage record of %s: %q, want %q (all: %v)", model, found[model], want, found)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			body, code, param string
			status            int
		}{
			{`{"model":"claude-x","prompt":"x"}`, "model_not_found", "model", 404},
			{`{"model":"assistant","prompt":"x"}`, "model_not_found", "model", 404},
			{`{"model":3,"prompt":"x"}`, "invalid_request", "model", 400},
			{`{"model":"gpt-x",`, "invalid_request", "body", 400},
		} {
			status, body, _ := g.Do("POST", "/v1/completions", testgate.KeyA, tc.body)
			e := gjson.GetBytes(body, "error")
			if status != tc.status || e.Get("code").Str != tc.code || e.Get("param").Str != tc.param || e.Get("message").Str == "" {
				t.Errorf("%s: %d %s", tc.body, status, body)
			}
		}
		if status, _, _ := g.Do("POST", "/v1/completions", "", `{"model":"gpt-x","prompt":"x"}`); status != 401 {
			t.Errorf("no key: %d", status)
		}
	})
}

// TestForwardObjectsPerTenant: files, batches, uploads and vector stores
// made through the gateway belong to the tenant that made them.
func TestForwardObjectsPerTenant(t *testing.T) {
	up, g := startForward(t)
	a, b := sdk(g, testgate.KeyA), sdk(g, testgate.KeyB)
	ctx := context.Background()

	fileA, err := a.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader(`{"custom_id":"1"}`), "in.jsonl", "application/jsonl"),
		Purpose: openai.FilePurposeBatch})
	if err != nil {
		t.Fatal(err)
	}
	fileB, err := b.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader("b"), "b.jsonl", "application/jsonl"),
		Purpose: openai.FilePurposeBatch})
	if err != nil {
		t.Fatal(err)
	}
	wantProviderKey(t, up.LastAPIRequest())
	ids := func(c openai.Client) []string {
		page, err := c.Files.List(ctx, openai.FileListParams{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range page.Data {
			out = append(out, f.ID)
		}
		return out
	}
	if got := ids(a); strings.Join(got, ",") != fileA.ID {
		t.Errorf("tenant A lists %v, want only %s", got, fileA.ID)
	}
	if got := ids(b); strings.Join(got, ",") != fileB.ID {
		t.Errorf("tenant B lists %v, want only %s", got, fileB.ID)
	}
	// Every way of reaching A's file from B is a 404.
	_, err = b.Files.Get(ctx, fileA.ID)
	wantAPIError(t, err, 404, "object_not_found")
	_, err = b.Files.Delete(ctx, fileA.ID)
	wantAPIError(t, err, 404, "object_not_found")
	_, err = b.Files.Content(ctx, fileA.ID)
	wantAPIError(t, err, 404, "object_not_found")
	_, err = b.Batches.New(ctx, openai.BatchNewParams{InputFileID: fileA.ID, Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions,
		CompletionWindow: openai.BatchNewParamsCompletionWindow24h})
	wantAPIError(t, err, 404, "object_not_found")
	_, err = b.VectorStores.New(ctx, openai.VectorStoreNewParams{FileIDs: []string{fileB.ID, fileA.ID}})
	wantAPIError(t, err, 404, "object_not_found")
	// An id never made through the gateway is nobody's.
	_, err = a.Files.Get(ctx, "file-made-elsewhere")
	wantAPIError(t, err, 404, "object_not_found")

	// A's batch, and the output file the upstream makes for it.
	batch, err := a.Batches.New(ctx, openai.BatchNewParams{InputFileID: fileA.ID, Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions,
		CompletionWindow: openai.BatchNewParamsCompletionWindow24h})
	if err != nil {
		t.Fatal(err)
	}
	done, err := a.Batches.Get(ctx, batch.ID)
	if err != nil || done.OutputFileID == "" {
		t.Fatalf("batch %v %v", done, err)
	}
	resp, err := a.Files.Content(ctx, done.OutputFileID)
	if err != nil {
		t.Fatalf("A reading its batch's output: %v", err)
	}
	resp.Body.Close()
	_, err = b.Batches.Get(ctx, batch.ID)
	wantAPIError(t, err, 404, "object_not_found")
	_, err = b.Files.Content(ctx, done.OutputFileID)
	wantAPIError(t, err, 404, "object_not_found")
	if page, err := b.Batches.List(ctx, openai.BatchListParams{}); err != nil || len(page.Data) != 0 {
		t.Errorf("tenant B lists batches %v %v", page, err)
	}

	// An upload's parts and completion, and the file it makes.
	upl, err := a.Uploads.New(ctx, openai.UploadNewParams{Bytes: 5, Filename: "big.jsonl", MimeType: "application/jsonl", Purpose: openai.FilePurposeBatch})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Uploads.Parts.New(ctx, upl.ID, openai.UploadPartNewParams{Data: strings.NewReader("hello")})
	wantAPIError(t, err, 404, "object_not_found")
	part, err := a.Uploads.Parts.New(ctx, upl.ID, openai.UploadPartNewParams{Data: strings.NewReader("hello")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Uploads.Complete(ctx, upl.ID, openai.UploadCompleteParams{PartIDs: []string{part.ID}})
	wantAPIError(t, err, 404, "object_not_found")
	completed, err := a.Uploads.Complete(ctx, upl.ID, openai.UploadCompleteParams{PartIDs: []string{part.ID}})
	if err != nil || completed.File.ID == "" {
		t.Fatalf("complete: %v %v", completed, err)
	}
	if _, err := a.Files.Get(ctx, completed.File.ID); err != nil {
		t.Errorf("A reading the upload's file: %v", err)
	}

	// Vector stores: made with A's own files, invisible to B.
	vs, err := a.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("docs"), FileIDs: []string{fileA.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.VectorStores.Files.New(ctx, vs.ID, openai.VectorStoreFileNewParams{FileID: completed.File.ID}); err != nil {
		t.Errorf("attaching A's file: %v", err)
	}
	_, err = b.VectorStores.Get(ctx, vs.ID)
	wantAPIError(t, err, 404, "object_not_found")
	_, err = b.VectorStores.Files.New(ctx, vs.ID, openai.VectorStoreFileNewParams{FileID: fileB.ID})
	wantAPIError(t, err, 404, "object_not_found")
	if page, err := b.VectorStores.List(ctx, openai.VectorStoreListParams{}); err != nil || len(page.Data) != 0 {
		t.Errorf("tenant B lists vector stores %v %v", page, err)
	}

	// Deleting releases the id.
	if _, err := a.Files.Delete(ctx, fileA.ID); err != nil {
		t.Fatal(err)
	}
	_, err = a.Files.Get(ctx, fileA.ID)
	wantAPIError(t, err, 404, "object_not_found")
}

// TestForwardListPagination: a tenant's list is topped up from later
// upstream pages, its cursors are its own objects, and following them
// walks every one of its objects once.
func TestForwardListPagination(t *testing.T) {
	_, g := startForward(t)
	ctx := context.Background()
	a, b := sdk(g, testgate.KeyA), sdk(g, testgate.KeyB)
	var mine []string
	for i := range 12 {
		c, isA := b, i%4 == 3
		if isA {
			c = a
		}
		f, err := c.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader("x"), "f.jsonl", "application/jsonl"), Purpose: openai.FilePurposeBatch})
		if err != nil {
			t.Fatal(err)
		}
		if isA {
			mine = append(mine, f.ID)
		}
	}
	var walked []string
	after := ""
	for range 10 {
		path := "/v1/files?limit=2"
		if after != "" {
			path += "&after=" + after
		}
		status, body, _ := g.Do("GET", path, testgate.KeyA, nil)
		if status != 200 {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		page := gjson.ParseBytes(body)
		for _, f := range page.Get("data").Array() {
			walked = append(walked, f.Get("id").Str)
		}
		if !page.Get("has_more").Bool() {
			break
		}
		after = page.Get("last_id").Str
	}
	if strings.Join(walked, ",") != strings.Join(mine, ",") {
		t.Errorf("walked %v, want %v", walked, mine)
	}
}

// TestForwardLimitsAndQuotas: passthrough calls count against the key's
// requests per minute and its monthly quota, settled with the usage the
// upstream reported.
func TestForwardLimitsAndQuotas(t *testing.T) {
	_, g := startForward(t)
	body := `{"model":"gpt-3.5-turbo-instruct","prompt":"x","max_tokens":5}`
	estimate := (len(body)+3)/4 + 5
	// Each call uses 7 tokens: three fit, the fourth's reservation does not.
	quota := 3*7 + estimate - 1
	if s, b := adminDo(t, g, "PUT", "/agentgate/tiers/pro", fmt.Sprintf(`{"monthly_tokens":%d}`, quota)); s != 200 {
		t.Fatalf("PUT tier: %d %s", s, b)
	}
	for i := 1; i <= 4; i++ {
		status, resp, _ := g.Do("POST", "/v1/completions", testgate.KeyA, body)
		if i <= 3 && status != 200 {
			t.Fatalf("call %d: %d %s", i, status, resp)
		}
		if i == 4 && (status != 429 || gjson.GetBytes(resp, "error.code").Str != "insufficient_quota") {
			t.Fatalf("call 4 over the quota: %d %s", status, resp)
		}
	}
	if s, b := adminDo(t, g, "PUT", "/agentgate/tiers/pro", `{"rpm":2}`); s != 200 {
		t.Fatalf("PUT tier: %d %s", s, b)
	}
	var last int
	var hdr http.Header
	for range 3 {
		last, _, hdr = g.Do("GET", "/v1/files", testgate.KeyB, nil)
	}
	if last != 429 || hdr.Get("Retry-After") == "" || hdr.Get("x-ratelimit-limit-requests") != "2" {
		t.Errorf("third request in a minute at rpm 2: %d %v", last, hdr)
	}
}

// TestForwardOffAndUnknownPaths: with passthrough off, paths no dialect
// serves go to the site's next handler; without one, a /v1/ path gets
// OpenAI's JSON 404. With passthrough on, a path that routes nowhere is
// the same 404.
func TestForwardOffAndUnknownPaths(t *testing.T) {
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	block := strings.Replace(forwardBlock(up), "passthrough up", "passthrough off", 1)
	// header passes every request on: the site has no handler after it.
	g := testgate.Start(t, testgate.Config{Block: block, Site: "header X-Site 1"})
	for _, path := range []string{"/v1/files", "/v1/nothing/here"} {
		status, body, hdr := g.Do("GET", path, testgate.KeyA, nil)
		if status != 404 || hdr.Get("Content-Type") != "application/json" || gjson.GetBytes(body, "error.message").Str != "Invalid URL (GET "+path+")" {
			t.Errorf("GET %s with passthrough off: %d %s", path, status, body)
		}
	}
	if n := len(up.APIRequests()); n != 0 {
		t.Errorf("passthrough off reached the upstream %d times", n)
	}
	// A next handler takes precedence.
	g.Load(testgate.Config{Block: block, Site: `respond /v1/files "app" 200`})
	http.DefaultClient.CloseIdleConnections()
	if status, body, _ := g.Do("GET", "/v1/files", testgate.KeyA, nil); status != 200 || string(body) != "app" {
		t.Errorf("next handler: %d %s", status, body)
	}

	// On: a path the upstream does not serve is its 404, in OpenAI's
	// shape even when the upstream answers plain text.
	g.Load(testgate.Config{Block: forwardBlock(up), Site: "header X-Site 1"})
	http.DefaultClient.CloseIdleConnections()
	status, body, hdr := g.Do("DELETE", "/v1/nothing/here", testgate.KeyA, nil)
	if status != 404 || hdr.Get("Content-Type") != "application/json" || gjson.GetBytes(body, "error.message").Str != "Invalid URL (DELETE /v1/nothing/here)" {
		t.Errorf("unknown path upstream: %d %s", status, body)
	}

	// On, without a default provider (two OpenAI-compatible ones): a
	// request naming no model and no object goes nowhere.
	g.Load(testgate.Config{Block: strings.Replace(forwardBlock(up), "passthrough up", `provider other openai {
			base_url `+up.URL+`
		}`, 1), Site: "header X-Site 1"})
	http.DefaultClient.CloseIdleConnections()
	status, body, _ = g.Do("GET", "/v1/files", testgate.KeyA, nil)
	if status != 404 || gjson.GetBytes(body, "error.message").Str != "Invalid URL (GET /v1/files)" {
		t.Errorf("no default provider: %d %s", status, body)
	}
	status, body, _ = g.Do("POST", "/v1/completions", testgate.KeyA, `{"model":"gpt-3.5-turbo-instruct","prompt":"x"}`)
	if status != 200 || gjson.GetBytes(body, "object").Str != "text_completion" {
		t.Errorf("a model still routes: %d %s", status, body)
	}
}
