package gemini

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/internal/validjson"
	"github.com/tidwall/gjson"
)

// object is one JSON object of a request body, with its path for error
// messages. Gemini's JSON is proto3 JSON: every field may be spelled in
// lowerCamelCase or snake_case, and null means absent. Fields are looked
// up by their lowerCamel name; names are reported that way too.
type object struct {
	path string
	v    gjson.Result
}

// parseBody checks that body is one JSON object and returns it.
func parseBody(body []byte) (object, error) {
	if !validjson.Bytes(body) {
		var v json.RawMessage
		if err := dialects.Unmarshal(body, &v); err != nil {
			return object{}, err
		}
		return object{}, adapters.Errorf(adapters.KindInvalidRequest, "malformed JSON")
	}
	v := gjson.ParseBytes(body)
	if !v.IsObject() {
		return object{}, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "invalid_json",
			Message: "request body must be a JSON object"}
	}
	return object{v: v}, nil
}

// at is the path of the field name of o.
func (o object) at(name string) string {
	if o.path == "" {
		return name
	}
	return o.path + "." + name
}

// snake spells a lowerCamel name in snake_case.
func snake(camel string) string {
	var b strings.Builder
	for i := 0; i < len(camel); i++ {
		c := camel[i]
		if 'A' <= c && c <= 'Z' {
			b.WriteByte('_')
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// camel spells a snake_case name in lowerCamelCase.
func camel(name string) string {
	if !strings.Contains(name, "_") || strings.HasPrefix(name, "_") {
		return name
	}
	var b strings.Builder
	up := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_':
			up = true
			continue
		case up && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		up = false
		b.WriteByte(c)
	}
	return b.String()
}

// fieldSet is the fields an object may hold: true for those agentgate
// interprets or ignores harmlessly, and for each known field it cannot
// honour, why (the 400's message).
type fieldSet map[string]string

// check rejects fields of o outside known, naming them, as the Gemini API
// rejects unknown fields: a misspelt or unsupported field is never lost
// silently.
func (o object) check(known fieldSet) error {
	var err error
	o.v.ForEach(func(k, _ gjson.Result) bool {
		name := camel(k.Str)
		why, ok := known[name]
		switch {
		case !ok:
			err = adapters.BadField(o.at(k.Str), "unknown field")
		case why != "":
			err = adapters.BadField(o.at(name), "%s", why)
		}
		return err == nil
	})
	return err
}

// get returns field name (lowerCamel) of o, or its snake_case spelling;
// null counts as absent.
func (o object) get(name string) gjson.Result {
	r := o.v.Get(name)
	if !r.Exists() {
		r = o.v.Get(snake(name))
	}
	if r.Type == gjson.Null {
		return gjson.Result{}
	}
	return r
}

// obj returns field name as an object.
func (o object) obj(name string) (object, bool, error) {
	r := o.get(name)
	if !r.Exists() {
		return object{}, false, nil
	}
	if !r.IsObject() {
		return object{}, false, adapters.BadField(o.at(name), "must be an object")
	}
	return object{path: o.at(name), v: r}, true, nil
}

// list returns field name as an array.
func (o object) list(name string) ([]gjson.Result, error) {
	r := o.get(name)
	if !r.Exists() {
		return nil, nil
	}
	if !r.IsArray() {
		return nil, adapters.BadField(o.at(name), "must be an array")
	}
	return r.Array(), nil
}

// objects returns field name as an array of objects.
func (o object) objects(name string) ([]object, error) {
	items, err := o.list(name)
	if err != nil || items == nil {
		return nil, err
	}
	out := make([]object, len(items))
	for i, it := range items {
		p := o.at(name) + "[" + strconv.Itoa(i) + "]"
		if !it.IsObject() {
			return nil, adapters.BadField(p, "must be an object")
		}
		out[i] = object{path: p, v: it}
	}
	return out, nil
}

// str returns field name as a string ("" when absent).
func (o object) str(name string) (string, error) {
	r := o.get(name)
	if !r.Exists() {
		return "", nil
	}
	if r.Type != gjson.String {
		return "", adapters.BadField(o.at(name), "must be a string")
	}
	return r.Str, nil
}

// strings returns field name as an array of strings.
func (o object) strings(name string) ([]string, error) {
	items, err := o.list(name)
	if err != nil || items == nil {
		return nil, err
	}
	out := make([]string, len(items))
	for i, it := range items {
		if it.Type != gjson.String {
			return nil, adapters.BadField(o.at(name)+"["+strconv.Itoa(i)+"]", "must be a string")
		}
		out[i] = it.Str
	}
	return out, nil
}

// boolean returns field name as a bool (false when absent).
func (o object) boolean(name string) (bool, error) {
	r := o.get(name)
	if !r.Exists() {
		return false, nil
	}
	if r.Type != gjson.True && r.Type != gjson.False {
		return false, adapters.BadField(o.at(name), "must be true or false")
	}
	return r.Bool(), nil
}

// number returns field name as a finite number, nil when absent.
func (o object) number(name string) (*float64, error) {
	r := o.get(name)
	if !r.Exists() {
		return nil, nil
	}
	if r.Type != gjson.Number || math.IsInf(r.Num, 0) || math.IsNaN(r.Num) {
		return nil, adapters.BadField(o.at(name), "must be a number")
	}
	f := r.Num
	return &f, nil
}

// integer returns field name as an integer, nil when absent. Proto3 JSON
// writes 64-bit integers as strings, so a string of digits is accepted.
func (o object) integer(name string) (*int, error) {
	r := o.get(name)
	if !r.Exists() {
		return nil, nil
	}
	n, ok := integerOf(r)
	if !ok {
		return nil, adapters.BadField(o.at(name), "must be an integer")
	}
	return &n, nil
}

func integerOf(r gjson.Result) (int, bool) {
	switch r.Type {
	case gjson.Number:
		if r.Num != math.Trunc(r.Num) || math.Abs(r.Num) > math.MaxInt32 {
			return 0, false
		}
		return int(r.Num), true
	case gjson.String:
		n, err := strconv.ParseInt(r.Str, 10, 32)
		return int(n), err == nil
	}
	return 0, false
}

// enum returns field name of an enum type as its name: proto3 JSON allows
// the value's name or its number (generative-ai-go sends numbers), so
// names lists the values by number.
func (o object) enum(name string, names []string) (string, error) {
	r := o.get(name)
	if !r.Exists() {
		return "", nil
	}
	switch r.Type {
	case gjson.String:
		for _, n := range names {
			if n == r.Str {
				return n, nil
			}
		}
	case gjson.Number:
		if n, ok := integerOf(r); ok && n >= 0 && n < len(names) {
			return names[n], nil
		}
	}
	return "", adapters.BadField(o.at(name), "must be one of %s, got %s", strings.Join(names, ", "), clip(r.Raw))
}

// compact returns raw JSON without insignificant whitespace.
func compact(raw string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(raw)) != nil {
		return raw
	}
	return b.String()
}

// clip shortens a client value quoted in an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
