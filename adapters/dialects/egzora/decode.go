package egzora

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
)

// chatRequest is the body of POST /v1/chat. Unknown fields are ignored.
type chatRequest struct {
	AgentID          *string `json:"agent_id"`
	Message          *string `json:"message"`
	SessionID        *string `json:"session_id"`
	Stream           *bool   `json:"stream"`
	ReasoningEnabled *bool   `json:"reasoning_enabled"`
	// Images are decoded item by item so a bad one is named by index.
	Images []json.RawMessage `json:"images"`
	// Temperature is Egzora's one sampling setting (not in the chat
	// table of the document, but part of its agents' configuration).
	Temperature *float64 `json:"temperature"`
}

// decodedChat is a validated /v1/chat request, ready to become a Call once
// its agent is resolved.
type decodedChat struct {
	agentID string
	call    adapters.Call
}

// maxSessionID bounds client-chosen session ids.
const maxSessionID = 256

// defaultMaxImageBytes applies when the configuration sets no image limit.
const defaultMaxImageBytes = 5 << 20

// decodeChat parses and validates a /v1/chat body. Every failure is an
// *adapters.Error with a 4xx status naming the field at fault.
func decodeChat(body []byte, limits dialects.Limits) (*decodedChat, error) {
	var req chatRequest
	if err := dialects.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	if req.AgentID == nil || *req.AgentID == "" {
		return nil, adapters.BadField("agent_id", "is required: the id or name of an agent from GET /v1/agents")
	}
	if req.Message == nil {
		return nil, adapters.BadField("message", "is required")
	}
	if strings.TrimSpace(*req.Message) == "" {
		return nil, adapters.BadField("message", "must not be empty")
	}
	out := &decodedChat{agentID: *req.AgentID}
	c := &out.call
	if req.SessionID != nil && *req.SessionID != "" {
		if err := checkSessionID(*req.SessionID); err != nil {
			return nil, err
		}
		c.SessionID = *req.SessionID
	}
	c.Stream = req.Stream != nil && *req.Stream
	c.Reasoning = req.ReasoningEnabled
	if t := req.Temperature; t != nil {
		if math.IsNaN(*t) || *t < 0 || *t > 2 {
			return nil, adapters.BadField("temperature", "must be between 0 and 2")
		}
		c.Sampling.Temperature = t
	}
	maxImage := limits.MaxImageBytes
	if maxImage <= 0 {
		maxImage = defaultMaxImageBytes
	}
	parts := make([]adapters.Part, 0, 1+len(req.Images))
	parts = append(parts, adapters.Part{Type: adapters.PartText, Text: *req.Message})
	for i, raw := range req.Images {
		p, err := decodeImage("images["+strconv.Itoa(i)+"]", raw, maxImage)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	c.Messages = []adapters.Message{{Role: adapters.RoleUser, Parts: parts}}
	return out, nil
}

func checkSessionID(id string) error {
	if len(id) > maxSessionID {
		return adapters.BadField("session_id", "is longer than %d bytes", maxSessionID)
	}
	for _, r := range id {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return adapters.BadField("session_id", "must be printable text without control characters")
		}
	}
	return nil
}

// imageTypes are the accepted media types of inline images and the type
// each must sniff as (image/jpg is a common misspelling of image/jpeg).
var imageTypes = map[string]string{
	"image/png":  "image/png",
	"image/jpeg": "image/jpeg",
	"image/jpg":  "image/jpeg",
	"image/gif":  "image/gif",
	"image/webp": "image/webp",
}

const imageForm = "data:image/<png|jpeg|gif|webp>;base64,<data>"

func badImage(field, format string, args ...any) *adapters.Error {
	e := adapters.BadField(field, format, args...)
	e.Code = "invalid_image"
	return e
}

// decodeImage validates one item of images: a base64 data URL of a PNG,
// JPEG, GIF or WebP image no larger than max bytes once decoded, whose
// bytes are the type it declares.
func decodeImage(field string, raw json.RawMessage, max int64) (adapters.Part, error) {
	var s string
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return adapters.Part{}, badImage(field, "must be a string holding a base64 data URL (%s)", imageForm)
	}
	if len(s) < 5 || !strings.EqualFold(s[:5], "data:") {
		return adapters.Part{}, badImage(field, "must be a base64 data URL starting with \"data:image/\" (%s), got %s",
			imageForm, preview(s))
	}
	meta, data, ok := strings.Cut(s[5:], ",")
	if !ok {
		return adapters.Part{}, badImage(field, "is not a valid data URL: no comma before the data (%s)", imageForm)
	}
	params := strings.Split(meta, ";")
	mediaType := strings.ToLower(strings.TrimSpace(params[0]))
	want, known := imageTypes[mediaType]
	if !known {
		if strings.HasPrefix(mediaType, "image/") {
			return adapters.Part{}, badImage(field, "image type %q is not supported: use image/png, image/jpeg, image/gif or image/webp", mediaType)
		}
		return adapters.Part{}, badImage(field, "media type %q is not an image type: use image/png, image/jpeg, image/gif or image/webp", mediaType)
	}
	if !strings.EqualFold(strings.TrimSpace(params[len(params)-1]), "base64") {
		return adapters.Part{}, badImage(field, "must be base64-encoded: data:%s;base64,<data>", mediaType)
	}
	if data == "" {
		return adapters.Part{}, badImage(field, "holds no image data after \"base64,\"")
	}
	// The decoded size is known from the length, so an oversized image is
	// refused before it is decoded.
	if n := int64(len(strings.TrimRight(data, "="))) * 3 / 4; n > max {
		e := adapters.BadField(field, "image is %d bytes decoded, over the limit of %d bytes", n, max)
		e.Code = "image_too_large"
		return adapters.Part{}, e
	}
	enc := base64.StdEncoding
	if !strings.HasSuffix(data, "=") && len(data)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	decoded, err := enc.DecodeString(data)
	if err != nil {
		return adapters.Part{}, badImage(field, "image data is not valid base64 (%v)", err)
	}
	if got := http.DetectContentType(decoded); got != want {
		if _, ok := imageTypes[got]; ok {
			return adapters.Part{}, badImage(field, "declares %s but the data is %s", mediaType, got)
		}
		return adapters.Part{}, badImage(field, "the data is not a PNG, JPEG, GIF or WebP image")
	}
	// Upstreams differ in what they accept: send the canonical media type
	// (image/jpeg for image/jpg) and padded base64, rebuilding the URL only
	// when the client's differs.
	url := s
	if canon := "data:" + want + ";base64,"; enc != base64.StdEncoding || !strings.HasPrefix(s, canon) || len(s)-len(data) != len(canon) {
		url = canon + base64.StdEncoding.EncodeToString(decoded)
	}
	return adapters.Part{Type: adapters.PartImage, ImageURL: url}, nil
}

// preview quotes the start of s for an error message.
func preview(s string) string {
	if len(s) > 32 {
		s = s[:32]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		return strconv.Quote(s) + "…"
	}
	return strconv.Quote(s)
}
