package tenzro

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
)

// Bounds of request fields.
const (
	maxName         = 128
	maxDescription  = 2000
	maxModel        = 256
	maxTools        = 64
	maxToolName     = 128
	maxConversation = 128
	maxContextKeys  = 64
)

// object is a JSON object being validated field by field.
type object map[string]json.RawMessage

// invalid is a 400 validation_error naming field.
func invalid(field, format string, args ...any) *adapters.Error {
	e := adapters.BadField(field, format, args...)
	e.Code = "validation_error"
	return e
}

// parseObject parses a body that must be a JSON object.
func parseObject(body []byte) (object, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "validation_error",
			Message: "the request body is empty; expected a JSON object"}
	}
	var o object
	if err := json.Unmarshal(trimmed, &o); err != nil || o == nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "validation_error",
				Message: "the request body is not valid JSON (at byte " + strconv.FormatInt(se.Offset, 10) + "): " + se.Error()}
		case err != nil && !json.Valid(trimmed):
			return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "validation_error",
				Message: "the request body is not valid JSON"}
		}
		return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "validation_error",
			Message: "the request body must be a JSON object"}
	}
	return o, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// present reports whether name is given with a value other than null.
func (o object) present(name string) bool {
	raw, ok := o[name]
	return ok && !isNull(raw)
}

// null reports whether name is given as null.
func (o object) null(name string) bool {
	raw, ok := o[name]
	return ok && isNull(raw)
}

// str reads a string field of 1 (or 0 when empty is allowed) to max
// bytes; ok is false when it is absent or null.
func (o object) str(name string, allowEmpty bool, max int) (s string, ok bool, err error) {
	if !o.present(name) {
		return "", false, nil
	}
	if err := json.Unmarshal(o[name], &s); err != nil {
		return "", false, invalid(name, "expected a string")
	}
	switch {
	case !allowEmpty && strings.TrimSpace(s) == "":
		return "", false, invalid(name, "must not be empty")
	case max > 0 && len(s) > max:
		return "", false, invalid(name, "must be at most %d bytes, not %d", max, len(s))
	case strings.ContainsRune(s, 0):
		return "", false, invalid(name, "must not contain NUL characters")
	}
	return s, true, nil
}

// strings reads an array of non-empty strings of at most maxLen bytes,
// with at most maxItems items, each once.
func (o object) strings(name string, maxItems, maxLen int) (out []string, ok bool, err error) {
	if !o.present(name) {
		return nil, false, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(o[name], &items); err != nil {
		return nil, false, invalid(name, "expected an array of strings")
	}
	if len(items) > maxItems {
		return nil, false, invalid(name, "at most %d items, not %d", maxItems, len(items))
	}
	out = make([]string, 0, len(items))
	seen := map[string]bool{}
	for i, raw := range items {
		field := name + "[" + strconv.Itoa(i) + "]"
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, false, invalid(field, "expected a string")
		}
		switch {
		case strings.TrimSpace(s) == "":
			return nil, false, invalid(field, "must not be empty")
		case len(s) > maxLen:
			return nil, false, invalid(field, "must be at most %d bytes", maxLen)
		case strings.ContainsRune(s, 0):
			return nil, false, invalid(field, "must not contain NUL characters")
		case seen[s]:
			return nil, false, invalid(field, "%s is named twice", quote(s))
		}
		seen[s] = true
		out = append(out, s)
	}
	return out, true, nil
}

// number reads a finite number in [lo, hi].
func (o object) number(name string, lo, hi float64) (float64, bool, error) {
	if !o.present(name) {
		return 0, false, nil
	}
	var f float64
	if err := json.Unmarshal(o[name], &f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, invalid(name, "expected a number")
	}
	if f < lo || f > hi {
		return 0, false, invalid(name, "must be between %g and %g, not %g", lo, hi, f)
	}
	return f, true, nil
}

// integer reads a whole number in [lo, hi].
func (o object) integer(name string, lo, hi int) (int, bool, error) {
	if !o.present(name) {
		return 0, false, nil
	}
	var f float64
	if err := json.Unmarshal(o[name], &f); err != nil {
		return 0, false, invalid(name, "expected an integer")
	}
	if f != math.Trunc(f) {
		return 0, false, invalid(name, "expected an integer, not %g", f)
	}
	if f < float64(lo) || f > float64(hi) {
		return 0, false, invalid(name, "must be between %d and %d, not %g", lo, hi, f)
	}
	return int(f), true, nil
}

