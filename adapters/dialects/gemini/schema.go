package gemini

import (
	"strconv"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/jsonx"
	"github.com/tidwall/gjson"
)

// schemaTypes are Gemini's Schema types by enum number.
var schemaTypes = []string{"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}

// schemaFields are the fields of Gemini's Schema (an OpenAPI 3.0 subset).
var schemaFields = fieldSet{
	"type": "", "format": "", "title": "", "description": "", "nullable": "", "enum": "",
	"maxItems": "", "minItems": "", "properties": "", "required": "", "minProperties": "",
	"maxProperties": "", "minLength": "", "maxLength": "", "pattern": "", "example": "",
	"anyOf": "", "propertyOrdering": "", "default": "", "items": "", "minimum": "", "maximum": "",
}

// maxSchemaDepth bounds the nesting of a schema a client may send.
const maxSchemaDepth = 32

// jsonSchema translates a Gemini Schema (function parameters,
// responseSchema) into the JSON Schema the canonical form carries: types
// in lower case, nullable as a "null" type, example as examples, and the
// properties in propertyOrdering's order, then the client's.
func jsonSchema(o object) ([]byte, error) {
	return appendSchema(nil, o, 0)
}

func appendSchema(b []byte, o object, depth int) ([]byte, error) {
	if depth > maxSchemaDepth {
		return nil, adapters.BadField(o.path, "nests deeper than %d levels", maxSchemaDepth)
	}
	if err := o.check(schemaFields); err != nil {
		return nil, err
	}
	b = append(b, '{')
	first := true
	key := func(k string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, `":`...)
	}
	typ, err := o.enum("type", schemaTypes)
	if err != nil {
		return nil, err
	}
	nullable, err := o.boolean("nullable")
	if err != nil {
		return nil, err
	}
	if typ != "" && typ != "TYPE_UNSPECIFIED" {
		key("type")
		t := strconv.Quote(strings.ToLower(typ))
		if nullable && typ != "NULL" {
			b = append(b, '[')
			b = append(b, t...)
			b = append(b, `,"null"]`...)
		} else {
			b = append(b, t...)
		}
	}
	for _, f := range [...]string{"format", "title", "description", "pattern"} {
		s, err := o.str(f)
		if err != nil {
			return nil, err
		}
		// "enum" is Gemini's format of an enum string, no JSON Schema format.
		if s == "" || (f == "format" && s == "enum") {
			continue
		}
		key(f)
		b = jsonx.AppendString(b, s)
	}
	for _, f := range [...]string{"enum", "required"} {
		list, err := o.strings(f)
		if err != nil {
			return nil, err
		}
		if list == nil {
			continue
		}
		key(f)
		b = append(b, '[')
		for i, s := range list {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonx.AppendString(b, s)
		}
		b = append(b, ']')
	}
	for _, f := range [...]string{"minItems", "maxItems", "minProperties", "maxProperties", "minLength", "maxLength"} {
		n, err := o.integer(f)
		if err != nil {
			return nil, err
		}
		if n == nil {
			continue
		}
		if *n < 0 {
			return nil, adapters.BadField(o.at(f), "must not be negative")
		}
		key(f)
		b = strconv.AppendInt(b, int64(*n), 10)
	}
	for _, f := range [...]string{"minimum", "maximum"} {
		n, err := o.number(f)
		if err != nil {
			return nil, err
		}
		if n == nil {
			continue
		}
		key(f)
		b = strconv.AppendFloat(b, *n, 'g', -1, 64)
	}
	if v := o.get("default"); v.Exists() {
		key("default")
		b = append(b, compact(v.Raw)...)
	}
	if v := o.get("example"); v.Exists() {
		key("examples")
		b = append(b, '[')
		b = append(b, compact(v.Raw)...)
		b = append(b, ']')
	}
	if items, ok, err := o.obj("items"); err != nil {
		return nil, err
	} else if ok {
		key("items")
		if b, err = appendSchema(b, items, depth+1); err != nil {
			return nil, err
		}
	}
	anyOf, err := o.objects("anyOf")
	if err != nil {
		return nil, err
	}
	if anyOf != nil {
		key("anyOf")
		b = append(b, '[')
		for i, s := range anyOf {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendSchema(b, s, depth+1); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	props, ok, err := o.obj("properties")
	if err != nil {
		return nil, err
	}
	if ok {
		order, err := o.strings("propertyOrdering")
		if err != nil {
			return nil, err
		}
		key("properties")
		if b, err = appendProperties(b, props, order, depth); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendProperties writes the properties of an object schema, those that
// propertyOrdering names first, in its order.
func appendProperties(b []byte, props object, order []string, depth int) ([]byte, error) {
	values := map[string]gjson.Result{}
	var names []string
	var bad error
	props.v.ForEach(func(k, v gjson.Result) bool {
		if !v.IsObject() {
			bad = adapters.BadField(props.path+"."+k.Str, "must be a schema object")
			return false
		}
		if _, dup := values[k.Str]; !dup {
			values[k.Str] = v
			names = append(names, k.Str)
		}
		return true
	})
	if bad != nil {
		return nil, bad
	}
	sorted := make([]string, 0, len(names))
	placed := map[string]bool{}
	for _, n := range order {
		if _, ok := values[n]; ok && !placed[n] {
			sorted = append(sorted, n)
			placed[n] = true
		}
	}
	for _, n := range names {
		if !placed[n] {
			sorted = append(sorted, n)
		}
	}
	b = append(b, '{')
	for i, n := range sorted {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonx.AppendString(b, n)
		b = append(b, ':')
		var err error
		if b, err = appendSchema(b, object{path: props.path + "." + n, v: values[n]}, depth+1); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}
