package gemini

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/exchange"
	"github.com/tidwall/gjson"
)

// maxBatchEmbeds caps the requests of one batchEmbedContents, as Gemini
// does.
const maxBatchEmbeds = 100

var taskTypes = []string{"TASK_TYPE_UNSPECIFIED", "RETRIEVAL_QUERY", "RETRIEVAL_DOCUMENT", "SEMANTIC_SIMILARITY",
	"CLASSIFICATION", "CLUSTERING", "QUESTION_ANSWERING", "FACT_VERIFICATION", "CODE_RETRIEVAL_QUERY"}

var embedFields = fieldSet{
	"model": "", "content": "", "taskType": "", "title": "", "autoTruncate": "",
	"outputDimensionality": "is not supported by the gateway: omit it to get the model's native size",
}

// decodeEmbedRequest reads one EmbedContentRequest into the text to embed.
// model is the path's model, which a request's own model must match.
// taskType and title are accepted and not applied: they are hints of
// Gemini's embedding models that other providers have no counterpart of.
func decodeEmbedRequest(o object, model string) (string, error) {
	if err := o.check(embedFields); err != nil {
		return "", err
	}
	m, err := o.str("model")
	if err != nil {
		return "", err
	}
	if m != "" && strings.TrimPrefix(m, "models/") != model {
		return "", adapters.BadField(o.at("model"), "must be the model of the path, models/%s", clip(model))
	}
	if _, err := o.enum("taskType", taskTypes); err != nil {
		return "", err
	}
	if _, err := o.str("title"); err != nil {
		return "", err
	}
	content, ok, err := o.obj("content")
	if err != nil {
		return "", err
	}
	if !ok {
		return "", adapters.BadField(o.at("content"), "is required: the text to embed, as {\"parts\":[{\"text\":…}]}")
	}
	if err := content.check(contentFields); err != nil {
		return "", err
	}
	parts, err := content.objects("parts")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range parts {
		if err := p.check(partFields); err != nil {
			return "", err
		}
		t := p.get("text")
		if !t.Exists() || t.Type != gjson.String {
			return "", adapters.BadField(p.path, "must be a text part: the gateway embeds text only")
		}
		b.WriteString(t.Str)
	}
	if b.Len() == 0 {
		return "", adapters.BadField(content.at("parts"), "must hold some text to embed")
	}
	return b.String(), nil
}

// decodeEmbedContent reads an embedContent body.
func decodeEmbedContent(body []byte, model string) (string, error) {
	root, err := parseBody(body)
	if err != nil {
		return "", err
	}
	return decodeEmbedRequest(root, model)
}

// decodeBatchEmbed reads a batchEmbedContents body.
func decodeBatchEmbed(body []byte, model string) ([]string, error) {
	root, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	if err := root.check(fieldSet{"requests": ""}); err != nil {
		return nil, err
	}
	reqs, err := root.objects("requests")
	if err != nil {
		return nil, err
	}
	if len(reqs) == 0 || len(reqs) > maxBatchEmbeds {
		return nil, adapters.BadField("requests", "must hold 1 to %d requests", maxBatchEmbeds)
	}
	inputs := make([]string, len(reqs))
	for i, rq := range reqs {
		if inputs[i], err = decodeEmbedRequest(rq, model); err != nil {
			return nil, err
		}
	}
	return inputs, nil
}

func (d *Dialect) embedContent(w http.ResponseWriter, r *http.Request, x *exchange.Exchange, model string) error {
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	input, err := decodeEmbedContent(body, model)
	if err != nil {
		return err
	}
	vecs, _, err := d.env.Engine.Embed(r.Context(), x, model, []string{input})
	if err != nil {
		return embedError(model, err)
	}
	b := append([]byte(`{"embedding":`), appendValues(nil, vecs[0])...)
	dialects.WriteRawJSON(w, http.StatusOK, append(b, '}'))
	return nil
}

func (d *Dialect) batchEmbedContents(w http.ResponseWriter, r *http.Request, x *exchange.Exchange, model string) error {
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	inputs, err := decodeBatchEmbed(body, model)
	if err != nil {
		return err
	}
	vecs, _, err := d.env.Engine.Embed(r.Context(), x, model, inputs)
	if err != nil {
		return embedError(model, err)
	}
	b := []byte(`{"embeddings":[`)
	for i, v := range vecs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendValues(b, v)
	}
	dialects.WriteRawJSON(w, http.StatusOK, append(b, "]}"...))
	return nil
}

// embedError words an unrouted embedding model as Google does.
func embedError(model string, err error) error {
	if e := adapters.AsError(err); e.Kind == adapters.KindNotFound && e.Code == "model_not_found" {
		return modelNotFound(model)
	}
	return err
}

// appendValues writes a ContentEmbedding: {"values":[…]}.
func appendValues(b []byte, v []float32) []byte {
	b = append(b, `{"values":[`...)
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(f), 'g', -1, 32)
	}
	return append(b, "]}"...)
}
