package guard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Schema is a compiled JSON Schema, of the subset answers are checked
// against: type (one or a list), enum, const, properties, required,
// additionalProperties, patternProperties, minProperties, maxProperties,
// items, prefixItems, minItems, maxItems, uniqueItems, minLength,
// maxLength, pattern, minimum, maximum, exclusiveMinimum,
// exclusiveMaximum (numbers, or draft-4 booleans), multipleOf, allOf,
// anyOf, oneOf, not, and $ref to a local definition (#, #/$defs/…,
// #/definitions/…). Other keywords (format, title, description, …) are
// ignored, as JSON Schema prescribes for unknown keywords.
type Schema struct {
	root    *node
	compact string
}

type node struct {
	always *bool // boolean schema: true accepts, false rejects everything

	types []string
	enum  []any
	konst *any
	// resolve is the schema a $ref points to.
	resolve *node

	properties  map[string]*node
	propOrder   []string
	required    []string
	additional  *node
	patternProp []patternNode
	minProps    *int
	maxProps    *int

	items       *node
	prefixItems []*node
	minItems    *int
	maxItems    *int
	unique      bool

	minLength *int
	maxLength *int
	pattern   *regexp.Regexp

	minimum, maximum    *float64
	exclMin, exclMax    *float64
	multipleOf          *float64
	allOf, anyOf, oneOf []*node
	not                 *node
	// exclMinFlag and exclMaxFlag are draft-4 boolean exclusive bounds.
	exclMinFlag, exclMaxFlag bool
}

type patternNode struct {
	re *regexp.Regexp
	n  *node
}

// CompileSchema parses a JSON Schema.
func CompileSchema(raw json.RawMessage) (*Schema, error) {
	var doc any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	c := &schemaCompiler{doc: doc, refs: map[string]*node{}}
	root, err := c.compile(doc, "#")
	if err != nil {
		return nil, err
	}
	// Resolve references until none is left; a definition may hold
	// references first seen when it is compiled.
	resolved := map[string]bool{}
	for {
		var todo []string
		for ptr := range c.refs {
			if !resolved[ptr] {
				todo = append(todo, ptr)
			}
		}
		if len(todo) == 0 {
			break
		}
		slices.Sort(todo)
		for _, ptr := range todo {
			target, err := c.lookup(ptr)
			if err != nil {
				return nil, err
			}
			*c.refs[ptr] = *target
			resolved[ptr] = true
		}
	}
	return &Schema{root: root, compact: buf.String()}, nil
}

type schemaCompiler struct {
	doc  any
	refs map[string]*node // unresolved $ref targets, filled after compiling
	done map[string]*node
}

func (c *schemaCompiler) compile(v any, at string) (*node, error) {
	switch s := v.(type) {
	case bool:
		return &node{always: &s}, nil
	case map[string]any:
		return c.object(s, at)
	default:
		return nil, fmt.Errorf("%s: a schema is an object or a boolean", at)
	}
}

