package agentsv2

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine/tools"
	"github.com/agentgate/agentgate/exchange"
)

// toolkitRun answers GET /v2/agents/{id}/toolkit/run: it runs one method
// of an operator-declared toolkit with the remaining query parameters as
// its arguments, coerced to the types of the method's JSON schema.
// user_id and session_id are the caller's context, not arguments, unless
// the schema declares them. A method that requires confirmation only runs
// through chat, where the run pauses for a person (409 here).
//
// The answer is {"status": "success", "message", "result": <the method's
// JSON>}, or, when the method fails, {"status": "error", "message":
// "<what went wrong>", "result": null} with 502 (504 when it timed out).
func (d *Dialect) toolkitRun(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	q := r.URL.Query()
	errs := &invalid{}
	toolkit, method := q.Get("toolkit_name"), q.Get("method_name")
	for _, k := range [...]string{"toolkit_name", "method_name"} {
		if !q.Has(k) {
			errs.add([]any{"query", k}, "missing", msgMissing)
		} else if q.Get(k) == "" {
			errs.add([]any{"query", k}, "string_too_short", "String should have at least 1 character")
		}
	}
	if err := errs.err(); err != nil {
		return err
	}
	agent, err := d.agent(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	reg := d.env.Engine.Tools()
	var tk *tools.Toolkit
	if reg != nil {
		tk, _ = reg.Toolkit(toolkit)
	}
	if tk == nil {
		return &adapters.Error{Kind: adapters.KindNotFound, Code: "toolkit_not_found", Param: "toolkit_name",
			Message: "Toolkit " + clip(toolkit) + " not found: " + declared(reg)}
	}
	m, ok := reg.Method(toolkit, method)
	if !ok {
		names := make([]string, 0, len(tk.Methods))
		for _, m := range tk.Methods {
			names = append(names, m.Name)
		}
		return &adapters.Error{Kind: adapters.KindNotFound, Code: "method_not_found", Param: "method_name",
			Message: "Method " + clip(method) + " not found in toolkit " + tk.Name + " (its methods: " + strings.Join(names, ", ") + ")"}
	}
	if m.RequiresConfirmation {
		return &adapters.Error{Kind: adapters.KindConflict, Code: "confirmation_required", Param: "method_name",
			Message: "Method " + m.Name + " of toolkit " + tk.Name + " requires a person's confirmation: call it through POST /v2/agents/" +
				agent.ID + "/chat, which pauses the run until it is confirmed with /chat/commit"}
	}
	argsJSON, err := coerceArgs(m.Parameters, q)
	if err != nil {
		return err
	}
	// The method's timeout bounds the call here too, so that its end
	// tells a timeout (504) from a failure (502) without reading the
	// time: tools.Run's own deadline is this one (a context keeps its
	// parent's earlier deadline).
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = tools.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	res, failed := tools.Run(ctx, m, argsJSON)
	if failed {
		status := http.StatusBadGateway
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			status = http.StatusGatewayTimeout
		}
		var e struct {
			Error string `json:"error"`
		}
		msg := "Toolkit method execution failed"
		if json.Unmarshal(res, &e) == nil && e.Error != "" {
			msg += ": " + e.Error
		}
		dialects.WriteRawJSON(w, status, marshal(struct {
			Status  string          `json:"status"`
			Message string          `json:"message"`
			Result  json.RawMessage `json:"result"`
		}{"error", msg, json.RawMessage("null")}))
		return nil
	}
	dialects.WriteRawJSON(w, http.StatusOK, marshal(struct {
		Status  string          `json:"status"`
		Message string          `json:"message"`
		Result  json.RawMessage `json:"result"`
	}{"success", "Toolkit method executed successfully", res}))
	return nil
}

// schema is the part of a method's JSON Schema that arguments are
// coerced by.
type schema struct {
	Type                 json.RawMessage    `json:"type"`
	Properties           map[string]*schema `json:"properties"`
	Items                *schema            `json:"items"`
	Required             []string           `json:"required"`
	AdditionalProperties json.RawMessage    `json:"additionalProperties"`
}

