package agentsv2

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// detail is one item of a 422 answer, in the shape FastAPI (pydantic v2)
// gives: where the bad input is, what is wrong, and a machine-readable
// type.
type detail struct {
	Loc  []any  `json:"loc"`
	Msg  string `json:"msg"`
	Type string `json:"type"`
}

// invalid is a validation failure listing every invalid field, answered
// as 422 {"detail": [...]}. Handlers return it like any error; the route
// wrapper writes it.
type invalid struct {
	details []detail
}

func (e *invalid) Error() string {
	if len(e.details) == 0 {
		return "invalid request"
	}
	d := e.details[0]
	return locString(d.Loc) + ": " + d.Msg
}

func (e *invalid) add(loc []any, typ, msg string) {
	e.details = append(e.details, detail{Loc: loc, Msg: msg, Type: typ})
}

// err is e when it holds details, else nil.
func (e *invalid) err() error {
	if len(e.details) == 0 {
		return nil
	}
	return e
}

func locString(loc []any) string {
	var b strings.Builder
	for i, l := range loc {
		if i > 0 {
			b.WriteByte('.')
		}
		switch v := l.(type) {
		case string:
			b.WriteString(v)
		case int:
			b.WriteString(strconv.Itoa(v))
		}
	}
	return b.String()
}

// Pydantic's messages for the failures this dialect reports.
const (
	msgMissing   = "Field required"
	msgString    = "Input should be a valid string"
	msgBool      = "Input should be a valid boolean"
	msgInt       = "Input should be a valid integer"
	msgIntFrac   = "Input should be a valid integer, got a number with a fractional part"
	msgNumber    = "Input should be a valid number"
	msgList      = "Input should be a valid list"
	msgDict      = "Input should be a valid dictionary"
	msgBodyShape = "Input should be a valid dictionary or object to extract fields from"
)

// at is loc extended by more.
func at(loc []any, more ...any) []any {
	out := make([]any, 0, len(loc)+len(more))
	return append(append(out, loc...), more...)
}

// object is a JSON object being validated field by field, so that every
// invalid field is reported, not only the first.
type object struct {
	fields map[string]json.RawMessage
	loc    []any
	errs   *invalid
}

// decodeBody parses a request body that must be a JSON object.
func decodeBody(body []byte, errs *invalid) (*object, bool) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		errs.add([]any{"body"}, "missing", msgMissing)
		return nil, false
	}
	if !json.Valid(trimmed) {
		var v any
		err := json.Unmarshal(trimmed, &v)
		var se *json.SyntaxError
		pos := len(trimmed)
		if errors.As(err, &se) {
			pos = int(se.Offset)
		}
		errs.add([]any{"body", pos}, "json_invalid", "JSON decode error")
		return nil, false
	}
	if trimmed[0] != '{' {
		errs.add([]any{"body"}, "model_attributes_type", msgBodyShape)
		return nil, false
	}
	o := &object{loc: []any{"body"}, errs: errs}
	if err := json.Unmarshal(trimmed, &o.fields); err != nil {
		errs.add([]any{"body"}, "json_invalid", "JSON decode error")
		return nil, false
	}
	return o, true
}

// kind is the JSON type of raw by its first byte: '"', '{', '[', 't'/'f'
// (boolean), 'n' (null) or '0' (number).
func kind(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 'n'
	}
	switch c := raw[0]; c {
	case '"', '{', '[', 'n':
		return c
	case 't', 'f':
		return 't'
	}
	return '0'
}

// value returns field name's raw value when present and not null.
func (o *object) value(name string) (json.RawMessage, bool) {
	raw, ok := o.fields[name]
	if !ok || kind(raw) == 'n' {
		return nil, false
	}
	return raw, true
}

// str reads a string field. A required field that is absent is
// "missing"; null where a string is required is a type error, as in
// pydantic; null for an optional field is unset.
func (o *object) str(name string, required bool) (string, bool) {
	raw, present := o.fields[name]
	if !present {
		if required {
			o.errs.add(at(o.loc, name), "missing", msgMissing)
		}
		return "", false
	}
	if kind(raw) == 'n' && !required {
		return "", false
	}
	var s string
	if kind(raw) != '"' || json.Unmarshal(raw, &s) != nil {
		o.errs.add(at(o.loc, name), "string_type", msgString)
		return "", false
	}
	return s, true
}

