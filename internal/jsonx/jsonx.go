// Package jsonx writes JSON strings straight into a byte slice, for the
// hot paths (stream chunks, upstream request bodies) where json.Marshal
// would allocate. It is shared by the dialects and the providers.
package jsonx

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// AppendString appends s to dst as a JSON string: no allocation beyond
// dst's growth, no HTML escaping (<, > and & stay as they are), invalid
// UTF-8 replaced by U+FFFD as with encoding/json. U+2028 and U+2029 are
// written as they are.
func AppendString(dst []byte, s string) []byte {
	return appendString(dst, s, plain)
}

// AppendStringJS is AppendString that also escapes U+2028 and U+2029, which
// are valid JSON but line terminators to JavaScript parsers (encoding/json
// escapes them too).
func AppendStringJS(dst []byte, s string) []byte {
	return appendString(dst, s, lineSeparators)
}

// AppendStringGo appends s byte for byte as encoding/json's Marshal writes
// it: AppendStringJS that also escapes <, > and & for HTML and writes \b
// and \f short. For bytes that must equal what json.Marshal stored.
func AppendStringGo(dst []byte, s string) []byte {
	return appendString(dst, s, lineSeparators|html|shortBF)
}

// form says which optional escapes a string gets.
type form uint8

const (
	plain          form = 0
	lineSeparators form = 1 << iota // U+2028 and U+2029 as \u2028, \u2029
	html                            // <, > and & as \u003c, \u003e, \u0026
	shortBF                         // \b and \f rather than \u0008, \u000c
)

func appendString(dst []byte, s string, f form) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && (f&html == 0 || c != '<' && c != '>' && c != '&') {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\b' && f&shortBF != 0:
				dst = append(dst, '\\', 'b')
			case c == '\f' && f&shortBF != 0:
				dst = append(dst, '\\', 'f')
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if f&lineSeparators != 0 && (r == '\u2028' || r == '\u2029') {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
