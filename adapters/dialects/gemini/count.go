package gemini

import (
	"net/http"
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/exchange"
)

// decodeCountTokens reads a countTokens body: contents alone (what the
// Gen AI SDKs send), or a whole generateContentRequest.
func decodeCountTokens(body []byte, limits dialects.Limits) (*generateRequest, error) {
	root, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	if err := root.check(fieldSet{"contents": "", "generateContentRequest": ""}); err != nil {
		return nil, err
	}
	gcr, ok, err := root.obj("generateContentRequest")
	if err != nil {
		return nil, err
	}
	if ok {
		if root.get("contents").Exists() {
			return nil, adapters.BadField("generateContentRequest", "cannot be set together with contents")
		}
		return decodeGenerateObject(gcr, limits, true)
	}
	return decodeGenerateObject(root, limits, true)
}

// countTokens answers the gateway's estimate of the prompt tokens of a
// request to the model (see engine.Engine.CountTokens): the agent's system
// prompt and tools count, as they would be sent.
func (d *Dialect) countTokens(w http.ResponseWriter, r *http.Request, x *exchange.Exchange, model string) error {
	p := x.Principal
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	req, err := decodeCountTokens(body, d.env.Limits)
	if err != nil {
		return err
	}
	agent, err := d.resolve(r.Context(), p, model)
	if err != nil {
		return err
	}
	call := &req.call
	call.Principal, call.Dialect, call.Agent = p, Name, agent
	n, err := d.env.Engine.CountTokens(r.Context(), x, call)
	if err != nil {
		return err
	}
	b := append([]byte(`{"totalTokens":`), strconv.Itoa(n)...)
	dialects.WriteRawJSON(w, http.StatusOK, append(b, '}'))
	return nil
}
