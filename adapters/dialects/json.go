package dialects

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/jsonx"
)

// WriteJSON answers with status and v encoded as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding response"}`)
	}
	WriteRawJSON(w, status, b)
}

// WriteRawJSON answers with status and an encoded JSON body.
func WriteRawJSON(w http.ResponseWriter, status int, body []byte) {
	setJSONHeaders(w.Header(), len(body))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// WriteJSONText answers with status and a JSON body made of parts, in
// order, written as they are: an answer relayed with an edit in its
// middle (a model name) goes out without being copied whole first.
func WriteJSONText(w http.ResponseWriter, status int, parts ...string) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	setJSONHeaders(w.Header(), n)
	w.WriteHeader(status)
	for _, p := range parts {
		if p != "" {
			// io.Writer neither keeps nor modifies what it is given.
			_, _ = w.Write(unsafe.Slice(unsafe.StringData(p), len(p)))
		}
	}
}

// autoLengthMax is the largest body net/http sends with a Content-Length
// of its own: a handler's writes that fit its 2 KiB response buffer, with
// no Flush, are counted when the handler returns (http.ResponseWriter's
// Write: "If the total size of all written data is under a few KB and
// there are no Flush calls, the Content-Length header is added
// automatically"; HTTP/2 does the same).
const autoLengthMax = 2048

// setJSONHeaders sets a JSON answer's Content-Type, and its
// Content-Length unless net/http will (autoLengthMax). Leaving it to
// net/http keeps a response with Caddy's Server header and the six
// rate-limit headers at eight entries, which Go keeps in one small map
// group: a ninth grows the map, and net/http's copy of it at WriteHeader,
// on every such request.
func setJSONHeaders(h http.Header, size int) {
	// The keys are canonical already. The values are the request's own
	// (a header operation may rewrite a value in place); both share one
	// slice.
	if size <= autoLengthMax {
		h["Content-Type"] = []string{"application/json"}
		return
	}
	v := []string{"application/json", strconv.Itoa(size)}
	h["Content-Type"], h["Content-Length"] = v[:1:1], v[1:2:2]
}

// ReadBody reads r's body up to limit bytes; a larger body is a 413. It
// is the one read of a request's body: the dialect decodes what it reads,
// and admission estimates from the decoded call, not from the bytes.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = 8 << 20
	}
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	if r.ContentLength >= 0 {
		// The server delivers exactly ContentLength bytes: one allocation.
		body := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, BodyError(err)
		}
		return body, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, BodyError(err)
	}
	if int64(len(body)) > limit {
		return nil, tooLarge(limit)
	}
	return body, nil
}

// BodyError is the 400 for a request body that could not be read: one
// that did not arrive within the server's read timeout (Caddy's read_body),
// or one the client broke off.
func BodyError(err error) *adapters.Error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "request_timeout",
			Message: "the request body did not arrive within the server's read timeout"}
	}
	return adapters.Errorf(adapters.KindInvalidRequest, "reading request body: %v", err)
}

func tooLarge(limit int64) *adapters.Error {
	return &adapters.Error{Kind: adapters.KindTooLarge, Code: "request_too_large",
		Message: "request body is larger than the limit of " + strconv.FormatInt(limit, 10) + " bytes"}
}

// DecodeJSON reads r's body (up to limit) into v and turns every decoding
// failure into a 400 that names the field at fault.
func DecodeJSON(r *http.Request, limit int64, v any) ([]byte, error) {
	body, err := ReadBody(r, limit)
	if err != nil {
		return nil, err
	}
	return body, Unmarshal(body, v)
}

// Unmarshal decodes body, which must be one JSON object, into v, with
// errors that name the field at fault. An empty body, null, and data
// after the object are 400s like malformed JSON.
func Unmarshal(body []byte, v any) error {
	if err := checkBody(body); err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return jsonError(err)
	}
	return nil
}

// UnmarshalStrict is Unmarshal refusing fields v does not have, for APIs
// whose every field is agentgate's own (the admin API, versions), where
// a misspelt field silently ignored would change what the call does.
func UnmarshalStrict(body []byte, v any) error {
	if err := checkBody(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			field, _ = strconv.Unquote(field)
			return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "unknown_field", Param: field,
				Message: field + ": unknown field"}
		}
		return jsonError(err)
	}
	if rest := body[dec.InputOffset():]; len(bytes.TrimSpace(rest)) > 0 {
		return trailingData(dec.InputOffset() + int64(len(rest)-len(bytes.TrimLeft(rest, " \t\r\n"))))
	}
	return nil
}

// checkBody refuses the bodies that are not a JSON value to decode into a
// request: empty, or null (which json.Unmarshal takes for "nothing").
func checkBody(body []byte) *adapters.Error {
	switch t := bytes.TrimSpace(body); {
	case len(t) == 0:
		return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "invalid_json", Message: "request body is empty; expected a JSON object"}
	case string(t) == "null":
		return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "invalid_json", Message: "request body is null; expected a JSON object"}
	}
	return nil
}

func trailingData(offset int64) *adapters.Error {
	return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "invalid_json",
		Message: "unexpected data after the JSON object at byte " + strconv.FormatInt(offset, 10) + "; send exactly one JSON object"}
}

func jsonError(err error) *adapters.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "invalid_json",
				Message: "request body must be a JSON object, not " + te.Value}
		}
		return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "invalid_type", Param: field,
			Message: field + ": expected " + typeName(te.Type.String()) + ", got " + te.Value}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		if strings.HasSuffix(se.Error(), "after top-level value") {
			return trailingData(se.Offset - 1)
		}
		return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "invalid_json",
			Message: "malformed JSON at byte " + strconv.FormatInt(se.Offset, 10) + ": " + se.Error()}
	}
	var fe *adapters.Error
	if errors.As(err, &fe) {
		return fe
	}
	return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "invalid_json", Message: "malformed JSON: " + err.Error()}
}

func typeName(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map"), strings.Contains(goType, "."):
		return "an object"
	}
	return goType
}

// AppendString appends s to dst as a JSON string. It is the hot-path
// alternative to json.Marshal for stream chunks: no allocation, no HTML
// escaping, invalid UTF-8 replaced by U+FFFD. See jsonx.AppendString.
func AppendString(dst []byte, s string) []byte {
	return jsonx.AppendString(dst, s)
}

// SetRetryAfter sets Retry-After (whole seconds, rounded up) and
// retry-after-ms, which the OpenAI SDKs prefer, when err says when to
// come back.
func SetRetryAfter(w http.ResponseWriter, err *adapters.Error) {
	if err.RetryAfter <= 0 {
		return
	}
	h := w.Header()
	h.Set("Retry-After", strconv.FormatInt(int64((err.RetryAfter+time.Second-1)/time.Second), 10))
	h.Set("retry-after-ms", strconv.FormatInt(err.RetryAfter.Milliseconds(), 10))
}
