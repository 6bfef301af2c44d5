package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Builtins is the toolkit of tools that need no network: calculator and
// current_time. now is the clock current_time reads.
func Builtins(now func() time.Time) *Toolkit {
	return &Toolkit{Name: "builtin", Kind: KindBuiltin, Methods: []*Method{
		{
			Name:        "calculator",
			Description: "Evaluates an arithmetic expression with + - * / ^ %, parentheses and sqrt(), e.g. sqrt(144) + 56.",
			Parameters:  json.RawMessage(`{"type":"object","properties":{"expression":{"type":"string","description":"the expression to evaluate"}},"required":["expression"]}`),
			Timeout:     time.Second,
			Call: func(_ context.Context, args json.RawMessage) (json.RawMessage, error) {
				var in struct {
					Expression string `json:"expression"`
				}
				if err := json.Unmarshal(args, &in); err != nil || in.Expression == "" {
					return nil, errors.New(`expected {"expression": "<arithmetic>"}`)
				}
				v, err := Evaluate(in.Expression)
				if err != nil {
					return nil, err
				}
				return json.Marshal(map[string]any{"expression": in.Expression, "result": v})
			},
		},
		{
			Name:        "current_time",
			Description: "Returns the current date and time, in UTC or in an IANA time zone such as America/New_York.",
			Parameters:  json.RawMessage(`{"type":"object","properties":{"timezone":{"type":"string","description":"IANA time zone; default UTC"}}}`),
			Timeout:     time.Second,
			Call: func(_ context.Context, args json.RawMessage) (json.RawMessage, error) {
				var in struct {
					Timezone string `json:"timezone"`
				}
				_ = json.Unmarshal(args, &in)
				loc := time.UTC
				if in.Timezone != "" {
					l, err := time.LoadLocation(in.Timezone)
					if err != nil {
						return nil, fmt.Errorf("unknown time zone %q", in.Timezone)
					}
					loc = l
				}
				t := now().In(loc)
				return json.Marshal(map[string]string{"time": t.Format(time.RFC3339), "timezone": loc.String(), "weekday": t.Weekday().String()})
			},
		},
	}}
}

// Evaluate computes an arithmetic expression: numbers, + - * / % ^,
// unary minus, parentheses and sqrt(x). It is a small recursive-descent
// parser, so no model output is ever executed as code.
func Evaluate(expr string) (float64, error) {
	p := &parser{s: expr}
	v, err := p.expr()
	if err != nil {
		return 0, err
	}
	p.space()
	if p.i != len(p.s) {
		return 0, fmt.Errorf("unexpected %q at position %d", p.s[p.i:], p.i)
	}
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, errors.New("the result is not a finite number")
	}
	return v, nil
}

type parser struct {
	s     string
	i     int
	depth int
}

func (p *parser) space() {
	for p.i < len(p.s) && unicode.IsSpace(rune(p.s[p.i])) {
		p.i++
	}
}

func (p *parser) peek() byte {
	p.space()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *parser) expr() (float64, error) {
	v, err := p.term()
	for err == nil {
		switch p.peek() {
		case '+':
			p.i++
			var r float64
			r, err = p.term()
			v += r
		case '-':
			p.i++
			var r float64
			r, err = p.term()
			v -= r
		default:
			return v, nil
		}
	}
	return 0, err
}

func (p *parser) term() (float64, error) {
	v, err := p.power()
	for err == nil {
		op := p.peek()
		if op != '*' && op != '/' && op != '%' {
			return v, nil
		}
		p.i++
		var r float64
		if r, err = p.power(); err != nil {
			break
		}
		switch {
		case op == '*':
			v *= r
		case r == 0:
			return 0, errors.New("division by zero")
		case op == '/':
			v /= r
		default:
			v = math.Mod(v, r)
		}
	}
	return 0, err
}

func (p *parser) power() (float64, error) {
	b, err := p.unary()
	if err != nil || p.peek() != '^' {
		return b, err
	}
	p.i++
	e, err := p.power() // right-associative
	return math.Pow(b, e), err
}

func (p *parser) unary() (float64, error) {
	if p.peek() == '-' {
		p.i++
		v, err := p.unary()
		return -v, err
	}
	if p.peek() == '+' {
		p.i++
	}
	return p.primary()
}

func (p *parser) primary() (float64, error) {
	if p.depth++; p.depth > 100 {
		return 0, errors.New("expression nested too deeply")
	}
	defer func() { p.depth-- }()
	c := p.peek()
	switch {
	case c == '(':
		p.i++
		v, err := p.expr()
		if err != nil {
			return 0, err
		}
		if p.peek() != ')' {
			return 0, errors.New("missing )")
		}
		p.i++
		return v, nil
	case strings.HasPrefix(p.s[p.i:], "sqrt"):
		p.i += 4
		if p.peek() != '(' {
			return 0, errors.New("sqrt needs parentheses")
		}
		v, err := p.primary()
		if err != nil {
			return 0, err
		}
		if v < 0 {
			return 0, errors.New("sqrt of a negative number")
		}
		return math.Sqrt(v), nil
	case c >= '0' && c <= '9' || c == '.':
		start := p.i
		for p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i] == '.' || p.s[p.i] == 'e' || p.s[p.i] == 'E') {
			p.i++
		}
		v, err := strconv.ParseFloat(p.s[start:p.i], 64)
		if err != nil {
			return 0, fmt.Errorf("bad number %q", p.s[start:p.i])
		}
		return v, nil
	case c == 0:
		return 0, errors.New("unexpected end of expression")
	}
	return 0, fmt.Errorf("unexpected %q at position %d", string(c), p.i)
}