func (c *schemaCompiler) object(s map[string]any, at string) (*node, error) {
	n := &node{}
	var err error
	sub := func(key string) (*node, error) {
		v, ok := s[key]
		if !ok {
			return nil, nil
		}
		return c.compile(v, at+"/"+key)
	}
	list := func(key string) ([]*node, error) {
		v, ok := s[key]
		if !ok {
			return nil, nil
		}
		arr, ok := v.([]any)
		if !ok || len(arr) == 0 {
			return nil, fmt.Errorf("%s/%s: must be a non-empty array of schemas", at, key)
		}
		out := make([]*node, len(arr))
		for i, e := range arr {
			if out[i], err = c.compile(e, fmt.Sprintf("%s/%s/%d", at, key, i)); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	count := func(key string) (*int, error) {
		v, ok := s[key]
		if !ok {
			return nil, nil
		}
		f, ok := number(v)
		if !ok || f < 0 || f != math.Trunc(f) {
			return nil, fmt.Errorf("%s/%s: must be a non-negative integer", at, key)
		}
		i := int(f)
		return &i, nil
	}
	num := func(key string) (*float64, error) {
		v, ok := s[key]
		if !ok {
			return nil, nil
		}
		if _, isBool := v.(bool); isBool {
			return nil, nil // draft-4 exclusive flags, handled below
		}
		f, ok := number(v)
		if !ok {
			return nil, fmt.Errorf("%s/%s: must be a number", at, key)
		}
		return &f, nil
	}

	if ref, ok := s["$ref"].(string); ok {
		if !strings.HasPrefix(ref, "#") {
			return nil, fmt.Errorf("%s/$ref: only local references (#/…) are supported, not %q", at, ref)
		}
		target := c.refs[ref]
		if target == nil {
			target = &node{}
			c.refs[ref] = target
		}
		n.resolve = target
	}
	switch t := s["type"].(type) {
	case nil:
	case string:
		n.types = []string{t}
	case []any:
		for _, e := range t {
			name, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s/type: must be a type name or a list of them", at)
			}
			n.types = append(n.types, name)
		}
	default:
		return nil, fmt.Errorf("%s/type: must be a type name or a list of them", at)
	}
	for _, t := range n.types {
		switch t {
		case "string", "number", "integer", "boolean", "object", "array", "null":
		default:
			return nil, fmt.Errorf("%s/type: unknown type %q", at, t)
		}
	}
	if e, ok := s["enum"]; ok {
		arr, ok := e.([]any)
		if !ok {
			return nil, fmt.Errorf("%s/enum: must be an array", at)
		}
		n.enum = arr
	}
	if k, ok := s["const"]; ok {
		n.konst = &k
	}
	if props, ok := s["properties"]; ok {
		m, ok := props.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s/properties: must be an object", at)
		}
		n.properties = map[string]*node{}
		for name, ps := range m {
			if n.properties[name], err = c.compile(ps, at+"/properties/"+name); err != nil {
				return nil, err
			}
			n.propOrder = append(n.propOrder, name)
		}
		slices.Sort(n.propOrder)
	}
	if req, ok := s["required"]; ok {
		arr, ok := req.([]any)
		if !ok {
			return nil, fmt.Errorf("%s/required: must be an array of names", at)
		}
		for _, e := range arr {
			name, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s/required: must be an array of names", at)
			}
			n.required = append(n.required, name)
		}
	}
	if n.additional, err = sub("additionalProperties"); err != nil {
		return nil, err
	}
	if pp, ok := s["patternProperties"].(map[string]any); ok {
		keys := make([]string, 0, len(pp))
		for k := range pp {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			re, err := regexp.Compile(k)
			if err != nil {
				return nil, fmt.Errorf("%s/patternProperties: %v", at, err)
			}
			pn, err := c.compile(pp[k], at+"/patternProperties/"+k)
			if err != nil {
				return nil, err
			}
			n.patternProp = append(n.patternProp, patternNode{re, pn})
		}
	}
	if n.minProps, err = count("minProperties"); err != nil {
		return nil, err
	}
	if n.maxProps, err = count("maxProperties"); err != nil {
		return nil, err
	}
	if items, ok := s["items"]; ok {
		if arr, isArr := items.([]any); isArr { // draft-4 tuple form
			for i, e := range arr {
				pn, err := c.compile(e, fmt.Sprintf("%s/items/%d", at, i))
				if err != nil {
					return nil, err
				}
				n.prefixItems = append(n.prefixItems, pn)
			}
		} else if n.items, err = c.compile(items, at+"/items"); err != nil {
			return nil, err
		}
	}
	if _, ok := s["prefixItems"]; ok {
		if n.prefixItems, err = list("prefixItems"); err != nil {
			return nil, err
		}
	}
	if n.minItems, err = count("minItems"); err != nil {
		return nil, err
	}
	if n.maxItems, err = count("maxItems"); err != nil {
		return nil, err
	}
	n.unique, _ = s["uniqueItems"].(bool)
	if n.minLength, err = count("minLength"); err != nil {
		return nil, err
	}
	if n.maxLength, err = count("maxLength"); err != nil {
		return nil, err
	}
	if p, ok := s["pattern"]; ok {
		ps, ok := p.(string)
		if !ok {
			return nil, fmt.Errorf("%s/pattern: must be a string", at)
		}
		if n.pattern, err = regexp.Compile(ps); err != nil {
			return nil, fmt.Errorf("%s/pattern: %v", at, err)
		}
	}
	for key, dst := range map[string]**float64{"minimum": &n.minimum, "maximum": &n.maximum,
		"exclusiveMinimum": &n.exclMin, "exclusiveMaximum": &n.exclMax, "multipleOf": &n.multipleOf} {
		if *dst, err = num(key); err != nil {
			return nil, err
		}
	}
	if n.multipleOf != nil && *n.multipleOf <= 0 {
		return nil, fmt.Errorf("%s/multipleOf: must be greater than 0", at)
	}
	n.exclMinFlag, _ = s["exclusiveMinimum"].(bool)
	n.exclMaxFlag, _ = s["exclusiveMaximum"].(bool)
	if n.allOf, err = list("allOf"); err != nil {
		return nil, err
	}
	if n.anyOf, err = list("anyOf"); err != nil {
		return nil, err
	}
	if n.oneOf, err = list("oneOf"); err != nil {
		return nil, err
	}
	if n.not, err = sub("not"); err != nil {
		return nil, err
	}
	return n, nil
}

