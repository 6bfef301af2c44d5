package openai

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"math"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/wire"
	"github.com/agentgate/agentgate/internal/jsonx"
	"github.com/agentgate/agentgate/internal/validjson"
	"github.com/tidwall/gjson"
)

// Embed sends inputs to {base}/embeddings and returns one vector per input,
// in input order. It asks for floats but also accepts base64 (little-endian
// float32) answers.
func (p *Provider) Embed(ctx context.Context, model string, inputs []string) ([][]float32, adapters.Usage, error) {
	if len(inputs) == 0 {
		return nil, adapters.Usage{}, nil
	}
	n := 64 + len(model)
	for _, in := range inputs {
		n += len(in) + 8
	}
	b := make([]byte, 0, n)
	b = append(b, `{"model":`...)
	b = jsonx.AppendStringJS(b, model)
	b = append(b, `,"input":`...)
	b = wire.AppendStrings(b, inputs)
	b = append(b, `,"encoding_format":"float"}`...)

	ctx, cancel := p.client.WithTimeout(ctx)
	defer cancel()
	resp, err := p.client.Post(ctx, p.embedURL, b, false)
	if err != nil {
		return nil, adapters.Usage{}, err
	}
	defer resp.Body.Close()
	body, err := p.client.ReadBody(ctx, resp)
	if err != nil {
		return nil, adapters.Usage{}, err
	}
	return parseEmbeddings(body, len(inputs), resp.StatusCode)
}

// parseEmbeddings reads an embeddings response holding want vectors.
func parseEmbeddings(body string, want, status int) ([][]float32, adapters.Usage, error) {
	bad := func(msg string) ([][]float32, adapters.Usage, error) {
		return nil, adapters.Usage{}, &adapters.Error{Kind: adapters.KindUpstream, Message: msg, UpstreamStatus: status}
	}
	if !validjson.String(body) {
		return bad("upstream returned an invalid embeddings response")
	}
	doc := gjson.Parse(body)
	if ev := doc.Get("error"); ev.Exists() && ev.Type != gjson.Null {
		return nil, adapters.Usage{}, upstreamError(ev, status)
	}
	out := make([][]float32, want)
	var failed string
	pos := 0
	doc.Get("data").ForEach(func(_, item gjson.Result) bool {
		idx := pos
		if i := item.Get("index"); i.Type == gjson.Number {
			idx = int(i.Int())
		}
		pos++
		if idx < 0 || idx >= want || out[idx] != nil {
			failed = "upstream returned embeddings that do not match the inputs"
			return false
		}
		vec, ok := decodeVector(item.Get("embedding"))
		if !ok {
			failed = "upstream returned an undecodable embedding"
			return false
		}
		out[idx] = vec
		return true
	})
	if failed != "" {
		return bad(failed)
	}
	for _, v := range out {
		if v == nil {
			return bad("upstream returned fewer embeddings than inputs")
		}
	}
	u := adapters.Usage{InputTokens: int(doc.Get("usage.prompt_tokens").Int())}
	return out, u, nil
}

// decodeVector reads an embedding given as a JSON array of numbers or as a
// base64 string of little-endian float32 values.
func decodeVector(v gjson.Result) ([]float32, bool) {
	switch {
	case v.IsArray():
		vec := make([]float32, 0, 1024)
		ok := true
		v.ForEach(func(_, x gjson.Result) bool {
			if x.Type != gjson.Number {
				ok = false
				return false
			}
			vec = append(vec, float32(x.Num))
			return true
		})
		return vec, ok
	case v.Type == gjson.String:
		raw, err := base64.StdEncoding.DecodeString(v.Str)
		if err != nil {
			raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(v.Str, "="))
		}
		if err != nil || len(raw)%4 != 0 {
			return nil, false
		}
		vec := make([]float32, len(raw)/4)
		for i := range vec {
			vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return vec, true
	}
	return nil, false
}
