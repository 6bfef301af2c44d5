package bbolt

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/jsonx"
)

// decodeTurn decodes a stored turn: the JSON array of messages AppendTurn
// wrote (encodeTurn: json.Marshal of []adapters.Message). Every turn of an
// agent's session is decoded again on each later turn that replays it, so
// turns of text messages only — a role and text parts, nearly all of them
// — are read in one pass when they are as encodeTurn writes them
// (scanTextTurn), else with gjson, both several times cheaper than
// encoding/json's reflection;
// anything else (tool calls, images, reasoning, a key or a value of
// another shape) goes through encoding/json. Both give the same messages
// (FuzzDecodeTurn).
func decodeTurn(v []byte, id string) ([]adapters.Message, error) {
	d := historyDecoder{msgs: []adapters.Message{}}
	if d.scanTextTurn(string(v)) {
		return d.msgs, nil
	}
	if msgs, ok := decodeTextTurn(v); ok {
		return msgs, nil
	}
	var msgs []adapters.Message
	if err := decode(v, &msgs, "turn of session", id); err != nil {
		return nil, err
	}
	return msgs, nil
}

// historyDecoder decodes stored turns into one slice of messages, whose
// text parts share one backing array: a session's history is a few
// allocations, not two for each of its messages.
type historyDecoder struct {
	msgs  []adapters.Message
	parts []adapters.Part
}

// append decodes the stored turn v and appends its messages. Turns as
// encodeTurn writes them are read in one pass (scanTextTurn); other text
// turns with gjson (decodeTextTurn); anything else with encoding/json.
func (d *historyDecoder) append(v, id string) error {
	n := len(d.msgs)
	if d.scanTextTurn(v) {
		return nil
	}
	d.msgs = d.msgs[:n]
	if msgs, ok := decodeTextTurn([]byte(v)); ok {
		d.msgs = append(d.msgs, msgs...)
		return nil
	}
	var msgs []adapters.Message
	if err := decode([]byte(v), &msgs, "turn of session", id); err != nil {
		return err
	}
	d.msgs = append(d.msgs, msgs...)
	return nil
}

// scanTextTurn appends the messages of v when v is a text turn exactly as
// encodeTurn (and json.Marshal) writes it — [{"role":S,"parts":[{"type":S,
// "text":S},…]},…], no whitespace, "parts" and "text" left out when
// empty, v valid UTF-8 — and reports whether it was. The strings are v's
// substrings, unescaped (json.Unmarshal) only where they hold escapes.
// Anything else, even JSON encoding/json would read the same, is left to
// the caller.
func (d *historyDecoder) scanTextTurn(v string) bool {
	if !utf8.ValidString(v) {
		return false
	}
	s := turnScanner{v: v}
	if !s.lit("[") {
		return false
	}
	if s.lit("]") {
		return s.i == len(v)
	}
	for {
		var m adapters.Message
		if !s.lit(`{"role":`) {
			return false
		}
		role, ok := s.str()
		if !ok {
			return false
		}
		m.Role = adapters.Role(role)
		if s.lit(`,"parts":[`) {
			start := len(d.parts)
			for {
				var p adapters.Part
				if !s.lit(`{"type":`) {
					return false
				}
				t, ok := s.str()
				if !ok {
					return false
				}
				p.Type = adapters.PartType(t)
				if s.lit(`,"text":`) {
					if p.Text, ok = s.str(); !ok {
						return false
					}
				}
				if !s.lit("}") {
					return false
				}
				d.parts = append(d.parts, p)
				if !s.lit(",") {
					break
				}
			}
			if !s.lit("]") {
				return false
			}
			m.Parts = d.parts[start:len(d.parts):len(d.parts)]
		}
		if !s.lit("}") {
			return false
		}
		d.msgs = append(d.msgs, m)
		if s.lit("]") {
			return s.i == len(v)
		}
		if !s.lit(",") {
			return false
		}
	}
}

// turnScanner reads a stored turn from its start.
type turnScanner struct {
	v string
	i int
}

// lit consumes lit if it comes next.
func (s *turnScanner) lit(lit string) bool {
	if !strings.HasPrefix(s.v[s.i:], lit) {
		return false
	}
	s.i += len(lit)
	return true
}

// str consumes a JSON string and returns its value: a substring of v
// when it has no escapes.
func (s *turnScanner) str() (string, bool) {
	if s.i >= len(s.v) || s.v[s.i] != '"' {
		return "", false
	}
	start := s.i
	escaped := false
	for i := start + 1; i < len(s.v); i++ {
		switch c := s.v[i]; {
		case c == '"':
			s.i = i + 1
			if !escaped {
				return s.v[start+1 : i], true
			}
			return jsonString(gjson.Result{Type: gjson.String, Raw: s.v[start:s.i]})
		case c == '\\':
			escaped = true
			i++ // the escaped byte cannot end the string
		case c < ' ':
			return "", false
		}
	}
	return "", false
}

