package openai

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/agentgate/agentgate/internal/validjson"
	"github.com/tidwall/gjson"
)

// fastChatRequest fills req from body as encoding/json would, for the
// common shape of a request only, without reflection: a plain object
// whose interpreted fields hold values of their own types, messages
// without tool calls, and no tools. It reports false, having filled
// req partly or not at all, for anything else (malformed JSON, a null,
// a type mismatch, an escaped or differently cased key, a duplicate
// key, an escaped or invalid UTF-8 string, a number out of range): the
// caller then decodes with dialects.Unmarshal, which answers such input
// or names the field at fault. Every request it accepts decodes to what
// dialects.Unmarshal gives (FuzzFastChatRequest checks it). It is the
// hot path's decode: encoding/json's reflection was the largest share of
// the raw lane's own CPU.
//
// When top is not nil, the same pass notes in it what topFields would
// (the spans of the values the raw lane patches, laneSafe) and returns
// the extra fields, so a request it takes is parsed once.
func fastChatRequest(body []byte, req *chatRequest, top *decodedChat) (extra map[string]json.RawMessage, ok bool) {
	t := bytes.TrimLeft(body, " \t\r\n")
	if len(t) == 0 || t[0] != '{' || !validjson.Bytes(body) {
		return nil, false
	}
	var seen uint16
	ok = true
	// body, not t: the values' offsets are topFields' (ParseBytes(body)).
	gjson.ParseBytes(body).ForEach(func(k, v gjson.Result) bool {
		name := k.Str
		i := fieldIndex(name, chatFields[:])
		if i < 0 {
			if ok = plainKey(k.Raw, name, chatFields[:]); ok && top != nil {
				if extra == nil {
					extra = map[string]json.RawMessage{}
				}
				extra[name] = json.RawMessage(v.Raw)
			}
			return ok
		}
		if seen&(1<<i) != 0 || v.Type == gjson.Null {
			ok = false
			return false
		}
		seen |= 1 << i
		switch name {
		case "model":
			req.Model, ok = plainString(v)
			if top != nil {
				top.modelAt = span{v.Index, len(v.Raw)}
			}
		case "messages":
			req.Messages, ok = fastMessages(v)
			if top != nil {
				top.messagesAt = span{v.Index, len(v.Raw)}
			}
		case "stream":
			req.Stream, ok = plainBool(v)
		case "stream_options":
			req.StreamOptions, ok = fastStreamOptions(v)
			if top != nil {
				top.streamOptionsAt = span{v.Index, len(v.Raw)}
			}
		case "tools":
			ok = false // rare: encoding/json decodes them
		case "tool_choice":
			req.ToolChoice = rawValue(v)
		case "temperature":
			req.Temperature, ok = plainFloat(v)
		case "top_p":
			req.TopP, ok = plainFloat(v)
		case "max_tokens":
			req.MaxTokens, ok = plainInt(v)
		case "max_completion_tokens":
			req.MaxCompletionTokens, ok = plainInt(v)
		case "stop":
			req.Stop = rawValue(v)
		case "seed":
			var n *int
			if n, ok = plainInt(v); ok {
				s := int64(*n)
				req.Seed = &s
			}
		case "response_format":
			req.ResponseFormat = rawValue(v)
		case "reasoning_effort":
			req.ReasoningEffort, ok = plainString(v)
		}
		return ok
	})
	if !ok {
		return nil, false
	}
	if top != nil {
		// Each interpreted field at most once, by its exact name, and no
		// key folding to one: what topFields calls lane-safe.
		top.laneSafe = true
	}
	return extra, true
}

// chatFields are chatRequest's JSON names; messageFields chatMessage's.
var (
	chatFields = [...]string{"model", "messages", "stream", "stream_options", "tools", "tool_choice", "temperature",
		"top_p", "max_tokens", "max_completion_tokens", "stop", "seed", "response_format", "reasoning_effort"}
	messageFields = [...]string{"role", "content", "name", "tool_calls", "tool_call_id"}
)

// fieldIndex is name's index in fields, or -1.
func fieldIndex(name string, fields []string) int {
	for i, f := range fields {
		if f == name {
			return i
		}
	}
	return -1
}

// plainKey reports whether a key that names none of fields exactly
// cannot name one for encoding/json either, which matches names without
// regard to case (and a few non-ASCII letters to ASCII ones): it is
// unescaped ASCII and no field's name in another case.
func plainKey(raw, name string, fields []string) bool {
	if strings.IndexByte(raw, '\\') >= 0 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			return false
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f, name) {
			return false
		}
	}
	return true
}

// plainString is a string value without escapes, in valid UTF-8: its
// bytes are what encoding/json decodes.
func plainString(v gjson.Result) (string, bool) {
	if v.Type != gjson.String || strings.IndexByte(v.Raw, '\\') >= 0 || !utf8.ValidString(v.Str) {
		return "", false
	}
	return v.Str, true
}

func plainBool(v gjson.Result) (bool, bool) {
	switch v.Type {
	case gjson.True:
		return true, true
	case gjson.False:
		return false, true
	}
	return false, false
}

func plainFloat(v gjson.Result) (*float64, bool) {
	if v.Type != gjson.Number {
		return nil, false
	}
	f, err := strconv.ParseFloat(v.Raw, 64)
	if err != nil {
		return nil, false
	}
	return &f, true
}

func plainInt(v gjson.Result) (*int, bool) {
	if v.Type != gjson.Number {
		return nil, false
	}
	n, err := strconv.ParseInt(v.Raw, 10, 64)
	if err != nil || int64(int(n)) != n {
		return nil, false
	}
	i := int(n)
	return &i, true
}

// rawValue is a json.RawMessage of v, copied as encoding/json copies it.
func rawValue(v gjson.Result) json.RawMessage { return json.RawMessage(v.Raw) }

func fastStreamOptions(v gjson.Result) (*struct {
	IncludeUsage bool `json:"include_usage"`
}, bool) {
	if !v.IsObject() {
		return nil, false
	}
	so := &struct {
		IncludeUsage bool `json:"include_usage"`
	}{}
	fields := []string{"include_usage"}
	seen, ok := false, true
	v.ForEach(func(k, v gjson.Result) bool {
		if k.Str != "include_usage" {
			ok = plainKey(k.Raw, k.Str, fields)
			return ok
		}
		if seen || v.Type == gjson.Null {
			ok = false
			return false
		}
		seen = true
		so.IncludeUsage, ok = plainBool(v)
		return ok
	})
	return so, ok
}

func fastMessages(v gjson.Result) ([]chatMessage, bool) {
	if !v.IsArray() {
		return nil, false
	}
	msgs := make([]chatMessage, 0, 4)
	ok := true
	v.ForEach(func(_, m gjson.Result) bool {
		if !m.IsObject() {
			ok = false
			return false
		}
		var cm chatMessage
		var seen uint8
		m.ForEach(func(k, f gjson.Result) bool {
			i := fieldIndex(k.Str, messageFields[:])
			if i < 0 {
				ok = plainKey(k.Raw, k.Str, messageFields[:])
				return ok
			}
			if seen&(1<<i) != 0 || f.Type == gjson.Null {
				ok = false
				return false
			}
			seen |= 1 << i
			switch k.Str {
			case "role":
				cm.Role, ok = plainString(f)
			case "content":
				cm.Content = rawValue(f)
			case "name":
				cm.Name, ok = plainString(f)
			case "tool_calls":
				ok = false // encoding/json decodes them
			case "tool_call_id":
				cm.ToolCallID, ok = plainString(f)
			}
			return ok
		})
		msgs = append(msgs, cm)
		return ok
	})
	return msgs, ok
}