// length checks a string's length in characters, as pydantic counts it.
func (o *object) length(name, s string, minLen, maxLen int) bool {
	n := utf8.RuneCountInString(s)
	switch {
	case n < minLen:
		o.errs.add(at(o.loc, name), "string_too_short", "String should have at least "+plural(minLen, "character"))
		return false
	case maxLen > 0 && n > maxLen:
		o.errs.add(at(o.loc, name), "string_too_long", "String should have at most "+plural(maxLen, "character"))
		return false
	}
	return true
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// boolean reads an optional boolean field, def when absent or null.
func (o *object) boolean(name string, def bool) bool {
	raw, ok := o.value(name)
	if !ok {
		return def
	}
	if kind(raw) != 't' {
		o.errs.add(at(o.loc, name), "bool_type", msgBool)
		return def
	}
	return bytes.HasPrefix(bytes.TrimSpace(raw), []byte("true"))
}

// integer reads an optional integer field within [lo, hi]; a number with
// no fractional part (5.0) is accepted, as pydantic does.
func (o *object) integer(name string, lo, hi int) (int, bool) {
	raw, ok := o.value(name)
	if !ok {
		return 0, false
	}
	if kind(raw) != '0' {
		o.errs.add(at(o.loc, name), "int_type", msgInt)
		return 0, false
	}
	f, err := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64)
	if err != nil || math.IsInf(f, 0) {
		o.errs.add(at(o.loc, name), "int_type", msgInt)
		return 0, false
	}
	if f != math.Trunc(f) {
		o.errs.add(at(o.loc, name), "int_from_float", msgIntFrac)
		return 0, false
	}
	if f < float64(lo) {
		o.errs.add(at(o.loc, name), "greater_than_equal", "Input should be greater than or equal to "+strconv.Itoa(lo))
		return 0, false
	}
	if f > float64(hi) {
		o.errs.add(at(o.loc, name), "less_than_equal", "Input should be less than or equal to "+strconv.Itoa(hi))
		return 0, false
	}
	return int(f), true
}

// number reads an optional number field within [lo, hi].
func (o *object) number(name string, lo, hi float64) (float64, bool) {
	raw, ok := o.value(name)
	if !ok {
		return 0, false
	}
	if kind(raw) != '0' {
		o.errs.add(at(o.loc, name), "float_type", msgNumber)
		return 0, false
	}
	f, err := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		o.errs.add(at(o.loc, name), "float_type", msgNumber)
		return 0, false
	}
	if f < lo {
		o.errs.add(at(o.loc, name), "greater_than_equal", "Input should be greater than or equal to "+strconv.FormatFloat(lo, 'f', -1, 64))
		return 0, false
	}
	if f > hi {
		o.errs.add(at(o.loc, name), "less_than_equal", "Input should be less than or equal to "+strconv.FormatFloat(hi, 'f', -1, 64))
		return 0, false
	}
	return f, true
}

// list reads an optional (or required) array field's items.
func (o *object) list(name string, required bool) ([]json.RawMessage, bool) {
	raw, present := o.fields[name]
	if !present {
		if required {
			o.errs.add(at(o.loc, name), "missing", msgMissing)
		}
		return nil, false
	}
	if kind(raw) == 'n' && !required {
		return nil, false
	}
	var items []json.RawMessage
	if kind(raw) != '[' || json.Unmarshal(raw, &items) != nil {
		o.errs.add(at(o.loc, name), "list_type", msgList)
		return nil, false
	}
	return items, true
}

// strings reads an optional array of strings; each bad item is named by
// its index.
func (o *object) strings(name string, required bool) ([]string, bool) {
	items, ok := o.list(name, required)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	good := true
	for i, raw := range items {
		var s string
		if kind(raw) != '"' || json.Unmarshal(raw, &s) != nil {
			o.errs.add(at(o.loc, name, i), "string_type", msgString)
			good = false
			continue
		}
		out = append(out, s)
	}
	return out, good
}

// child reads an optional object field as an object to validate.
func (o *object) child(name string) (*object, bool) {
	raw, ok := o.value(name)
	if !ok {
		return nil, false
	}
	c := &object{loc: at(o.loc, name), errs: o.errs}
	if kind(raw) != '{' || json.Unmarshal(raw, &c.fields) != nil {
		o.errs.add(at(o.loc, name), "dict_type", msgDict)
		return nil, false
	}
	return c, true
}

// printable reports whether s holds no control characters.
func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}