// boolean reads a boolean.
func (o object) boolean(name string) (bool, bool, error) {
	if !o.present(name) {
		return false, false, nil
	}
	var b bool
	if err := json.Unmarshal(o[name], &b); err != nil {
		return false, false, invalid(name, "expected true or false")
	}
	return b, true, nil
}

// child reads a JSON object field.
func (o object) child(name string) (object, bool, error) {
	if !o.present(name) {
		return nil, false, nil
	}
	var c object
	if err := json.Unmarshal(o[name], &c); err != nil || c == nil {
		return nil, false, invalid(name, "expected an object")
	}
	return c, true, nil
}

// patterns maps the document's orchestration patterns to the runtime's.
var patterns = map[string]string{
	"SINGLE":       adapters.PatternSingle,
	"SEQUENTIAL":   adapters.PatternSequential,
	"PARALLEL":     adapters.PatternParallel,
	"HIERARCHICAL": adapters.PatternHierarchical,
}

// patternName is the document's name of a runtime pattern.
func patternName(p string) string {
	if p == "" {
		return "SINGLE"
	}
	return strings.ToUpper(p)
}

// field is an optional setting of a create or update: set when given,
// clear when given as null (update only).
type field[T any] struct {
	set, clear bool
	v          T
}

// agentSpec is a decoded create or update request.
type agentSpec struct {
	name, description, systemPrompt, model, pattern, status field[string]
	tools, subAgents                                        field[[]string]
	temperature                                             field[float64]
	maxIterations                                           field[int]
	thinking                                                field[bool]
}

// updatable are the fields an update may change.
var updatable = []string{"name", "description", "system_prompt", "ai_model", "orchestration_pattern", "tools",
	"sub_agents", "temperature", "max_iterations", "thinking", "status"}

// decodeAgent validates a create (update false) or update request's
// fields, their types and ranges. On an update, null clears
// description, system_prompt, tools, sub_agents, temperature and
// max_iterations; name, ai_model, orchestration_pattern, thinking and
// status cannot be null.
func decodeAgent(body []byte, update bool) (*agentSpec, error) {
	o, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	s := &agentSpec{}
	clearable := func(name string) bool {
		if update && o.null(name) {
			return true
		}
		return false
	}
	for _, name := range []string{"name", "ai_model", "orchestration_pattern", "thinking", "status"} {
		if update && o.null(name) {
			return nil, invalid(name, "cannot be null")
		}
	}
	if v, ok, err := o.str("name", false, maxName); err != nil {
		return nil, err
	} else if ok {
		s.name = field[string]{set: true, v: strings.TrimSpace(v)}
	} else if !update {
		return nil, invalid("name", "is required")
	}
	if v, ok, err := o.str("description", true, maxDescription); err != nil {
		return nil, err
	} else if ok || clearable("description") {
		s.description = field[string]{set: true, clear: !ok, v: v}
	}
	if v, ok, err := o.str("system_prompt", true, 0); err != nil {
		return nil, err
	} else if ok || clearable("system_prompt") {
		s.systemPrompt = field[string]{set: true, clear: !ok, v: v}
	}
	if v, ok, err := o.str("ai_model", false, maxModel); err != nil {
		return nil, err
	} else if ok {
		s.model = field[string]{set: true, v: strings.TrimSpace(v)}
	}
	if v, ok, err := o.str("orchestration_pattern", false, 32); err != nil {
		return nil, err
	} else if ok {
		p, known := patterns[strings.ToUpper(strings.TrimSpace(v))]
		if !known {
			return nil, invalid("orchestration_pattern", "must be SINGLE, SEQUENTIAL, PARALLEL or HIERARCHICAL, not %s", quote(v))
		}
		s.pattern = field[string]{set: true, v: p}
	}
	if v, ok, err := o.strings("tools", maxTools, maxToolName); err != nil {
		return nil, err
	} else if ok || clearable("tools") {
		s.tools = field[[]string]{set: true, clear: !ok, v: v}
	}
	if v, ok, err := o.strings("sub_agents", 10, maxName); err != nil {
		return nil, err
	} else if ok || clearable("sub_agents") {
		s.subAgents = field[[]string]{set: true, clear: !ok, v: v}
	}
	if v, ok, err := o.number("temperature", 0, 2); err != nil {
		return nil, err
	} else if ok || clearable("temperature") {
		s.temperature = field[float64]{set: true, clear: !ok, v: v}
	}
	if v, ok, err := o.integer("max_iterations", 1, MaxIterations); err != nil {
		return nil, err
	} else if ok || clearable("max_iterations") {
		s.maxIterations = field[int]{set: true, clear: !ok, v: v}
	}
	if v, ok, err := o.boolean("thinking"); err != nil {
		return nil, err
	} else if ok {
		s.thinking = field[bool]{set: true, v: v}
	}
	if v, ok, err := o.str("status", false, 32); err != nil {
		return nil, err
	} else if ok {
		if !adapters.ValidStatus(v) {
			return nil, invalid("status", "must be active, inactive or draft, not %s", quote(v))
		}
		s.status = field[string]{set: true, v: v}
	}
	if update {
		given := false
		for _, name := range updatable {
			if _, ok := o[name]; ok {
				given = true
			}
		}
		if !given {
			return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "validation_error",
				Message: "nothing to update: give at least one of " + strings.Join(updatable, ", ")}
		}
	}
	return s, nil
}

