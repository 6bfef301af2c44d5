// Package guard implements agent guardrails: deny and redaction rules
// over text (regular expressions and built-in detectors of personal
// data: emails, phone numbers, Luhn-checked payment card numbers), a
// stream filter that applies them to a streamed answer holding back only
// the few characters that may still become part of a match, and a JSON
// Schema validator for answers that must be JSON. It knows nothing of
// runs, providers or HTTP.
package guard

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
)

// Guard is a compiled adapters.Guardrails. It is immutable and safe for
// concurrent use.
type Guard struct {
	// Input and Output are the rules of each direction; nil when none.
	Input, Output *Rules
	// OutputRedact is Output without its deny rules, for text that is
	// shown but does not answer (a model's thinking); nil when none.
	OutputRedact *Rules
	// MaxInputChars bounds the input's characters; 0 means no bound.
	MaxInputChars int
	// Schema is the answer's required JSON Schema; nil when none.
	Schema *Schema
	// SchemaJSON is the schema as configured, compacted.
	SchemaJSON string
}

// Compile checks and compiles g; errors name the offending field
// (deny_patterns[1].pattern, …). A nil or empty g compiles to nil.
func Compile(g *adapters.Guardrails) (*Guard, error) {
	if g == nil {
		return nil, nil
	}
	out := &Guard{MaxInputChars: g.MaxInputChars}
	if g.MaxInputChars < 0 {
		return nil, fieldError("max_input_chars", "must not be negative")
	}
	var in, outp []*detector
	add := func(d *detector, appliesTo string) {
		if appliesTo != adapters.GuardOutput {
			in = append(in, d)
		}
		if appliesTo != adapters.GuardInput {
			outp = append(outp, d)
		}
	}
	seen := map[string]string{}
	for _, list := range []struct {
		field string
		rules []adapters.GuardRule
		deny  bool
	}{{"deny_patterns", g.DenyPatterns, true}, {"redact_patterns", g.RedactPatterns, false}} {
		for i, r := range list.rules {
			field := fmt.Sprintf("%s[%d]", list.field, i)
			if r.Name == "" {
				return nil, fieldError(field+".name", "is required")
			}
			if prev, dup := seen[r.Name]; dup {
				return nil, fieldError(field+".name", "%q is also the name of %s", r.Name, prev)
			}
			seen[r.Name] = field
			if r.AppliesTo != adapters.GuardBoth && r.AppliesTo != adapters.GuardInput && r.AppliesTo != adapters.GuardOutput {
				return nil, fieldError(field+".applies_to", "is %q; want input, output or empty for both", r.AppliesTo)
			}
			if r.Pattern == "" {
				return nil, fieldError(field+".pattern", "is required")
			}
			replacement := ""
			if !list.deny {
				replacement = "[REDACTED_" + upperName(r.Name) + "]"
			}
			d, err := newDetector(r.Name, r.Pattern, list.deny, replacement, nil)
			if err != nil {
				return nil, fieldError(field+".pattern", "%v", err)
			}
			add(d, r.AppliesTo)
		}
	}
	// Personal data is redacted in both directions, cards first: a card
	// number is also a long run of digits a phone pattern may see.
	kinds := map[string]bool{}
	for i, k := range g.RedactPII {
		if _, ok := piiDetector(k); !ok {
			return nil, fieldError(fmt.Sprintf("redact_pii[%d]", i), "is %q; want one of %s", k, strings.Join(PIIKinds, ", "))
		}
		kinds[k] = true
	}
	for _, k := range PIIKinds {
		if kinds[k] {
			d, _ := piiDetector(k)
			add(d, adapters.GuardBoth)
		}
	}
	if len(g.OutputJSONSchema) > 0 {
		s, err := CompileSchema(g.OutputJSONSchema)
		if err != nil {
			return nil, fieldError("output_json_schema", "%v", err)
		}
		out.Schema, out.SchemaJSON = s, s.compact
	}
	out.Input, out.Output = newRules(in), newRules(outp)
	var redact []*detector
	for _, d := range outp {
		if !d.deny {
			redact = append(redact, d)
		}
	}
	out.OutputRedact = newRules(redact)
	if out.Input == nil && out.Output == nil && out.MaxInputChars == 0 && out.Schema == nil {
		return nil, nil
	}
	return out, nil
}

// FieldError is a configuration error naming the field at fault, relative
// to the guardrails object.
type FieldError struct {
	Field, Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldError(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// upperName turns a rule name into the tag of its replacement: upper
// case, other characters than letters and digits as underscores.
func upperName(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z':
			b = append(b, byte(r-'a'+'A'))
		case 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
			b = append(b, byte(r))
		default:
			b = append(b, '_')
		}
	}
	return string(b)
}

// Rules are the detectors of one direction, deny rules first.
type Rules struct {
	dets []*detector
	// hold is the most any detector holds back.
	hold int
}

