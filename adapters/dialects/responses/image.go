package responses

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
)

// defaultMaxImageBytes applies when the configuration sets no image limit.
const defaultMaxImageBytes = 5 << 20

// imageTypes are the accepted media types of inline images and the type
// each must sniff as (image/jpg is a common misspelling of image/jpeg).
var imageTypes = map[string]string{
	"image/png":  "image/png",
	"image/jpeg": "image/jpeg",
	"image/jpg":  "image/jpeg",
	"image/gif":  "image/gif",
	"image/webp": "image/webp",
}

func badImage(field, format string, args ...any) *adapters.Error {
	e := adapters.BadField(field, format, args...)
	e.Code = "invalid_image"
	return e
}

// decodeImage validates an input_image part: image_url is an https URL or
// a base64 data URL of a PNG, JPEG, GIF or WebP image within the size
// limit whose bytes are the type it declares.
func decodeImage(field string, p *contentPart, limits dialects.Limits) (adapters.Part, error) {
	switch p.Detail {
	case "", "auto", "low", "high":
	default:
		return adapters.Part{}, adapters.BadField(field+".detail", "must be auto, low or high, got %q", clip(p.Detail))
	}
	if p.ImageURL == nil || *p.ImageURL == "" {
		if p.FileID != nil {
			return adapters.Part{}, adapters.BadField(field+".file_id", "uploaded files are not supported: send the image as image_url, a data: or https URL")
		}
		return adapters.Part{}, missing(field+".image_url", "is required: a data: or https URL")
	}
	s := *p.ImageURL
	field += ".image_url"
	if len(s) >= 8 && strings.EqualFold(s[:8], "https://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return adapters.Part{}, badImage(field, "is not a valid https URL")
		}
		return adapters.Part{Type: adapters.PartImage, ImageURL: s, Detail: p.Detail}, nil
	}
	if len(s) < 5 || !strings.EqualFold(s[:5], "data:") {
		return adapters.Part{}, badImage(field, "must be an https URL or a base64 data URL (data:image/png;base64,…), got %s", preview(s))
	}
	max := limits.MaxImageBytes
	if max <= 0 {
		max = defaultMaxImageBytes
	}
	meta, data, ok := strings.Cut(s[5:], ",")
	if !ok {
		return adapters.Part{}, badImage(field, "is not a valid data URL: no comma before the data")
	}
	params := strings.Split(meta, ";")
	mediaType := strings.ToLower(strings.TrimSpace(params[0]))
	want, known := imageTypes[mediaType]
	if !known {
		return adapters.Part{}, badImage(field, "media type %q is not supported: use image/png, image/jpeg, image/gif or image/webp", clip(mediaType))
	}
	if !strings.EqualFold(strings.TrimSpace(params[len(params)-1]), "base64") {
		return adapters.Part{}, badImage(field, "must be base64-encoded: data:%s;base64,<data>", mediaType)
	}
	if data == "" {
		return adapters.Part{}, badImage(field, "holds no image data after \"base64,\"")
	}
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
		return adapters.Part{}, badImage(field, "image data is not valid base64")
	}
	if got := http.DetectContentType(decoded); got != want {
		return adapters.Part{}, badImage(field, "declares %s but the data is %s", mediaType, got)
	}
	// Send the canonical media type and padded base64, rebuilding the URL
	// only when the client's differs.
	u := s
	if canon := "data:" + want + ";base64,"; enc != base64.StdEncoding || !strings.HasPrefix(s, canon) || len(s)-len(data) != len(canon) {
		u = canon + base64.StdEncoding.EncodeToString(decoded)
	}
	return adapters.Part{Type: adapters.PartImage, ImageURL: u, Detail: p.Detail}, nil
}

// preview quotes the start of s for an error message.
func preview(s string) string {
	if len(s) > 32 {
		return strconv.Quote(s[:32]) + "…"
	}
	return strconv.Quote(s)
}
