package engrami

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine/knowledge/memory"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/exchange"
)

// A message id is the run's id under this dialect's prefix: "msg_X" is
// run "run-X", so feedback on a message finds the run that answered it.
const (
	messagePrefix = "msg_"
	runPrefix     = "run-"
)

func messageID(runID string) string { return messagePrefix + strings.TrimPrefix(runID, runPrefix) }

type chatResponse struct {
	Response       string   `json:"response"`
	ConversationID string   `json:"conversation_id"`
	MessageID      string   `json:"message_id"`
	TokensUsed     int      `json:"tokens_used"`
	MemoryAccessed []string `json:"memory_accessed"`
	LatencyMs      int64    `json:"latency_ms"`
}

// prepare decodes a chat request into a call on the path's agent.
func (d *Dialect) prepare(r *http.Request, p *adapters.Principal, stream bool) (*adapters.Call, error) {
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	req, err := decodeChat(body)
	if err != nil {
		return nil, err
	}
	a, err := d.agent(r.Context(), p, r.PathValue("agent_id"))
	if err != nil {
		return nil, err
	}
	conv := req.conversationID
	if conv == "" {
		conv = adapters.NewID("conv_")
	}
	return &adapters.Call{Principal: p, Dialect: Name, Agent: a, SessionID: conv, UserID: req.userID, PromptVars: req.vars,
		RunID: adapters.NewID(runPrefix), Stream: stream,
		Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, req.message)}}, nil
}

func accessed(res *toolloop.Result) []string {
	if res.MemoryAccessed == nil {
		return []string{}
	}
	return res.MemoryAccessed
}

func (d *Dialect) chat(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	call, err := d.prepare(r, p, false)
	if err != nil {
		return err
	}
	res, err := d.env.Engine.Run(r.Context(), x, call, func(adapters.Event) error { return nil })
	if err != nil {
		return agentError(err)
	}
	writeJSON(w, http.StatusOK, chatResponse{Response: res.Text, ConversationID: call.SessionID, MessageID: messageID(res.RunID),
		TokensUsed: res.Usage.Total(), MemoryAccessed: accessed(res), LatencyMs: res.Latency.Milliseconds()})
	return nil
}

// chatStream streams the answer: start once the upstream answers, a token
// per delta, then end with the totals; a failure after the start ends the
// stream with an error event instead (before it, the client gets a plain
// error response with its status).
func (d *Dialect) chatStream(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	call, err := d.prepare(r, p, true)
	if err != nil {
		return err
	}
	msgID := messageID(call.RunID)
	sse := dialects.NewSSE(w)
	var buf []byte
	head := func(typ string) []byte {
		buf = append(buf[:0], `{"type":`...)
		buf = dialects.AppendString(buf, typ)
		buf = append(buf, `,"message_id":`...)
		return dialects.AppendString(buf, msgID)
	}
	emit := func(ev adapters.Event) error {
		switch ev.Type {
		case adapters.EventStart:
			if sse.Started() {
				return nil
			}
			b := append(head("start"), `,"conversation_id":`...)
			b = dialects.AppendString(b, call.SessionID)
			return sse.Event("", append(b, '}'))
		case adapters.EventDelta:
			if ev.Text == "" {
				return nil
			}
			buf = dialects.AppendString(append(buf[:0], `{"type":"token","content":`...), ev.Text)
			return sse.Event("", append(buf, '}'))
		}
		return nil
	}
	res, err := d.env.Engine.Run(r.Context(), x, call, emit)
	if err != nil {
		err = agentError(err)
		if !sse.Started() {
			return err
		}
		b := append(head("error"), `,"error":`...)
		b = appendError(b, adapters.AsError(err))
		_ = sse.Event("", append(b, '}'))
		return nil
	}
	b := append(head("end"), `,"conversation_id":`...)
	b = dialects.AppendString(b, call.SessionID)
	b = append(b, `,"tokens_used":`...)
	b = strconv.AppendInt(b, int64(res.Usage.Total()), 10)
	b = append(b, `,"memory_accessed":`...)
	b = append(b, marshal(accessed(res))...)
	b = append(b, `,"latency_ms":`...)
	b = strconv.AppendInt(b, res.Latency.Milliseconds(), 10)
	_ = sse.Event("", append(b, '}'))
	return nil
}

type feedbackResponse struct {
	Success   bool   `json:"success"`
	MessageID string `json:"message_id"`
	Rating    string `json:"rating"`
}

// feedback records an end user's thumbs up or down on one of the agent's
// answers; it feeds statistics.satisfaction_rate. A later vote on the
// same message replaces the earlier one.
func (d *Dialect) feedback(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	rating, err := decodeFeedback(body)
	if err != nil {
		return err
	}
	a, err := d.agent(r.Context(), p, r.PathValue("agent_id"))
	if err != nil {
		return err
	}
	msgID := r.PathValue("message_id")
	missing := &adapters.Error{Kind: adapters.KindNotFound, Code: "message_not_found", Param: "message_id",
		Message: "message " + quote(msgID) + " of agent " + quote(a.ID) + " not found"}
	rest, ok := strings.CutPrefix(msgID, messagePrefix)
	if !ok || rest == "" {
		return missing
	}
	if err := d.env.Engine.Knowledge().Memory().Rate(r.Context(), p.Tenant, a.ID, runPrefix+rest, rating); err != nil {
		if errors.Is(err, memory.ErrNoSuchAnswer) {
			return missing
		}
		return err
	}
	writeJSON(w, http.StatusOK, feedbackResponse{Success: true, MessageID: msgID, Rating: rating})
	return nil
}
