// Package validjson checks that bytes are one JSON value, as gjson's
// validator does, without its recursion limit: gjson validates nested
// arrays and objects by recursing once per level, so a body of a few
// megabytes of '[' grows a goroutine's stack past Go's 1 GB maximum — a
// fatal error no recover catches, which ends every request of the
// process. Everything that validates bytes it did not write itself (a
// client's body, an upstream's answer) goes through here.
package validjson

import "github.com/tidwall/gjson"

// MaxDepth is encoding/json's limit on nesting, which it refuses beyond:
// the gateway takes no deeper JSON from either side.
const MaxDepth = 10000

// Bytes reports whether b is one valid JSON value nested at most
// MaxDepth deep.
func Bytes(b []byte) bool { return withinDepth(b) && gjson.ValidBytes(b) }

// String is Bytes for a string.
func String(s string) bool { return withinDepth(s) && gjson.Valid(s) }

// withinDepth reports whether no array or object of b is nested deeper
// than MaxDepth, strings skipped. It does not validate: malformed input
// is left to gjson, which returns before recursing deep on it.
func withinDepth[T string | []byte](b T) bool {
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > MaxDepth {
				return false
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return true
}
