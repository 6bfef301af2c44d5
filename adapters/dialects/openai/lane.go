package openai

import (
	"context"
	"net/http"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// The raw passthrough lane, as Envoy AI Gateway's openai→openai
// translator: a Chat Completions request whose call needs nothing of the
// engine beyond its model and system prompt (engine.Engine.RawLane says
// when), to a model whose provider speaks Chat Completions itself, skips
// the canonical form both ways.
//
//   - The body is decoded once, as on the canonical path (decodeChat), so
//     bad input gets the same 400 naming the field; what goes upstream is
//     the client's own bytes with the model patched (sjson), the agent's
//     system prompt put first among the messages, and, for a stream,
//     stream_options.include_usage set, so usage can be metered.
//   - The answer's bytes go back as they arrive: a JSON answer whole
//     (checked as the provider checks it), a stream event by event,
//     flushed after each read, with the model the client named in place
//     of the upstream's (as the canonical path answers), the usage chunk
//     the client did not ask for dropped, and usage read from the stream's
//     last chunk.
//   - Routing, retries before the first byte, the usage record and the
//     request's Meter (quota settlement, metrics) are engine/models'
//     (models.Models.Relay), as for every model call; authentication and
//     admission happened before the dialect ran.
//
// For an upstream answer in OpenAI's own encoding (as agentgate's
// encoder writes it) the client receives the bytes the canonical path
// would have sent, ids and times aside; the lane keeps what the canonical
// form drops (fields it does not know, SSE comments), relays an event the
// canonical path would reject as malformed, and does not make up usage an
// upstream did not report (the usage record estimates it). lane_test.go
// shows both.

// lane serves a decoded Chat Completions request on the raw lane.
func (d *Dialect) lane(w http.ResponseWriter, ctx context.Context, p *adapters.Principal, req *decodedChat,
	agent *adapters.Agent, route *models.RawRoute, body []byte) error {
	up, err := laneBody(body, req, agent.SystemPrompt, route.Model)
	if err != nil {
		return err
	}
	start := d.env.Engine.Now()
	call := &models.RawCall{Account: models.Account{Principal: p, Dialect: Name, AgentID: agent.ID}, Route: route,
		Body: up, Stream: req.call.Stream, ID: adapters.NewID("run-")}
	model := dialects.AppendString(nil, req.model)
	var relay func(http.ResponseWriter, *http.Response, *models.RawAnswer, []byte) error
	if req.call.Stream {
		relay = func(w http.ResponseWriter, resp *http.Response, a *models.RawAnswer, model []byte) error {
			return relayStream(w, resp, a, model, !req.includeUsage)
		}
	} else {
		relay = relayCompletion
	}
	var committed bool
	err = d.env.Engine.Models().Relay(ctx, call, func(resp *http.Response, a *models.RawAnswer) error {
		err := relay(w, resp, a, model)
		committed = a.Committed()
		return err
	})
	if err != nil {
		if committed {
			return nil // the stream told the client, in-band
		}
		return err
	}
	if agent.ID != "" {
		d.env.Engine.RawTurnDone(&adapters.Call{Principal: p, Dialect: Name, Agent: agent}, call.ID, d.env.Engine.Now().Sub(start))
	}
	return nil
}

// laneBody is the body the upstream gets: the client's, with model, a
// system prompt before its messages, and stream usage asked for.
func laneBody(body []byte, req *decodedChat, system, model string) ([]byte, error) {
	out := body
	var err error
	if req.model != model {
		if out, err = sjson.SetBytes(out, "model", model); err != nil {
			return nil, err
		}
	}
	if system != "" {
		msgs := gjson.GetBytes(out, "messages")
		if !msgs.IsArray() || msgs.Index <= 0 || out[msgs.Index] != '[' {
			return nil, &adapters.Error{Kind: adapters.KindInternal, Message: "cannot place the system prompt"} // decodeChat saw an array
		}
		i := msgs.Index + 1
		patched := make([]byte, 0, len(out)+len(system)+48)
		patched = append(patched, out[:i]...)
		patched = append(patched, `{"role":"system","content":`...)
		patched = dialects.AppendString(patched, system)
		patched = append(patched, "},"...)
		out = append(patched, out[i:]...)
	}
	if req.call.Stream && !req.includeUsage {
		path := "stream_options.include_usage"
		if so := gjson.GetBytes(out, "stream_options"); so.Exists() && !so.IsObject() {
			path = "stream_options" // null: replaced by an object
			out, err = sjson.SetRawBytes(out, path, []byte(`{"include_usage":true}`))
		} else {
			out, err = sjson.SetBytes(out, path, true)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
