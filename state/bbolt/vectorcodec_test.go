package bbolt

import (
	"errors"
	"reflect"
	"testing"

	"github.com/agentgate/agentgate/state"
)

// Chunks and memories keep their vectors exactly (float32 bits), none as
// nil, and their other fields as JSON.
func TestVectorCodecRoundTrip(t *testing.T) {
	for _, vec := range [][]float32{nil, {0}, {1.5, -2.25e-7, 3e30}} {
		c := &state.Chunk{ID: "c1", DocID: "d", Seq: 3, Text: "text", Vector: vec}
		b, err := encodeChunk(c)
		if err != nil {
			t.Fatal(err)
		}
		var got state.Chunk
		if err := decodeChunk(b, &got); err != nil || !reflect.DeepEqual(&got, c) {
			t.Errorf("chunk: got %+v, %v; want %+v", got, err, c)
		}
		m := &state.Memory{ID: "m1", Tenant: "t", AgentID: "a", Embedding: vec}
		if b, err = encodeMemory(m); err != nil {
			t.Fatal(err)
		}
		var gotm state.Memory
		if err := decodeMemory(b, &gotm); err != nil || !reflect.DeepEqual(&gotm, m) {
			t.Errorf("memory: got %+v, %v; want %+v", gotm, err, m)
		}
	}
}

// A value of another kind's version, cut short or with a stray byte in
// its vector is malformed, as that kind says.
func TestVectorCodecMalformed(t *testing.T) {
	good, err := encodeWithVector(7, map[string]int{"a": 1}, []float32{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"empty":          nil,
		"other version":  append([]byte{8}, good[1:]...),
		"no length":      {7},
		"JSON cut short": good[:4],
		"stray byte":     append(append([]byte(nil), good...), 0),
	} {
		var v map[string]int
		if _, err := decodeWithVector(b, 7, &v, errChunkCodec); !errors.Is(err, errChunkCodec) {
			t.Errorf("%s: got %v, want errChunkCodec", name, err)
		}
	}
	var v map[string]int
	if vec, err := decodeWithVector(good, 7, &v, errChunkCodec); err != nil || v["a"] != 1 || !reflect.DeepEqual(vec, []float32{1, 2}) {
		t.Errorf("got %v %v, %v", v, vec, err)
	}
}
