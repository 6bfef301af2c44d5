package bbolt

import (
	"encoding/binary"
	"encoding/json"
	"math"
)

// Records that carry a vector (a knowledge chunk, a memory's embedding)
// are stored as a version byte, a uvarint length and the JSON of the
// record's other fields, then the vector as little-endian float32s (4
// bytes each) to the end of the value. Binary vectors are a fifth of
// their JSON and decode without parsing, which matters when a source's
// chunks or an agent's 100k memories load into an index. Each kind of
// record keeps its own version byte, so either may change alone.

// encodeWithVector encodes v, whose JSON leaves vec out, and vec after
// version.
func encodeWithVector(version byte, v any, vec []float32) ([]byte, error) {
	meta, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(meta)+4*len(vec))
	b = append(b, version)
	b = binary.AppendUvarint(b, uint64(len(meta)))
	b = append(b, meta...)
	for _, f := range vec {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b, nil
}

// decodeWithVector decodes what encodeWithVector wrote at version into v
// and returns the vector (nil when empty). A value of another version or
// of the wrong shape is malformed.
func decodeWithVector(b []byte, version byte, v any, malformed error) ([]float32, error) {
	if len(b) == 0 || b[0] != version {
		return nil, malformed
	}
	l, n := binary.Uvarint(b[1:])
	if n <= 0 || uint64(len(b)-1-n) < l {
		return nil, malformed
	}
	body := b[1+n:]
	if err := json.Unmarshal(body[:l], v); err != nil {
		return nil, err
	}
	raw := body[l:]
	if len(raw)%4 != 0 {
		return nil, malformed
	}
	if len(raw) == 0 {
		return nil, nil
	}
	vec := make([]float32, len(raw)/4)
	for i := range vec {
		vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return vec, nil
}
