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
	return appendString(dst, s, false)
}

// AppendStringJS is AppendString that also escapes U+2028 and U+2029, which
// are valid JSON but line terminators to JavaScript parsers (encoding/json
// escapes them too).
func AppendStringJS(dst []byte, s string) []byte {
	return appendString(dst, s, true)
}

func appendString(dst []byte, s string, escapeLineSeparators bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
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
		if escapeLineSeparators && (r == '\u2028' || r == '\u2029') {
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
