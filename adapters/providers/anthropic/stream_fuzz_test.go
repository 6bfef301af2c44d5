package anthropic

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"testing/iotest"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/providertest"
)

// FuzzStream feeds arbitrary bytes to the stream parser: it must never
// panic, must keep the event contract, must not depend on how the input is
// split into reads, and must report only canonical errors.
func FuzzStream(f *testing.F) {
	providertest.AddStreamSeeds(f,
		"", "data:", "event: message_stop", "event: message_stop\ndata: {}\n\n", "data: null\n\n", "data: []\n\n", "\r\r\r",
		"event: error\ndata: {}\n\n", "event: error\ndata: {\"error\":\"x\"}\n\n",
		"data: {\"type\":\"content_block_start\",\"index\":-1,\"content_block\":{\"type\":\"tool_use\"}}\n\ndata: {\"type\":\"message_stop\"}\n\n",
		"data: {\"type\":\"content_block_delta\",\"index\":99999999999,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":7}}\n\n",
		"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":\"many\",\"input_tokens\":-5}}\n\n",
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"t\",\"signature\":\"s\"}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\"}}\n\n",
		"event: ping\ndata: {\"type\":\"message_start\",\"message\":7}\n\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		var whole, bytewise []adapters.Event
		errWhole := readStream(context.Background(), bytes.NewReader(data), "m", 200, DefaultTimeout, providertest.Collect(&whole))
		errByte := readStream(context.Background(), iotest.OneByteReader(bytes.NewReader(data)), "m", 200, DefaultTimeout, providertest.Collect(&bytewise))
		checkOrder(t, whole, errWhole)
		if a, b := eventLines(t, whole, errWhole), eventLines(t, bytewise, errByte); !bytes.Equal(a, b) {
			t.Fatalf("split reads differ:\n%s\n%s", a, b)
		}
		var ae *adapters.Error
		if errWhole != nil && !errors.As(errWhole, &ae) {
			t.Fatalf("non-canonical error %v", errWhole)
		}
		// The non-stream parser must cope with the same bytes.
		var evs []adapters.Event
		err := readResponse(string(data), "m", 200, providertest.Collect(&evs))
		checkOrder(t, evs, err)
		if err != nil && !errors.As(err, &ae) {
			t.Fatalf("non-canonical error %v", err)
		}
	})
}
