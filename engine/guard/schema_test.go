package guard

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSchemaValidate(t *testing.T) {
	const person = `{
		"type": "object",
		"properties": {
			"name": {"type": "string", "minLength": 1, "maxLength": 10},
			"age": {"type": "integer", "minimum": 0, "exclusiveMaximum": 150},
			"email": {"type": "string", "pattern": "^[^@]+@[^@]+$"},
			"tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2, "uniqueItems": true},
			"role": {"enum": ["admin", "user"]},
			"kind": {"const": "person"},
			"score": {"type": "number", "multipleOf": 0.5},
			"nick": {"type": ["string", "null"]}
		},
		"required": ["name", "age"],
		"additionalProperties": false
	}`
	for _, tc := range []struct {
		schema, doc string
		// wantErr is a substring of the error ("" for valid).
		wantErr string
	}{
		{person, `{"name":"Ann","age":30}`, ""},
		{person, `{"name":"Ann","age":30,"tags":["a","b"],"role":"admin","kind":"person","score":2.5,"nick":null,"email":"a@b"}`, ""},
		{person, `{"name":"Ann"}`, `$: missing required property "age"`},
		{person, `{"name":"Ann","age":"30"}`, "$.age: expected integer, got string"},
		{person, `{"name":"Ann","age":30.5}`, "$.age: expected integer, got number"},
		{person, `{"name":"Ann","age":30.0}`, ""},
		{person, `{"name":"Ann","age":-1}`, "$.age: must be at least 0"},
		{person, `{"name":"Ann","age":150}`, "$.age: must be less than 150"},
		{person, `{"name":"","age":1}`, "$.name: must be at least 1 characters long"},
		{person, `{"name":"Annabellevon","age":1}`, "$.name: must be at most 10 characters long"},
		{person, `{"name":"Ann","age":1,"email":"nope"}`, "$.email: must match the pattern"},
		{person, `{"name":"Ann","age":1,"tags":["a",1]}`, "$.tags[1]: expected string, got integer"},
		{person, `{"name":"Ann","age":1,"tags":["a","b","c"]}`, "$.tags: must have at most 2 items"},
		{person, `{"name":"Ann","age":1,"tags":["a","a"]}`, "items 0 and 1 are equal"},
		{person, `{"name":"Ann","age":1,"role":"root"}`, `$.role: must be one of ["admin","user"]`},
		{person, `{"name":"Ann","age":1,"kind":"cat"}`, `$.kind: must be "person"`},
		{person, `{"name":"Ann","age":1,"score":0.3}`, "$.score: must be a multiple of 0.5"},
		{person, `{"name":"Ann","age":1,"extra":true}`, `$: property "extra" is not allowed`},
		{person, `[]`, "$: expected object, got array"},
		{person, `{"name":"Ann","age":1} trailing`, "text after the value"},
		{person, `not json`, "$: not valid JSON"},
		{`{"type":"array","prefixItems":[{"type":"integer"},{"type":"string"}],"items":false,"minItems":1}`, `[1,"a"]`, ""},
		{`{"type":"array","prefixItems":[{"type":"integer"},{"type":"string"}],"items":false}`, `[1,"a",2]`, "$[2]: no value is allowed here"},
		{`{"type":"array","minItems":1}`, `[]`, "must have at least 1 items"},
		{`{"anyOf":[{"type":"string"},{"type":"integer"}]}`, `true`, "must match at least one schema of anyOf"},
		{`{"anyOf":[{"type":"string"},{"type":"integer"}]}`, `3`, ""},
		{`{"oneOf":[{"type":"number"},{"type":"integer"}]}`, `3`, "must match exactly one schema of oneOf, matches 2"},
		{`{"oneOf":[{"type":"number"},{"type":"integer"}]}`, `3.5`, ""},
		{`{"allOf":[{"minimum":1},{"maximum":2}]}`, `3`, "must be at most 2"},
		{`{"not":{"type":"null"}}`, `null`, "must not match"},
		{`{"$defs":{"pos":{"type":"integer","exclusiveMinimum":0}},"type":"object","properties":{"n":{"$ref":"#/$defs/pos"}}}`, `{"n":0}`, "$.n: must be greater than 0"},
		{`{"definitions":{"node":{"type":"object","properties":{"next":{"$ref":"#/definitions/node"},"v":{"type":"integer"}}}},"$ref":"#/definitions/node"}`,
			`{"v":1,"next":{"v":2,"next":{"v":"x"}}}`, "$.next.next.v: expected integer, got string"},
		{`{"type":"object","patternProperties":{"^x-":{"type":"string"}},"additionalProperties":false}`, `{"x-a":"1","y":2}`, `property "y" is not allowed`},
		{`{"type":"object","minProperties":1,"maxProperties":1}`, `{}`, "must have at least 1 properties"},
		{`{"type":"object","properties":{"a b":{"type":"string"}}}`, `{"a b":1}`, `$["a b"]: expected string`},
		{`{"minimum":5,"exclusiveMinimum":true}`, `5`, "must be greater than 5"},
		{`true`, `{"anything":1}`, ""},
		{`false`, `1`, "no value is allowed here"},
		{`{"format":"email","title":"ignored"}`, `"x"`, ""},
		{`{"type":"integer"}`, `12345678901234567890123`, ""},
	} {
		s, err := CompileSchema(json.RawMessage(tc.schema))
		if err != nil {
			t.Fatalf("CompileSchema(%s): %v", tc.schema, err)
		}
		err = s.Validate(tc.doc)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("Validate(%s) = %v, want valid", tc.doc, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("Validate(%s) = %v, want an error containing %q", tc.doc, err, tc.wantErr)
		}
	}
}

func TestExtractJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":1}`, `{"a":1}`},
		{"  {\"a\":1}\n", `{"a":1}`},
		{"```json\n{\"a\":1}\n```", `{"a":1}`},
		{"```\n[1,2]\n```", `[1,2]`},
		{"```python\nprint(1)\n```", "```python\nprint(1)\n```"},
		{"Here you go: {\"a\":1}", "Here you go: {\"a\":1}"},
	} {
		if got := ExtractJSON(tc.in); got != tc.want {
			t.Errorf("ExtractJSON(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