// typ is the schema's type: the first non-null one of a list.
func (s *schema) typ() string {
	if s == nil || len(s.Type) == 0 {
		return ""
	}
	var one string
	if json.Unmarshal(s.Type, &one) == nil {
		return one
	}
	var many []string
	_ = json.Unmarshal(s.Type, &many)
	for _, t := range many {
		if t != "null" {
			return t
		}
	}
	return ""
}

// coerceArgs turns query parameters into the method's arguments object.
func coerceArgs(params json.RawMessage, q url.Values) (json.RawMessage, error) {
	var sc schema
	if len(params) > 0 {
		_ = json.Unmarshal(params, &sc)
	}
	closed := bytes.Equal(bytes.TrimSpace(sc.AdditionalProperties), []byte("false"))
	errs := &invalid{}
	out := map[string]any{}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		prop, declared := sc.Properties[k]
		switch {
		case k == "toolkit_name" || k == "method_name":
			continue
		case (k == "user_id" || k == "session_id") && !declared:
			continue // the caller's context
		case !declared && closed:
			errs.add([]any{"query", k}, "extra_forbidden", "Extra inputs are not permitted")
			continue
		}
		vals := q[k]
		if v, ok := coerce(errs, []any{"query", k}, prop, vals); ok {
			out[k] = v
		}
	}
	for _, k := range sc.Required {
		if _, ok := out[k]; !ok && !slices.Contains(keys, k) {
			errs.add([]any{"query", k}, "missing", msgMissing)
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, adapters.Errorf(adapters.KindInternal, "encoding arguments")
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// coerce converts a parameter's values to its schema's type: integer,
// number, boolean, array (repeated parameters or one JSON array), object
// (JSON) or string. A parameter the schema does not type stays a string
// (a list of strings when repeated).
func coerce(errs *invalid, loc []any, s *schema, vals []string) (any, bool) {
	if s.typ() == "array" {
		if len(vals) == 1 && strings.HasPrefix(strings.TrimSpace(vals[0]), "[") {
			var items []json.RawMessage
			if json.Unmarshal([]byte(vals[0]), &items) != nil {
				errs.add(loc, "json_invalid", "Invalid JSON: expected an array")
				return nil, false
			}
			out := make([]any, 0, len(items))
			good := true
			for i, raw := range items {
				var v any
				_ = json.Unmarshal(raw, &v)
				if str, isStr := v.(string); isStr && s.Items.typ() != "string" && s.Items.typ() != "" {
					v, good = coerceOne(errs, at(loc, i), s.Items, str)
				}
				out = append(out, v)
			}
			return out, good
		}
		out := make([]any, 0, len(vals))
		good := true
		for i, v := range vals {
			c, ok := coerceOne(errs, at(loc, i), s.Items, v)
			good = good && ok
			out = append(out, c)
		}
		return out, good
	}
	if s == nil && len(vals) > 1 {
		out := make([]any, len(vals))
		for i, v := range vals {
			out[i] = v
		}
		return out, true
	}
	return coerceOne(errs, loc, s, vals[len(vals)-1])
}

func coerceOne(errs *invalid, loc []any, s *schema, v string) (any, bool) {
	switch s.typ() {
	case "integer":
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			errs.add(loc, "int_parsing", "Input should be a valid integer, unable to parse string as an integer")
			return nil, false
		}
		return n, true
	case "number":
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			errs.add(loc, "float_parsing", "Input should be a valid number, unable to parse string as a number")
			return nil, false
		}
		return f, true
	case "boolean":
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "1", "yes", "on", "t", "y":
			return true, true
		case "false", "0", "no", "off", "f", "n":
			return false, true
		}
		errs.add(loc, "bool_parsing", "Input should be a valid boolean, unable to interpret input")
		return nil, false
	case "object":
		var obj map[string]any
		if kind([]byte(v)) != '{' || json.Unmarshal([]byte(v), &obj) != nil {
			errs.add(loc, "dict_type", "Input should be a valid dictionary: pass a JSON object")
			return nil, false
		}
		return obj, true
	case "array":
		var arr []any
		if json.Unmarshal([]byte(v), &arr) != nil {
			errs.add(loc, "list_type", "Input should be a valid list: pass a JSON array")
			return nil, false
		}
		return arr, true
	}
	return v, true
}
