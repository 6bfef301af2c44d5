package responses

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/tidwall/gjson"
)

// Items are the Responses API's units of a conversation, as input_items
// and the Conversations API list them: messages, function calls and their
// outputs, each with an id.

// newItemID makes a fresh item id: msg_…, fc_… or fco_….
func newItemID(prefix string) string { return adapters.NewID(prefix) }

// seededIDs makes item ids that depend only on seed and their place, for
// items shown from canonical messages (a conversation of another dialect,
// an older store): the same ids each time, so pagination cursors hold.
func seededIDs(seed string) func(prefix string) string {
	n := 0
	return func(prefix string) string {
		h := fnv.New64a()
		h.Write([]byte(seed))
		h.Write([]byte{0})
		h.Write(strconv.AppendInt(nil, int64(n), 10))
		n++
		return prefix + strconv.FormatUint(h.Sum64(), 36)
	}
}

// messageItems renders canonical messages as items: a message per user,
// system or assistant text, a function_call per tool call, a
// function_call_output per tool result.
func messageItems(msgs []adapters.Message, newID func(prefix string) string) []json.RawMessage {
	var out []json.RawMessage
	for i := range msgs {
		m := &msgs[i]
		switch m.Role {
		case adapters.RoleTool:
			b := append([]byte(`{"id":`), dialects.AppendString(nil, newID("fco_"))...)
			b = append(b, `,"type":"function_call_output","call_id":`...)
			b = dialects.AppendString(b, m.ToolCallID)
			b = append(b, `,"output":`...)
			b = dialects.AppendString(b, m.Text())
			out = append(out, append(b, `,"status":"completed"}`...))
			continue
		case adapters.RoleAssistant:
			if text := m.Text(); text != "" || len(m.ToolCalls) == 0 {
				b := append([]byte(`{"id":`), dialects.AppendString(nil, newID("msg_"))...)
				b = append(b, `,"type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","annotations":[],"text":`...)
				b = dialects.AppendString(b, text)
				out = append(out, append(b, "}]}"...))
			}
			for _, tc := range m.ToolCalls {
				b := append([]byte(`{"id":`), dialects.AppendString(nil, newID("fc_"))...)
				b = append(b, `,"type":"function_call","status":"completed","arguments":`...)
				b = dialects.AppendString(b, tc.Arguments)
				b = append(b, `,"call_id":`...)
				b = dialects.AppendString(b, tc.ID)
				b = append(b, `,"name":`...)
				b = dialects.AppendString(b, tc.Name)
				out = append(out, append(b, '}'))
			}
			continue
		}
		b := append([]byte(`{"id":`), dialects.AppendString(nil, newID("msg_"))...)
		b = append(b, `,"type":"message","status":"completed","role":`...)
		b = dialects.AppendString(b, string(m.Role))
		b = append(b, `,"content":[`...)
		for j, p := range m.Parts {
			if j > 0 {
				b = append(b, ',')
			}
			switch p.Type {
			case adapters.PartImage:
				b = append(b, `{"type":"input_image","image_url":`...)
				b = dialects.AppendString(b, p.ImageURL)
				detail := p.Detail
				if detail == "" {
					detail = "auto"
				}
				b = append(b, `,"detail":`...)
				b = dialects.AppendString(b, detail)
				b = append(b, '}')
			default:
				b = append(b, `{"type":"input_text","text":`...)
				b = dialects.AppendString(b, p.Text)
				b = append(b, '}')
			}
		}
		out = append(out, append(b, "]}"...))
	}
	return out
}

// itemsOf decodes stored items (a conversation's, a response's) into the
// canonical messages a model sees; reasoning items are left out, as in
// input.
func itemsOf(items []json.RawMessage, limits dialects.Limits) ([]adapters.Message, error) {
	if len(items) == 0 {
		return nil, nil
	}
	var d decoded
	if err := decodeInput(&d, joinItems(items), limits); err != nil {
		// Only reasoning items, say: nothing for the model.
		if e, ok := err.(*adapters.Error); ok && e.Code == "missing_required_parameter" {
			return nil, nil
		}
		return nil, err
	}
	return d.input, nil
}

// normalizeItems gives client items (input, or items added to a
// conversation) the shape items are listed in: an id, a type, content as
// parts, a status.
func normalizeItems(raw json.RawMessage) ([]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		b := append([]byte(`{"id":`), dialects.AppendString(nil, newItemID("msg_"))...)
		b = append(b, `,"type":"message","status":"completed","role":"user","content":[{"type":"input_text","text":`...)
		b = dialects.AppendString(b, s)
		return []json.RawMessage{append(b, "}]}"...)}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, 0, len(items))
	for _, raw := range items {
		// Decoded as the input decoder reads it (a repeated key's last
		// value wins), and written back without repeats.
		var it map[string]json.RawMessage
		if err := json.Unmarshal(raw, &it); err != nil {
			return nil, err
		}
		var typ, role string
		_ = json.Unmarshal(it["type"], &typ)
		_ = json.Unmarshal(it["role"], &role)
		if typ == "" {
			typ = "message"
			it["type"] = json.RawMessage(`"message"`)
		}
		var text string
		if typ == "message" && json.Unmarshal(it["content"], &text) == nil {
			part := "input_text"
			if role == "assistant" {
				part = "output_text"
			}
			parts := append([]byte(`[{"type":"`+part+`","text":`), dialects.AppendString(nil, text)...)
			it["content"] = append(parts, "}]"...)
		}
		if _, ok := it["id"]; !ok {
			prefix := map[string]string{"message": "msg_", "function_call": "fc_", "function_call_output": "fco_", "reasoning": "rs_"}[typ]
			if prefix == "" {
				prefix = "item_"
			}
			it["id"] = dialects.AppendString(nil, newItemID(prefix))
		}
		if _, ok := it["status"]; !ok && typ != "reasoning" {
			it["status"] = json.RawMessage(`"completed"`)
		}
		out = append(out, marshal(it))
	}
	return out, nil
}

// joinItems writes items as a JSON array.
func joinItems(items []json.RawMessage) []byte {
	b := []byte{'['}
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	return append(b, ']')
}

// splitItems reads a JSON array of items.
func splitItems(raw json.RawMessage) []json.RawMessage {
	var out []json.RawMessage
	for _, it := range gjson.ParseBytes(raw).Array() {
		out = append(out, json.RawMessage(it.Raw))
	}
	return out
}