// lookup compiles the schema a local reference points to.
func (c *schemaCompiler) lookup(ref string) (*node, error) {
	if c.done == nil {
		c.done = map[string]*node{}
	}
	if n, ok := c.done[ref]; ok {
		return n, nil
	}
	v := c.doc
	path := strings.TrimPrefix(ref, "#")
	if path != "" {
		for _, tok := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			switch cur := v.(type) {
			case map[string]any:
				next, ok := cur[tok]
				if !ok {
					return nil, fmt.Errorf("$ref %q: no such definition", ref)
				}
				v = next
			case []any:
				i, err := strconv.Atoi(tok)
				if err != nil || i < 0 || i >= len(cur) {
					return nil, fmt.Errorf("$ref %q: no such definition", ref)
				}
				v = cur[i]
			default:
				return nil, fmt.Errorf("$ref %q: no such definition", ref)
			}
		}
	}
	n, err := c.compile(v, ref)
	if err != nil {
		return nil, err
	}
	c.done[ref] = n
	return n, nil
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	}
	return 0, false
}

// ValidationError says where and how a value fails its schema.
type ValidationError struct {
	// Path is the JSON path of the failing value ($, $.items[2].name).
	Path    string
	Message string
}

func (e *ValidationError) Error() string { return e.Path + ": " + e.Message }

// maxDepth bounds schema recursion ($ref cycles on deep values).
const maxDepth = 64

// Validate checks the JSON text doc against s.
func (s *Schema) Validate(doc string) error {
	d := json.NewDecoder(strings.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return &ValidationError{Path: "$", Message: "not valid JSON: " + err.Error()}
	}
	if strings.TrimSpace(doc[d.InputOffset():]) != "" {
		return &ValidationError{Path: "$", Message: "not valid JSON: text after the value"}
	}
	return s.root.validate(v, "$", 0)
}

