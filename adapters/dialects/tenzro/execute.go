package tenzro

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/exchange"
)

// Execution statuses.
const (
	ExecCompleted     = "completed"
	ExecMaxIterations = "max_iterations_reached"
	ExecFailed        = "failed"
)

// ExecuteInstruction is added to the agent's system prompt for an
// execution.
const ExecuteInstruction = "You are executing a task. Use your tools as the task needs. When the task is done, " +
	"answer with one JSON object and nothing else (no prose, no code fences): the task's result, with descriptive keys."

// jsonObject is the response_format asking for a JSON object.
var jsonObject = json.RawMessage(`{"type":"json_object"}`)

type stepView struct {
	Action string          `json:"action"`
	Result json.RawMessage `json:"result"`
}

type executionError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// executeResponse is an execution's answer.
type executeResponse struct {
	ExecutionID string          `json:"execution_id"`
	Status      string          `json:"status"`
	Result      json.RawMessage `json:"result"`
	Steps       []stepView      `json:"steps"`
	Error       *executionError `json:"error,omitempty"`
}

// execute answers POST /agent/agents/{id}/execute.
func (d *Dialect) execute(w http.ResponseWriter, r *http.Request, x *exchange.Exchange, project string) error {
	p := x.Principal
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	req, err := decodeExecute(body)
	if err != nil {
		return err
	}
	ctx := r.Context()
	agent, err := d.agent(ctx, p, project, r.PathValue("id"))
	if err != nil {
		return err
	}
	execID := adapters.NewID("exec_")
	system := agent.SystemPrompt
	if system != "" {
		system += "\n\n"
	}
	system += ExecuteInstruction
	task := "Task: " + req.task
	if req.inputs != nil {
		task += "\n\nInputs (JSON): " + string(req.inputs)
	}
	call := &adapters.Call{Principal: p, Dialect: Name, Agent: agent, Project: project,
		Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, task)},
		RunID:    execID, MaxIterations: req.maxIterations, SystemPrompt: &system}
	if answersWithoutTools(agent) {
		// JSON mode only where the answering call offers no tools: some
		// providers refuse JSON mode together with function calling.
		call.Sampling.ResponseFormat = jsonObject
	}
	res, err := d.env.Engine.Run(ctx, x, call, func(adapters.Event) error { return nil })
	if x.Admitted() {
		// Every execution the gateway admitted counts, whatever its end.
		if cerr := d.countExecution(context.WithoutCancel(ctx), p, project, agent.ID); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	out := executeResponse{ExecutionID: execID, Result: json.RawMessage("null"), Steps: steps(res.Steps)}
	switch res.Status {
	case toolloop.StatusMaxIterations:
		out.Status = ExecMaxIterations
		out.Error = &executionError{Code: ExecMaxIterations,
			Message: "the agent reached max_iterations (" + strconv.Itoa(req.maxIterations) + ") before finishing the task"}
	case toolloop.StatusPaused:
		out.Status = ExecFailed
		e := adapters.AsError(paused(res))
		out.Error = &executionError{Code: e.Code, Message: e.Message}
	default:
		obj, perr := parseResult(res.Text)
		if perr != nil {
			obj, perr, err = d.repair(ctx, x, call, res.Text, perr)
			if err != nil {
				return err
			}
		}
		if perr != nil {
			out.Status = ExecFailed
			out.Error = &executionError{Code: "invalid_result", Message: "the agent did not answer with a JSON object: " + perr.Error()}
			break
		}
		out.Status, out.Result = ExecCompleted, obj
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// answersWithoutTools reports whether the model call that gives an
// execution's answer offers no tools: a sequential or parallel agent's
// synthesis, or a single agent without tools.
func answersWithoutTools(a *adapters.Agent) bool {
	switch a.Pattern {
	case adapters.PatternSequential, adapters.PatternParallel:
		return true
	case "", adapters.PatternSingle:
		return len(a.Tools) == 0
	}
	return false
}

// repair makes the one attempt to get a JSON object from an answer that
// was not one: a model call with no tools, shown its answer and the parse
// error, in JSON mode. It is metered as part of the execution.
func (d *Dialect) repair(ctx context.Context, x *exchange.Exchange, call *adapters.Call, answer string, perr error) (json.RawMessage, error, error) {
	agent := *call.Agent
	agent.Tools, agent.Pattern, agent.SubAgents, agent.MaxIterations = nil, adapters.PatternSingle, nil, 1
	fix := *call
	fix.Agent, fix.Tools, fix.MaxIterations = &agent, nil, 1
	fix.RunID, fix.ParentRunID = adapters.NewID("run-"), call.RunID
	fix.Sampling.ResponseFormat = jsonObject
	fix.Messages = []adapters.Message{
		call.Messages[len(call.Messages)-1],
		adapters.TextMessage(adapters.RoleAssistant, answer),
		adapters.TextMessage(adapters.RoleUser, "Your answer is not a valid JSON object ("+perr.Error()+
			"). Answer again with only the JSON object holding the task's result."),
	}
	res, err := d.env.Engine.Run(ctx, x, &fix, func(adapters.Event) error { return nil })
	if err != nil {
		return nil, nil, err
	}
	obj, perr := parseResult(res.Text)
	return obj, perr, nil
}

// parseResult reads an answer as one JSON object, allowing a Markdown
// code fence around it.
func parseResult(text string) (json.RawMessage, error) {
	s := strings.TrimSpace(text)
	if rest, ok := strings.CutPrefix(s, "```"); ok {
		if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
			rest = rest[nl+1:]
		}
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "```"))
	}
	if s == "" {
		return nil, errors.New("the answer is empty")
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, errors.New("the answer is JSON but not an object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// steps shows an execution's tool calls and delegations.
func steps(ss []toolloop.Step) []stepView {
	out := make([]stepView, 0, len(ss))
	for _, s := range ss {
		out = append(out, stepView{Action: s.Call.Name, Result: result(s.Result)})
	}
	return out
}
