package agentsv2

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	// Time zones are validated and rendered wherever the gateway runs,
	// including minimal containers without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/engine/tools"
)

// Bounds of client-chosen values.
const (
	maxIDLen     = 256
	maxLocaleLen = 64
	// maxProfileDepth bounds how deep profile fields are flattened into
	// prompt placeholders.
	maxProfileDepth = 4
	// defaultMaxImageBytes applies when the configuration sets no limit.
	defaultMaxImageBytes = 5 << 20
)

// chatRequest is a validated ChatRequest.
type chatRequest struct {
	message, userID, sessionID, timezone, locale string
	loc                                          *time.Location
	stream                                       bool
	model                                        string
	sampling                                     adapters.Sampling
	// vars are the prompt placeholders the request fills.
	vars         map[string]string
	images       []adapters.Part
	systemPrompt *string
	tools        []string
}

// decodeChat parses and validates a ChatRequest, reporting every invalid
// field; the tools it names must be in reg. Whether its model is served
// is checked by the handler, which knows the agent.
func decodeChat(body []byte, limits dialects.Limits, reg *tools.Registry) (*chatRequest, error) {
	errs := &invalid{}
	o, ok := decodeBody(body, errs)
	if !ok {
		return nil, errs
	}
	req := &chatRequest{vars: map[string]string{}}
	if m, ok := o.str("message", true); ok && o.length("message", strings.TrimSpace(m), 1, 0) {
		req.message = m
	}
	req.userID = idField(o, "user_id")
	req.sessionID = idField(o, "session_id")
	if tz, ok := o.str("timezone", true); ok {
		loc, err := loadLocation(tz)
		if err != nil {
			errs.add([]any{"body", "timezone"}, "value_error", "Value error, unknown time zone "+quote(tz)+": use an IANA name such as America/New_York")
		} else {
			req.timezone, req.loc = tz, loc
		}
	}
	if l, ok := o.str("locale", true); ok && o.length("locale", l, 1, maxLocaleLen) {
		if !printable(l) {
			errs.add([]any{"body", "locale"}, "value_error", "Value error, locale must be printable text such as en-US")
		}
		req.locale = l
	}
	req.stream = o.boolean("stream", true)
	if m, ok := o.str("model", false); ok && o.length("model", m, 1, 255) {
		req.model = m
	}
	if t, ok := o.number("temperature", 0, 2); ok {
		req.sampling.Temperature = &t
	}
	if n, ok := o.integer("max_tokens", 1, 1<<30); ok {
		req.sampling.MaxTokens = &n
	}
	for _, name := range [...]string{"user_profile", "tenant_profile"} {
		if p, ok := o.child(name); ok {
			raw, _ := o.value(name)
			var buf bytes.Buffer
			_ = json.Compact(&buf, raw)
			req.vars[name] = buf.String()
			flatten(req.vars, name, p.fields, 1)
		}
	}
	if s, ok := o.str("system_prompt", false); ok {
		req.systemPrompt = &s
	}
	if names, ok := o.strings("tools", false); ok {
		for i, n := range names {
			checkTool(reg, errs, []any{"body", "tools", i}, n)
		}
		req.tools = names
	}
	if items, ok := o.list("images", false); ok {
		maxImage := limits.MaxImageBytes
		if maxImage <= 0 {
			maxImage = defaultMaxImageBytes
		}
		for i, raw := range items {
			if p, ok := decodeImage(errs, []any{"body", "images", i}, raw, maxImage); ok {
				req.images = append(req.images, p)
			}
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	for k, v := range map[string]string{"user_id": req.userID, "session_id": req.sessionID,
		"timezone": req.timezone, "locale": req.locale} {
		req.vars[k] = v
	}
	return req, nil
}

// idField reads a required identifier: non-empty printable text of at
// most maxIDLen characters.
func idField(o *object, name string) string {
	s, ok := o.str(name, true)
	if !ok || !o.length(name, s, 1, maxIDLen) {
		return ""
	}
	if !printable(s) {
		o.errs.add(at(o.loc, name), "value_error", "Value error, must be printable text without control characters")
		return ""
	}
	return s
}

func loadLocation(tz string) (*time.Location, error) {
	// "Local" would be the gateway's own zone, and "" UTC: neither is a
	// user's time zone.
	if tz == "" || tz == "Local" || len(tz) > 64 || !printable(tz) {
		return nil, strconv.ErrSyntax
	}
	return time.LoadLocation(tz)
}

// flatten adds the scalar fields of a profile as name.field placeholders
// (nested objects with more dots, arrays as JSON).
func flatten(vars map[string]string, prefix string, fields map[string]json.RawMessage, depth int) {
	for k, raw := range fields {
		if !placeholderKey(k) {
			continue
		}
		name := prefix + "." + k
		switch kind(raw) {
		case '"':
			var s string
			_ = json.Unmarshal(raw, &s)
			vars[name] = s
		case 'n':
		case '{':
			var buf bytes.Buffer
			_ = json.Compact(&buf, raw)
			vars[name] = buf.String()
			var sub map[string]json.RawMessage
			if depth < maxProfileDepth && json.Unmarshal(raw, &sub) == nil {
				flatten(vars, name, sub, depth+1)
			}
		default:
			var buf bytes.Buffer
			_ = json.Compact(&buf, raw)
			vars[name] = buf.String()
		}
	}
}

func placeholderKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// imageTypes are the accepted image media types and the type each must
// sniff as (image/jpg is a common misspelling of image/jpeg).
var imageTypes = map[string]string{
	"image/png":  "image/png",
	"image/jpeg": "image/jpeg",
	"image/jpg":  "image/jpeg",
	"image/gif":  "image/gif",
	"image/webp": "image/webp",
}

// decodeImage validates one item of images. An image is base64 data,
// given as
//
//	{"data": "<base64>", "mime_type": "image/png"}   (mime_type optional: sniffed)
//	{"data": "data:image/png;base64,<base64>"}
//	{"url": "data:image/png;base64,<base64>"}
//	"data:image/png;base64,<base64>"
//
// of a PNG, JPEG, GIF or WebP image no larger than max bytes decoded,
// whose bytes are the type it declares. URLs are not fetched.
func decodeImage(errs *invalid, loc []any, raw json.RawMessage, max int64) (adapters.Part, bool) {
	var data, mime string
	dataLoc := loc
	switch kind(raw) {
	case '"':
		_ = json.Unmarshal(raw, &data)
	case '{':
		var obj map[string]json.RawMessage
		_ = json.Unmarshal(raw, &obj)
		img := &object{fields: obj, loc: loc, errs: &invalid{}}
		d, hasData := img.str("data", false)
		u, hasURL := img.str("url", false)
		m, hasMime := img.str("mime_type", false)
		if !hasMime {
			m, hasMime = img.str("media_type", false)
		}
		if len(img.errs.details) > 0 {
			errs.details = append(errs.details, img.errs.details...)
			return adapters.Part{}, false
		}
		switch {
		case hasData:
			data, dataLoc = d, at(loc, "data")
		case hasURL:
			data, dataLoc = u, at(loc, "url")
		default:
			errs.add(at(loc, "data"), "missing", msgMissing)
			return adapters.Part{}, false
		}
		if hasMime {
			mime = strings.ToLower(strings.TrimSpace(m))
			if _, ok := imageTypes[mime]; !ok {
				errs.add(at(loc, "mime_type"), "value_error", "Value error, "+quote(m)+" is not a supported image type: use image/png, image/jpeg, image/gif or image/webp")
				return adapters.Part{}, false
			}
		}
	default:
		errs.add(loc, "dict_type", msgDict)
		return adapters.Part{}, false
	}
	bad := func(msg string) (adapters.Part, bool) {
		errs.add(dataLoc, "value_error", "Value error, "+msg)
		return adapters.Part{}, false
	}
	if strings.HasPrefix(data, "http://") || strings.HasPrefix(data, "https://") {
		return bad("images are base64 data, not URLs: URLs are not fetched")
	}
	if len(data) >= 5 && strings.EqualFold(data[:5], "data:") {
		meta, payload, ok := strings.Cut(data[5:], ",")
		if !ok {
			return bad("not a valid data URL: no comma before the data")
		}
		params := strings.Split(meta, ";")
		declared := strings.ToLower(strings.TrimSpace(params[0]))
		if _, known := imageTypes[declared]; !known {
			return bad("media type " + quote(declared) + " is not a supported image type: use image/png, image/jpeg, image/gif or image/webp")
		}
		if !strings.EqualFold(strings.TrimSpace(params[len(params)-1]), "base64") {
			return bad("the data URL must be base64-encoded: data:" + declared + ";base64,<data>")
		}
		if mime != "" && imageTypes[mime] != imageTypes[declared] {
			return bad("the data URL says " + declared + " but mime_type is " + mime)
		}
		mime, data = declared, payload
	}
	data = strings.TrimSpace(data)
	if data == "" {
		return bad("holds no image data")
	}
	// The decoded size is known from the length: an oversized image is
	// refused before it is decoded.
	if n := int64(len(strings.TrimRight(data, "="))) * 3 / 4; n > max {
		errs.add(dataLoc, "image_too_large", "Value error, the image is "+strconv.FormatInt(n, 10)+" bytes decoded, over the limit of "+strconv.FormatInt(max, 10)+" bytes")
		return adapters.Part{}, false
	}
	enc := base64.StdEncoding
	if !strings.HasSuffix(data, "=") && len(data)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	decoded, err := enc.DecodeString(data)
	if err != nil {
		// URL-safe base64 is common too.
		alt := base64.URLEncoding
		if enc == base64.RawStdEncoding {
			alt = base64.RawURLEncoding
		}
		if decoded, err = alt.DecodeString(data); err != nil {
			return bad("the image data is not valid base64")
		}
	}
	sniffed := http.DetectContentType(decoded)
	if _, ok := imageTypes[sniffed]; !ok {
		return bad("the data is not a PNG, JPEG, GIF or WebP image")
	}
	if mime != "" && imageTypes[mime] != sniffed {
		return bad("declared " + mime + " but the data is " + sniffed)
	}
	return adapters.Part{Type: adapters.PartImage, ImageURL: "data:" + sniffed + ";base64," + base64.StdEncoding.EncodeToString(decoded)}, true
}

// commitRequest is a validated CommitRequest.
type commitRequest struct {
	runID, userID, sessionID string
	stream                   bool
	// streamGiven is whether the request named stream at all: a commit
	// that cancels the run and names none answers JSON, as the document's
	// cancel example shows.
	streamGiven bool
	model       string
	decisions   []toolloop.Decision
}

// decodeCommit parses and validates a CommitRequest.
func decodeCommit(body []byte) (*commitRequest, error) {
	errs := &invalid{}
	o, ok := decodeBody(body, errs)
	if !ok {
		return nil, errs
	}
	req := &commitRequest{}
	req.runID = idField(o, "run_id")
	req.userID = idField(o, "user_id")
	req.sessionID = idField(o, "session_id")
	req.stream = o.boolean("stream", true)
	_, req.streamGiven = o.value("stream")
	if m, ok := o.str("model", false); ok && o.length("model", m, 1, 255) {
		req.model = m
	}
	items, _ := o.list("updated_tools", true)
	seen := map[string]bool{}
	for i, raw := range items {
		loc := []any{"body", "updated_tools", i}
		var fields map[string]json.RawMessage
		if kind(raw) != '{' || json.Unmarshal(raw, &fields) != nil {
			errs.add(loc, "model_attributes_type", msgBodyShape)
			continue
		}
		t := &object{fields: fields, loc: loc, errs: errs}
		var d toolloop.Decision
		if id, ok := t.str("tool_call_id", true); ok && t.length("tool_call_id", id, 1, maxIDLen) {
			if seen[id] {
				errs.add(at(loc, "tool_call_id"), "value_error", "Value error, tool call "+quote(id)+" is listed twice")
			}
			seen[id] = true
			d.ToolCallID = id
		}
		if raw, ok := t.fields["confirmed"]; !ok {
			errs.add(at(loc, "confirmed"), "missing", msgMissing)
		} else if kind(raw) != 't' {
			errs.add(at(loc, "confirmed"), "bool_type", msgBool)
		} else {
			d.Confirmed = t.boolean("confirmed", false)
		}
		if args, ok := t.value("tool_args"); ok {
			if kind(args) != '{' {
				errs.add(at(loc, "tool_args"), "dict_type", msgDict)
			} else {
				var buf bytes.Buffer
				_ = json.Compact(&buf, args)
				d.Args = buf.Bytes()
			}
		}
		req.decisions = append(req.decisions, d)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return req, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