func (n *node) validate(v any, path string, depth int) error {
	if depth > maxDepth {
		return &ValidationError{Path: path, Message: "schema nests too deep"}
	}
	fail := func(format string, args ...any) error {
		return &ValidationError{Path: path, Message: fmt.Sprintf(format, args...)}
	}
	if n.always != nil {
		if *n.always {
			return nil
		}
		return fail("no value is allowed here")
	}
	if n.resolve != nil {
		if err := n.resolve.validate(v, path, depth+1); err != nil {
			return err
		}
	}
	if len(n.types) > 0 && !slices.ContainsFunc(n.types, func(t string) bool { return hasType(v, t) }) {
		return fail("expected %s, got %s", strings.Join(n.types, " or "), typeName(v))
	}
	if n.enum != nil && !slices.ContainsFunc(n.enum, func(e any) bool { return jsonEqual(e, v) }) {
		return fail("must be one of %s", compactJSON(n.enum))
	}
	if n.konst != nil && !jsonEqual(*n.konst, v) {
		return fail("must be %s", compactJSON(*n.konst))
	}
	switch x := v.(type) {
	case map[string]any:
		if err := n.validateObject(x, path, depth); err != nil {
			return err
		}
	case []any:
		if err := n.validateArray(x, path, depth); err != nil {
			return err
		}
	case string:
		l := utf8.RuneCountInString(x)
		if n.minLength != nil && l < *n.minLength {
			return fail("must be at least %d characters long", *n.minLength)
		}
		if n.maxLength != nil && l > *n.maxLength {
			return fail("must be at most %d characters long", *n.maxLength)
		}
		if n.pattern != nil && !n.pattern.MatchString(x) {
			return fail("must match the pattern %s", n.pattern)
		}
	case json.Number:
		if err := n.validateNumber(x, fail); err != nil {
			return err
		}
	}
	for _, s := range n.allOf {
		if err := s.validate(v, path, depth+1); err != nil {
			return err
		}
	}
	if len(n.anyOf) > 0 {
		var first error
		ok := false
		for _, s := range n.anyOf {
			err := s.validate(v, path, depth+1)
			if err == nil {
				ok = true
				break
			}
			if first == nil {
				first = err
			}
		}
		if !ok {
			return fail("must match at least one schema of anyOf (the first fails with %v)", first)
		}
	}
	if len(n.oneOf) > 0 {
		matched := 0
		for _, s := range n.oneOf {
			if s.validate(v, path, depth+1) == nil {
				matched++
			}
		}
		if matched != 1 {
			return fail("must match exactly one schema of oneOf, matches %d", matched)
		}
	}
	if n.not != nil && n.not.validate(v, path, depth+1) == nil {
		return fail("must not match the schema of not")
	}
	return nil
}

