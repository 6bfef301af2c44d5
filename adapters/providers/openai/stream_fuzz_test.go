package openai

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/providertest"
)

// FuzzStream feeds arbitrary bytes to the stream parser: it must never
// panic, must keep the event contract, and must not depend on how the
// input is split into reads.
func FuzzStream(f *testing.F) {
	providertest.AddStreamSeeds(f,
		"", "data:", "data: [DONE]", "data: {}\n\n", "data: null\n\n", "data: []\n\n", "\r\r\r",
		"data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":-1},{\"index\":99999999999}]}}]}\n\n",
		"data: {\"choices\":[{\"delta\":{\"tool_calls\":[{}, 1, \"x\", {\"function\":{\"arguments\":{\"a\":1}}}]},\"finish_reason\":\"stop\"}]}\n\n",
		"data: {\"error\":\"x\"}\n\n", "data: {\"usage\":{\"prompt_tokens\":\"many\"}}\n\n",
		"data: {\"choices\":\"nope\",\"model\":7}\n\ndata: [DONE]\n\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		var whole, bytewise []adapters.Event
		errWhole := readStream(context.Background(), bytes.NewReader(data), "m", 200, DefaultTimeout, providertest.Collect(&whole))
		errByte := readStream(context.Background(), iotest.OneByteReader(bytes.NewReader(data)), "m", 200, DefaultTimeout, providertest.Collect(&bytewise))
		checkOrder(t, whole, errWhole)
		if (errWhole == nil) != (errByte == nil) || !reflect.DeepEqual(whole, bytewise) {
			t.Fatalf("split reads differ:\n%+v %v\n%+v %v", whole, errWhole, bytewise, errByte)
		}
		var ae *adapters.Error
		if errWhole != nil && !errors.As(errWhole, &ae) {
			t.Fatalf("non-canonical error %v", errWhole)
		}
		// The non-stream parser must cope with the same bytes.
		var evs []adapters.Event
		err := readResponse(string(data), "m", 200, providertest.Collect(&evs))
		checkOrder(t, evs, err)
	})
}
