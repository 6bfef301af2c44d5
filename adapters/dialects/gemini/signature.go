package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
)

// Thought signatures on the wire. Gemini's thoughtSignature is opaque
// bytes, base64 in JSON, that a client sends back unchanged on the part
// that carried it; the Gen AI SDKs decode and re-encode it, so it must be
// valid base64. Canonical signatures are strings: Gemini's own in
// standard base64 (the gemini provider's form), Anthropic's as Anthropic
// sent them, which need not be base64 at all.
//
// A canonical signature that is canonical standard base64 goes out as it
// is, so Gemini's own round trip byte for byte. Any other, and a
// reasoning signature whose thinking text the client did not see (its
// includeThoughts was off, and Anthropic verifies a signature against the
// text it signs) or that rides on a function call part, goes out packed:
// base64 of packMagic and a small JSON object holding the signature, the
// hidden text and what the signature signs. Unpacking gives them back.

// packMagic starts a packed signature's bytes.
const packMagic = "agentgate.thought.v1\x00"

// packed is a packed signature's JSON.
type packed struct {
	// Signature is the canonical signature.
	Signature string `json:"s"`
	// Thinking is the signed reasoning the client did not see.
	Thinking string `json:"t,omitempty"`
	// Reasoning marks the signature of the message's reasoning rather
	// than of the part that carries it (a function call).
	Reasoning bool `json:"r,omitempty"`
	// Redacted are encrypted thoughts (Anthropic redacted_thinking) to
	// replay with the reasoning.
	Redacted []string `json:"d,omitempty"`
}

// plainSignature reports whether s can go out as it is: standard, padded
// base64 that decodes and re-encodes to itself, and not mistakable for a
// packed signature.
func plainSignature(s string) bool {
	if s == "" {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	return err == nil && base64.StdEncoding.EncodeToString(b) == s && !bytes.HasPrefix(b, []byte(packMagic))
}

// wireSignature is the thoughtSignature sent for p: the canonical
// signature as it is when nothing else travels with it, packed otherwise —
// with signed reasoning the client does not see, encrypted thoughts, or
// the mark of a reasoning signature on a part that is not the
// reasoning's (a function call part, whose own signature it would
// otherwise pass for).
func wireSignature(p packed) string {
	if p.Thinking == "" && !p.Reasoning && len(p.Redacted) == 0 && plainSignature(p.Signature) {
		return p.Signature
	}
	js, _ := json.Marshal(p)
	return base64.StdEncoding.EncodeToString(append([]byte(packMagic), js...))
}

// readSignature turns a client's thoughtSignature back into what
// wireSignature packed: the canonical signature, hidden reasoning and
// whether it signs the message's reasoning. A signature agentgate did not
// pack (Gemini's own, relayed by another gateway, …) is canonical as it
// is.
func readSignature(wire string) packed {
	b, err := base64.StdEncoding.DecodeString(wire)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(wire)
	}
	if err == nil && bytes.HasPrefix(b, []byte(packMagic)) {
		var p packed
		if json.Unmarshal(b[len(packMagic):], &p) == nil && (p.Signature != "" || len(p.Redacted) > 0) {
			return p
		}
	}
	return packed{Signature: wire}
}