func (n *node) validateObject(x map[string]any, path string, depth int) error {
	for _, r := range n.required {
		if _, ok := x[r]; !ok {
			return &ValidationError{Path: path, Message: fmt.Sprintf("missing required property %q", r)}
		}
	}
	if n.minProps != nil && len(x) < *n.minProps {
		return &ValidationError{Path: path, Message: fmt.Sprintf("must have at least %d properties", *n.minProps)}
	}
	if n.maxProps != nil && len(x) > *n.maxProps {
		return &ValidationError{Path: path, Message: fmt.Sprintf("must have at most %d properties", *n.maxProps)}
	}
	keys := make([]string, 0, len(x))
	for k := range x {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := path + "." + k
		if !isIdent(k) {
			p = path + "[" + strconv.Quote(k) + "]"
		}
		matched := false
		if ps, ok := n.properties[k]; ok {
			matched = true
			if err := ps.validate(x[k], p, depth+1); err != nil {
				return err
			}
		}
		for _, pp := range n.patternProp {
			if pp.re.MatchString(k) {
				matched = true
				if err := pp.n.validate(x[k], p, depth+1); err != nil {
					return err
				}
			}
		}
		if !matched && n.additional != nil {
			if n.additional.always != nil && !*n.additional.always {
				return &ValidationError{Path: path, Message: fmt.Sprintf("property %q is not allowed", k)}
			}
			if err := n.additional.validate(x[k], p, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func (n *node) validateArray(x []any, path string, depth int) error {
	if n.minItems != nil && len(x) < *n.minItems {
		return &ValidationError{Path: path, Message: fmt.Sprintf("must have at least %d items", *n.minItems)}
	}
	if n.maxItems != nil && len(x) > *n.maxItems {
		return &ValidationError{Path: path, Message: fmt.Sprintf("must have at most %d items", *n.maxItems)}
	}
	for i, e := range x {
		p := path + "[" + strconv.Itoa(i) + "]"
		var s *node
		if i < len(n.prefixItems) {
			s = n.prefixItems[i]
		} else {
			s = n.items
		}
		if s != nil {
			if err := s.validate(e, p, depth+1); err != nil {
				return err
			}
		}
	}
	if n.unique {
		for i := range x {
			for j := i + 1; j < len(x); j++ {
				if jsonEqual(x[i], x[j]) {
					return &ValidationError{Path: path, Message: fmt.Sprintf("items %d and %d are equal; items must be unique", i, j)}
				}
			}
		}
	}
	return nil
}

func (n *node) validateNumber(x json.Number, fail func(string, ...any) error) error {
	f, err := x.Float64()
	if err != nil {
		return fail("is not a representable number")
	}
	if n.minimum != nil {
		if n.exclMinFlag && f <= *n.minimum {
			return fail("must be greater than %v", *n.minimum)
		}
		if f < *n.minimum {
			return fail("must be at least %v", *n.minimum)
		}
	}
	if n.maximum != nil {
		if n.exclMaxFlag && f >= *n.maximum {
			return fail("must be less than %v", *n.maximum)
		}
		if f > *n.maximum {
			return fail("must be at most %v", *n.maximum)
		}
	}
	if n.exclMin != nil && f <= *n.exclMin {
		return fail("must be greater than %v", *n.exclMin)
	}
	if n.exclMax != nil && f >= *n.exclMax {
		return fail("must be less than %v", *n.exclMax)
	}
	if n.multipleOf != nil {
		q := f / *n.multipleOf
		if math.Abs(q-math.Round(q)) > 1e-9 {
			return fail("must be a multiple of %v", *n.multipleOf)
		}
	}
	return nil
}

func isIdent(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		if !(r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

func hasType(v any, t string) bool {
	switch t {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		x, ok := v.(json.Number)
		if !ok {
			return false
		}
		if _, err := x.Int64(); err == nil {
			return true
		}
		r, ok := new(big.Float).SetString(x.String())
		return ok && r.IsInt()
	}
	return false
}

func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case json.Number:
		if hasType(x, "integer") {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// jsonEqual compares decoded JSON values, numbers by value.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		fx, ex := new(big.Float).SetString(x.String())
		fy, ey := new(big.Float).SetString(y.String())
		return ex && ey && fx.Cmp(fy) == 0
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// ExtractJSON returns the JSON value an answer holds: the answer itself,
// trimmed, or the content of the one Markdown code fence it consists of
// (models often fence JSON they were asked for bare).
func ExtractJSON(answer string) string {
	s := strings.TrimSpace(answer)
	if !strings.HasPrefix(s, "```") || !strings.HasSuffix(s, "```") || len(s) < 6 {
		return s
	}
	body := s[3 : len(s)-3]
	nl := strings.IndexByte(body, '\n')
	if nl < 0 {
		return s
	}
	if lang := strings.TrimSpace(body[:nl]); lang != "" && !strings.EqualFold(lang, "json") {
		return s
	}
	return strings.TrimSpace(body[nl+1:])
}

// errNoSchema is returned by Guard.CheckJSON when the guard has none.
var errNoSchema = errors.New("guard has no output schema")

// CheckJSON returns the JSON value of answer (ExtractJSON) if it matches
// g's output schema, or the validation error.
func (g *Guard) CheckJSON(answer string) (string, error) {
	if g == nil || g.Schema == nil {
		return answer, errNoSchema
	}
	doc := ExtractJSON(answer)
	if err := g.Schema.Validate(doc); err != nil {
		return answer, err
	}
	return doc, nil
}
