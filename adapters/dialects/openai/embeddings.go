package openai

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/exchange"
)

type embeddingsRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
}

// maxEmbeddingInputs caps one request's inputs, as OpenAI does.
const maxEmbeddingInputs = 2048

// decodeEmbeddings validates an embeddings request. Token-array inputs
// are refused: agentgate cannot detokenize for providers that take text.
func decodeEmbeddings(body []byte) (*embeddingsRequest, []string, error) {
	var req embeddingsRequest
	if err := dialects.Unmarshal(body, &req); err != nil {
		return nil, nil, err
	}
	if req.Model == "" {
		return nil, nil, adapters.BadField("model", "is required: an embedding model routed by the gateway")
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, nil, adapters.BadField("encoding_format", "must be float or base64, got %q", req.EncodingFormat)
	}
	if req.Dimensions != nil {
		return nil, nil, adapters.BadField("dimensions", "is not supported by the gateway; omit it to get the model's native size")
	}
	in := bytes.TrimSpace(req.Input)
	if len(in) == 0 || bytes.Equal(in, []byte("null")) {
		return nil, nil, adapters.BadField("input", "is required: a string or an array of strings")
	}
	var inputs []string
	if in[0] == '"' {
		var s string
		if err := json.Unmarshal(in, &s); err != nil {
			return nil, nil, adapters.BadField("input", "is not a valid string")
		}
		inputs = []string{s}
	} else if err := json.Unmarshal(in, &inputs); err != nil {
		return nil, nil, adapters.BadField("input", "must be a string or an array of strings (token arrays are not supported)")
	}
	if len(inputs) == 0 || len(inputs) > maxEmbeddingInputs {
		return nil, nil, adapters.BadField("input", "must hold 1 to %d items", maxEmbeddingInputs)
	}
	for i, s := range inputs {
		if s == "" {
			return nil, nil, adapters.BadField("input["+strconv.Itoa(i)+"]", "must not be empty")
		}
	}
	return &req, inputs, nil
}

func (d *Dialect) embeddings(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	req, inputs, err := decodeEmbeddings(body)
	if err != nil {
		return err
	}
	vecs, usage, err := d.env.Engine.Embed(r.Context(), x, req.Model, inputs)
	if err != nil {
		return err
	}
	b := []byte(`{"object":"list","data":[`)
	for i, v := range vecs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":`...)
		b = appendVector(b, v, req.EncodingFormat == "base64")
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = dialects.AppendString(b, req.Model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(usage.InputTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(usage.InputTokens), 10)
	b = append(b, "}}"...)
	dialects.WriteRawJSON(w, http.StatusOK, b)
	return nil
}

// appendVector writes v as a JSON array of floats or, for base64, as
// OpenAI does: little-endian float32 values, base64-encoded (openai-node
// asks for this by default).
func appendVector(b []byte, v []float32, b64 bool) []byte {
	if b64 {
		raw := make([]byte, 4*len(v))
		for i, f := range v {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
		}
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, raw)
		return append(b, '"')
	}
	b = append(b, '[')
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(f), 'g', -1, 32)
	}
	return append(b, ']')
}
