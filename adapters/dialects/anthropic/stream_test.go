package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"testing/iotest"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/dialecttest"
)

// TestStreamAccumulatesToMessage feeds every streamed golden case to the
// official Go SDK one byte at a time: its decoder and Message.Accumulate
// must give the very answer the same events give unstreamed (content
// blocks, stop reason and sequence, usage), and a failure after the
// stream began must surface as the SDK's *Error of the right type.
func TestStreamAccumulatesToMessage(t *testing.T) {
	cases, _ := filepath.Glob("testdata/*/request.json")
	n := 0
	for _, reqPath := range cases {
		body, err := os.ReadFile(reqPath)
		if err != nil {
			t.Fatal(err)
		}
		if !gjson.GetBytes(body, "stream").Bool() {
			continue
		}
		n++
		dir := filepath.Dir(reqPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			events := dialecttest.LoadEvents(t, filepath.Join(dir, "events.jsonl"))
			run := func(body []byte) *httptest.ResponseRecorder {
				h := harness(t, &dialecttest.Script{Events: [][]adapters.Event{events}})
				return h.Do("POST", "/v1/messages", body, "Anthropic-Version", "2026-10-21")
			}
			streamed := run(body)
			plainBody, _ := sjson.DeleteBytes(body, "stream")
			plain := run(plainBody)
			if streamed.Code != http.StatusOK {
				// Failed before anything was sent: the same error as JSON.
				if streamed.Code != plain.Code || !bytes.Equal(dialecttest.Normalize(streamed.Body.Bytes()), dialecttest.Normalize(plain.Body.Bytes())) {
					t.Errorf("streamed request failed with %d %s, unstreamed with %d %s", streamed.Code, streamed.Body, plain.Code, plain.Body)
				}
				return
			}

			res := &http.Response{StatusCode: streamed.Code, Header: streamed.Header(),
				Body:    io.NopCloser(iotest.OneByteReader(bytes.NewReader(streamed.Body.Bytes()))),
				Request: httptest.NewRequest("POST", "/v1/messages", nil)}
			stream := ssestream.NewStream[sdk.MessageStreamEventUnion](ssestream.NewDecoder(res), nil)
			var acc sdk.Message
			for stream.Next() {
				if err := acc.Accumulate(stream.Current()); err != nil {
					t.Fatalf("accumulating: %v", err)
				}
			}
			if plain.Code != http.StatusOK {
				var apiErr *sdk.Error
				if !errors.As(stream.Err(), &apiErr) {
					t.Fatalf("stream error %v, want an *anthropic.Error", stream.Err())
				}
				want := gjson.Get(plain.Body.String(), "error.type").String()
				if string(apiErr.Type()) != want || apiErr.Message == "" {
					t.Errorf("stream error type %q message %q, want the type %q the unstreamed answer has", apiErr.Type(), apiErr.Message, want)
				}
				return
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			var want sdk.Message
			if err := json.Unmarshal(plain.Body.Bytes(), &want); err != nil {
				t.Fatal(err)
			}
			if got, w := summary(t, &acc), summary(t, &want); !reflect.DeepEqual(got, w) {
				t.Errorf("streamed answer\n%s\nwant the unstreamed\n%s", got, w)
			}
		})
	}
	if n == 0 {
		t.Fatal("no streamed golden cases")
	}
}

// summary is what a client reads of a message, as comparable JSON.
func summary(t *testing.T, m *sdk.Message) string {
	t.Helper()
	type blk struct {
		Type, Text, Thinking, Signature, Data, ID, Name string
		Input                                           any
	}
	var blocks []blk
	for _, c := range m.Content {
		b := blk{Type: c.Type, Text: c.Text, Thinking: c.Thinking, Signature: c.Signature, Data: c.Data, ID: c.ID, Name: c.Name}
		if len(c.Input) > 0 {
			if err := json.Unmarshal(c.Input, &b.Input); err != nil {
				t.Fatalf("tool input %s: %v", c.Input, err)
			}
		}
		blocks = append(blocks, b)
	}
	out, _ := json.MarshalIndent(map[string]any{
		"model": m.Model, "role": m.Role, "content": blocks, "stop_reason": m.StopReason, "stop_sequence": m.StopSequence,
		"usage": []int64{m.Usage.InputTokens, m.Usage.CacheCreationInputTokens, m.Usage.CacheReadInputTokens, m.Usage.OutputTokens},
	}, "", " ")
	return string(out)
}