// chatRequest is a decoded chat request.
type chatRequest struct {
	message        string
	conversationID string
	// context is the request's context object, compact, or nil.
	context json.RawMessage
	// vars are the prompt placeholders the context fills.
	vars   map[string]string
	stream bool
}

// decodeChat validates a chat request.
func decodeChat(body []byte) (*chatRequest, error) {
	o, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	req := &chatRequest{}
	msg, ok, err := o.str("message", false, 0)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, invalid("message", "is required")
	}
	req.message = msg
	if id, ok, err := o.str("conversation_id", false, maxConversation); err != nil {
		return nil, err
	} else if ok {
		if !validConversation(id) {
			return nil, invalid("conversation_id", "must be 1 to %d letters, digits, '_', '-', '.' or ':'", maxConversation)
		}
		req.conversationID = id
	}
	if c, ok, err := o.child("context"); err != nil {
		return nil, err
	} else if ok && len(c) > 0 {
		if len(c) > maxContextKeys {
			return nil, invalid("context", "at most %d keys, not %d", maxContextKeys, len(c))
		}
		var buf bytes.Buffer
		if json.Compact(&buf, o["context"]) == nil {
			req.context = buf.Bytes()
		}
		req.vars = map[string]string{"context": string(req.context)}
		for k, v := range c {
			if !utf8.ValidString(k) {
				continue
			}
			val := scalar(v)
			req.vars[k], req.vars["context."+k] = val, val
		}
	}
	if b, ok, err := o.boolean("stream"); err != nil {
		return nil, err
	} else if ok {
		req.stream = b
	}
	return req, nil
}

// scalar is a context value as a prompt shows it: strings as written,
// anything else as compact JSON.
func scalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return buf.String()
	}
	return string(raw)
}

// validConversation reports whether id can be a conversation id.
func validConversation(id string) bool { return adapters.ValidProject(id) }

// executeRequest is a decoded execute request.
type executeRequest struct {
	task string
	// inputs is the inputs object, compact, or nil.
	inputs        json.RawMessage
	maxIterations int
}

// decodeExecute validates an execute request.
func decodeExecute(body []byte) (*executeRequest, error) {
	o, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	req := &executeRequest{maxIterations: DefaultExecuteIterations}
	task, ok, err := o.str("task", false, 0)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, invalid("task", "is required")
	}
	req.task = task
	if _, ok, err := o.child("inputs"); err != nil {
		return nil, err
	} else if ok {
		var buf bytes.Buffer
		if json.Compact(&buf, o["inputs"]) == nil {
			req.inputs = buf.Bytes()
		}
	}
	if n, ok, err := o.integer("max_iterations", 1, MaxIterations); err != nil {
		return nil, err
	} else if ok {
		req.maxIterations = n
	}
	return req, nil
}
