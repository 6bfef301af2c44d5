package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"

	"github.com/agentgate/agentgate/adapters"
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
	// Before marks a signature on a thought part that signs the thoughts
	// before that part, whose own text starts the next thinking block.
	Before bool `json:"b,omitempty"`
	// Blocks are thinking blocks that ended together, in order, where the
	// fields above cannot say them (one signed block, then encrypted
	// thoughts): two signed blocks whose thoughts the client did not
	// see, encrypted thoughts before signed ones. Anthropic verifies each
	// block on its own.
	Blocks []packedBlock `json:"k,omitempty"`
}

// packedBlock is one thinking block of packed.Blocks: signed reasoning
// (its text when the client did not see it) or encrypted thoughts.
type packedBlock struct {
	Signature string `json:"s,omitempty"`
	Thinking  string `json:"t,omitempty"`
	Redacted  string `json:"d,omitempty"`
}

// packBlocks packs thinking blocks that ended together, in order: one
// signed block first and encrypted thoughts after it in packed's own
// fields (the form older clients hold), anything else as Blocks.
func packBlocks(blocks []adapters.ReasoningBlock) packed {
	var p packed
	for i, b := range blocks {
		if b.Redacted != "" {
			p.Redacted = append(p.Redacted, b.Redacted)
			continue
		}
		if i > 0 {
			p = packed{Blocks: make([]packedBlock, len(blocks))}
			for j, b := range blocks {
				p.Blocks[j] = packedBlock{Signature: b.Signature, Thinking: b.Text, Redacted: b.Redacted}
			}
			return p
		}
		p.Signature, p.Thinking = b.Signature, b.Text
	}
	return p
}

// blocks are the thinking blocks p carries, in order; a signed block's
// Text is its hidden reasoning ("" when the client saw it).
func (p packed) blocks() []adapters.ReasoningBlock {
	if len(p.Blocks) > 0 {
		out := make([]adapters.ReasoningBlock, len(p.Blocks))
		for i, b := range p.Blocks {
			out[i] = adapters.ReasoningBlock{Text: b.Thinking, Signature: b.Signature, Redacted: b.Redacted}
		}
		return out
	}
	var out []adapters.ReasoningBlock
	if p.Signature != "" || p.Thinking != "" {
		out = append(out, adapters.ReasoningBlock{Text: p.Thinking, Signature: p.Signature})
	}
	for _, d := range p.Redacted {
		out = append(out, adapters.ReasoningBlock{Redacted: d})
	}
	return out
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
	if p.Thinking == "" && !p.Reasoning && len(p.Redacted) == 0 && !p.Before && len(p.Blocks) == 0 && plainSignature(p.Signature) {
		return p.Signature
	}
	js, _ := json.Marshal(p)
	return base64.StdEncoding.EncodeToString(append([]byte(packMagic), js...))
}

// readSignature turns a client's thoughtSignature back into what
// wireSignature packed: the canonical signature, hidden reasoning and
// whether it signs the message's reasoning. A signature agentgate did not
// pack (Gemini's own, relayed by another gateway, …), and one that only
// looks packed, is canonical as it is: the upstream that signed it judges
// it.
func readSignature(wire string) packed {
	b, err := base64.StdEncoding.DecodeString(wire)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(wire)
	}
	if err == nil && bytes.HasPrefix(b, []byte(packMagic)) {
		var p packed
		if json.Unmarshal(b[len(packMagic):], &p) == nil && p.wellFormed() {
			return p
		}
	}
	return packed{Signature: wire}
}

// wellFormed reports whether p is one wireSignature packs: Blocks alone,
// each a signature (with its hidden reasoning) or encrypted thoughts; or
// without Blocks, a signature, encrypted thoughts or both. Anything else
// would lose or make up a block.
func (p *packed) wellFormed() bool {
	if len(p.Blocks) > 0 {
		if p.Signature != "" || p.Thinking != "" || len(p.Redacted) > 0 {
			return false
		}
		for _, b := range p.Blocks {
			if (b.Signature == "") == (b.Redacted == "") || b.Redacted != "" && b.Thinking != "" {
				return false
			}
		}
		return true
	}
	if p.Signature == "" && (p.Thinking != "" || len(p.Redacted) == 0) {
		return false
	}
	return !slices.Contains(p.Redacted, "")
}
