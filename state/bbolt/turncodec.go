package bbolt

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/adapters"
)

// decodeTurn decodes a stored turn: the JSON array of messages AppendTurn
// wrote (json.Marshal of []adapters.Message). Every turn of an agent's
// session is decoded again on each later turn that replays it, so turns of
// text messages only — a role and text parts, nearly all of them — are
// read with gjson, several times cheaper than encoding/json's reflection;
// anything else (tool calls, images, reasoning, a key or a value of
// another shape) goes through encoding/json. Both give the same messages
// (FuzzDecodeTurn).
func decodeTurn(v []byte, id string) ([]adapters.Message, error) {
	if msgs, ok := decodeTextTurn(v); ok {
		return msgs, nil
	}
	var msgs []adapters.Message
	if err := decode(v, &msgs, "turn of session", id); err != nil {
		return nil, err
	}
	return msgs, nil
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
