package openai

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/exchange"
	"github.com/tidwall/gjson"
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
//   - Admission is the engine's (engine.Engine.RunRaw admits the
//     request's exchange with the canonical path's estimate); routing,
//     retries before the first byte and accounting (the usage record, the
//     exchange's totals that settle the lease and feed the metrics) are
//     engine/models' (models.Models.Relay), as for every model call.
//
// For an upstream answer in OpenAI's own encoding (as agentgate's
// encoder writes it) the client receives the bytes the canonical path
// would have sent, ids and times aside; the lane keeps what the canonical
// form drops (fields it does not know, SSE comments), relays an event the
// canonical path would reject as malformed, and does not make up usage an
// upstream did not report (the usage record estimates it). lane_test.go
// shows both.

// lane serves a decoded Chat Completions request on the raw lane.
func (d *Dialect) lane(w http.ResponseWriter, ctx context.Context, x *exchange.Exchange, req *decodedChat,
	agent *adapters.Agent, route *models.RawRoute, body []byte) error {
	up, stripUsage, err := laneBody(body, req, agent.SystemPrompt, route.Model)
	if err != nil {
		return err
	}
	call := &req.call
	call.Principal, call.Dialect, call.Agent = x.Principal, Name, agent
	model := quotedJSON(req.model)
	var committed bool
	err = d.env.Engine.RunRaw(ctx, x, call, route, up, func(resp *http.Response, a *models.RawAnswer) error {
		var err error
		if req.call.Stream {
			err = relayStream(w, resp, a, model, stripUsage)
		} else {
			err = relayCompletion(w, resp, a, model)
		}
		committed = a.Committed()
		return err
	})
	if err != nil && committed {
		return nil // the stream told the client, in-band
	}
	return err
}

// laneBody is the body the upstream gets: the client's, with model, a
// system prompt before its messages, and stream usage asked for
// (stripUsage: the client did not ask, its usage chunk is to be dropped).
// It is built in one copy, from where decodeChat found the fields.
func laneBody(body []byte, req *decodedChat, system, model string) (_ []byte, stripUsage bool, err error) {
	var edits [3]edit
	n := 0
	if req.model != model {
		edits[n] = edit{at: req.modelAt.at, del: req.modelAt.n, ins: quotedJSON(model)}
		n++
	}
	if system != "" {
		if m := req.messagesAt; m.n == 0 || body[m.at] != '[' {
			return nil, false, &adapters.Error{Kind: adapters.KindInternal, Message: "cannot place the system prompt"} // decodeChat saw an array
		}
		const open, closing = `{"role":"system","content":`, "},"
		ins := append(make([]byte, 0, len(open)+len(system)+2+len(closing)), open...)
		ins = append(dialects.AppendString(ins, system), closing...)
		edits[n] = edit{at: req.messagesAt.at + 1, ins: ins}
		n++
	}
	if req.call.Stream {
		e, asked := askUsage(body, req.streamOptionsAt)
		if !asked {
			edits[n] = e
			n++
		}
		stripUsage = !asked
	}
	out, err := applyEdits(body, edits[:n])
	return out, stripUsage, err
}

// quotedJSON is s as a JSON string, in one allocation when s needs no
// escapes.
func quotedJSON(s string) []byte { return dialects.AppendString(make([]byte, 0, len(s)+2), s) }

// edit replaces del bytes at at with ins.
type edit struct {
	at, del int
	ins     []byte
}

// askUsage is the edit that makes body, a JSON object whose
// stream_options value is at so (n is 0 when it has none), ask for a
// stream's usage, so that the stream can be metered; asked tells that the
// client asked itself, with one include_usage that is true, and nothing
// is to be edited. Any other stream_options (null, an object without
// include_usage, with a false one, with two, or with a differently cased
// one, which upstreams read differently: some take the last of
// duplicates, some fold case) becomes an object with the one
// include_usage, true, its other members kept.
func askUsage(body []byte, so span) (e edit, asked bool) {
	const usage = `"include_usage":true`
	if so.n == 0 {
		end := bytes.LastIndexByte(body, '}')
		return edit{at: end, ins: []byte(`,"stream_options":{` + usage + `}`)}, false
	}
	ins := []byte(`{` + usage)
	n := 0
	if v := gjson.ParseBytes(body[so.at : so.at+so.n]); v.IsObject() {
		v.ForEach(func(k, v gjson.Result) bool {
			if strings.EqualFold(k.Str, "include_usage") {
				n++
				asked = k.Str == "include_usage" && v.Type == gjson.True
				return true
			}
			ins = append(append(append(append(ins, ','), k.Raw...), ':'), v.Raw...)
			return true
		})
	}
	if n == 1 && asked {
		return edit{}, true
	}
	return edit{at: so.at, del: so.n, ins: append(ins, '}')}, false
}

// applyEdits returns body with edits, which do not overlap, made.
func applyEdits(body []byte, edits []edit) ([]byte, error) {
	if len(edits) == 0 {
		return body, nil
	}
	slices.SortFunc(edits, func(a, b edit) int { return a.at - b.at })
	size := len(body)
	for _, e := range edits {
		size += len(e.ins) - e.del
	}
	out := make([]byte, 0, size)
	last := 0
	for _, e := range edits {
		if e.at < last || e.at+e.del > len(body) {
			return nil, &adapters.Error{Kind: adapters.KindInternal, Message: "cannot patch the request body"}
		}
		out = append(out, body[last:e.at]...)
		out = append(out, e.ins...)
		last = e.at + e.del
	}
	return append(out, body[last:]...), nil
}