func newRules(dets []*detector) *Rules {
	if len(dets) == 0 {
		return nil
	}
	slices.SortStableFunc(dets, func(a, b *detector) int {
		if a.deny == b.deny {
			return 0
		}
		if a.deny {
			return -1
		}
		return 1
	})
	r := &Rules{dets: dets}
	for _, d := range dets {
		r.hold = max(r.hold, d.hold)
	}
	return r
}

// match is one accepted match of a detector in a scanned text.
type match struct {
	start, end int
	det        *detector
	prio       int
}

// scan returns the redactions in s[from:] (s[:from] is context only: the
// character before), leftmost first, the longest at one position, the
// first rule at equal length, overlapping ones dropped; and the earliest
// deny match (start -1 when none). Deny matches are never hidden by an
// overlapping redaction.
func (r *Rules) scan(s string, from int, buf []match) ([]match, match) {
	ms := buf[:0]
	deny := match{start: -1}
	for prio, d := range r.dets {
		if !d.mayMatch(s[from:]) {
			continue
		}
		for _, loc := range d.re.FindAllStringIndex(s, -1) {
			if loc[0] < from || loc[1] == loc[0] {
				continue
			}
			if d.valid != nil && !d.valid(s, loc[0], loc[1]) {
				continue
			}
			m := match{start: loc[0], end: loc[1], det: d, prio: prio}
			if d.deny {
				if deny.start < 0 || m.start < deny.start {
					deny = m
				}
				break // the first match of a rule is its earliest
			}
			ms = append(ms, m)
		}
	}
	if len(ms) < 2 {
		return ms, deny
	}
	slices.SortFunc(ms, func(a, b match) int {
		if a.start != b.start {
			return a.start - b.start
		}
		if a.end != b.end {
			return b.end - a.end
		}
		return a.prio - b.prio
	})
	out := ms[:0]
	end := -1
	for _, m := range ms {
		if m.start >= end {
			out = append(out, m)
			end = m.end
		}
	}
	return out, deny
}

// Apply returns text with its redactions made, or the name of the deny
// rule it matches (and text unchanged).
func (r *Rules) Apply(text string) (string, string) {
	if r == nil || text == "" {
		return text, ""
	}
	ms, deny := r.scan(text, 0, nil)
	if deny.start >= 0 {
		return text, deny.det.name
	}
	if len(ms) == 0 {
		return text, ""
	}
	var sb strings.Builder
	pos := 0
	for _, m := range ms {
		sb.WriteString(text[pos:m.start])
		sb.WriteString(m.det.replacement)
		pos = m.end
	}
	sb.WriteString(text[pos:])
	return sb.String(), ""
}

// Stream applies the rules to a text that arrives in pieces, emitting
// as much as is already decided: it holds back only the trailing
// characters that may still become part of a match (for each rule, the
// trailing run of characters its matches can contain, at most its
// longest match), so a redaction works when the secret spans pieces and
// the answer is never buffered whole. The zero Stream of nil Rules
// passes text through.
type Stream struct {
	rules *Rules
	// pending is the text received and not yet emitted; its first
	// prevLen bytes are the last character already emitted (context for
	// the rules' validators).
	pending []byte
	prevLen int
	buf     []match
	out     []byte
}

// NewStream returns a stream filter of r.
func NewStream(r *Rules) *Stream { return &Stream{rules: r} }

// Write adds text and returns what can be emitted now, or the name of
// the deny rule the text matches (nothing more should be emitted then).
func (s *Stream) Write(text string) (string, string) {
	if s.rules == nil {
		return text, ""
	}
	s.pending = append(s.pending, text...)
	return s.emit(false)
}

// Flush ends the text: it returns everything held back, redacted, or
// the deny rule it matches.
func (s *Stream) Flush() (string, string) {
	if s.rules == nil {
		return "", ""
	}
	out, denied := s.emit(true)
	s.pending, s.prevLen = s.pending[:0], 0
	return out, denied
}

// Reset drops everything held back.
func (s *Stream) Reset() { s.pending, s.prevLen = s.pending[:0], 0 }

func (s *Stream) emit(final bool) (string, string) {
	text := string(s.pending) // one copy: the regexps scan strings
	boundary := len(text)
	if !final {
		hold := 0
		for _, d := range s.rules.dets {
			hold = max(hold, d.tailHold(text[s.prevLen:]))
		}
		boundary -= hold
		if boundary <= s.prevLen {
			return "", ""
		}
	}
	var deny match
	s.buf, deny = s.rules.scan(text, s.prevLen, s.buf)
	if deny.start >= 0 && deny.start < boundary {
		s.Reset()
		return "", deny.det.name
	}
	out := s.out[:0]
	pos := s.prevLen
	for _, m := range s.buf {
		if m.start >= boundary {
			break
		}
		out = append(out, text[pos:m.start]...)
		out = append(out, m.det.replacement...)
		pos = m.end
	}
	cut := max(pos, boundary)
	out = append(out, text[pos:cut]...)
	s.out = out
	// Keep the last emitted character as context, then what is held.
	_, size := utf8.DecodeLastRuneInString(text[:cut])
	n := copy(s.pending, text[cut-size:])
	s.pending, s.prevLen = s.pending[:n], size
	return string(out), ""
}