// decodeTextTurn decodes v when it is an array of messages with only
// "role" and "parts" keys, whose parts have only "type" and "text" keys,
// every value a string. ok is false for anything else, and for what
// encoding/json would read differently (invalid UTF-8, which it replaces)
// or reject (invalid JSON).
func decodeTextTurn(v []byte) (msgs []adapters.Message, ok bool) {
	if !utf8.Valid(v) || !gjson.ValidBytes(v) {
		return nil, false
	}
	// One copy of the value, which the texts share (bbolt's bytes are
	// valid only in their transaction).
	r := gjson.Parse(string(v))
	if !r.IsArray() {
		return nil, false
	}
	ok = true
	// Room for a turn's usual question and answer.
	msgs = make([]adapters.Message, 0, 2)
	r.ForEach(func(_, m gjson.Result) bool {
		if !m.IsObject() {
			ok = false
			return false
		}
		var msg adapters.Message
		parts := false
		m.ForEach(func(k, val gjson.Result) bool {
			switch k.Raw {
			case `"role"`:
				var role string
				role, ok = jsonString(val)
				msg.Role = adapters.Role(role)
			case `"parts"`:
				// encoding/json decodes a second "parts" into the first's
				// elements: that is its to do.
				if parts {
					ok = false
					return false
				}
				parts = true
				msg.Parts, ok = textParts(val)
			default:
				ok = false
			}
			return ok
		})
		msgs = append(msgs, msg)
		return ok
	})
	return msgs, ok
}

// textParts decodes an array of parts with only "type" and "text" keys.
func textParts(r gjson.Result) (parts []adapters.Part, ok bool) {
	if !r.IsArray() {
		return nil, false
	}
	ok = true
	parts = []adapters.Part{}
	r.ForEach(func(_, p gjson.Result) bool {
		if !p.IsObject() {
			ok = false
			return false
		}
		var part adapters.Part
		p.ForEach(func(k, val gjson.Result) bool {
			var s string
			s, ok = jsonString(val)
			switch k.Raw {
			case `"type"`:
				part.Type = adapters.PartType(s)
			case `"text"`:
				part.Text = s
			default:
				ok = false
			}
			return ok
		})
		parts = append(parts, part)
		return ok
	})
	return parts, ok
}

// jsonString is the string r holds, unescaped as encoding/json does
// (which it does itself for a string with escapes: lone surrogates and
// the like are its to settle).
func jsonString(r gjson.Result) (string, bool) {
	if r.Type != gjson.String {
		return "", false
	}
	if !strings.Contains(r.Raw, `\`) {
		return r.Raw[1 : len(r.Raw)-1], true
	}
	var s string
	if json.Unmarshal([]byte(r.Raw), &s) != nil {
		return "", false
	}
	return s, true
}

// encodeTurn encodes a turn as AppendTurn stores it: exactly the bytes of
// json.Marshal(msgs). Turns of text messages only (a role and parts with
// a type and text, nothing else set), which nearly every agent turn is,
// are written directly, without encoding/json's reflection over every
// optional field (FuzzEncodeTurn); any other turn goes through it.
func encodeTurn(msgs []adapters.Message) ([]byte, error) {
	if msgs == nil {
		return json.Marshal(msgs)
	}
	n := 2
	for i := range msgs {
		m := &msgs[i]
		if !isTextMessage(m) {
			return json.Marshal(msgs)
		}
		n += len(`{"role":"","parts":[]},`) + len(m.Role)
		for j := range m.Parts {
			n += len(`{"type":"","text":""},`) + len(m.Parts[j].Type) + len(m.Parts[j].Text)
		}
	}
	b := make([]byte, 0, n+n/16)
	b = append(b, '[')
	for i := range msgs {
		m := &msgs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"role":`...)
		b = jsonx.AppendStringGo(b, string(m.Role))
		if len(m.Parts) > 0 {
			b = append(b, `,"parts":[`...)
			for j := range m.Parts {
				p := &m.Parts[j]
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"type":`...)
				b = jsonx.AppendStringGo(b, string(p.Type))
				if p.Text != "" {
					b = append(b, `,"text":`...)
					b = jsonx.AppendStringGo(b, p.Text)
				}
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// isTextMessage reports whether m sets nothing but its role and parts
// with a type and text: what encodeTurn writes itself.
func isTextMessage(m *adapters.Message) bool {
	if m.Name != "" || m.ToolCalls != nil || m.ToolCallID != "" || m.Reasoning != "" || m.ReasoningSignature != "" ||
		m.RedactedReasoning != nil || m.ReasoningBlocks != nil || m.IsError || m.CacheControl != nil {
		return false
	}
	for i := range m.Parts {
		p := &m.Parts[i]
		if p.ImageURL != "" || p.Detail != "" || p.MediaType != "" || p.Data != "" || p.URL != "" ||
			p.Title != "" || p.Context != "" || p.CacheControl != nil {
			return false
		}
	}
	return true
}
