package wire

import (
	"math"
	"strconv"

	"github.com/agentgate/agentgate/internal/jsonx"
)

// The providers write request bodies straight into a byte slice; strings
// go through jsonx.AppendStringJS, numbers and raw JSON through these.

// AppendFloat appends f as a JSON number formatted like encoding/json.
// The caller rejects NaN and infinities first (see Finite).
func AppendFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	n := len(dst)
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		m := len(dst) - n
		if m >= 4 && dst[len(dst)-4] == 'e' && dst[len(dst)-3] == '-' && dst[len(dst)-2] == '0' {
			dst[len(dst)-2] = dst[len(dst)-1]
			dst = dst[:len(dst)-1]
		}
	}
	return dst
}

// AppendStrings appends ss as a JSON array of strings.
func AppendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendStringJS(dst, s)
	}
	return append(dst, ']')
}

// Finite reports whether f can be written as a JSON number.
func Finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// IsNullOrEmpty reports whether raw JSON is absent, blank or the literal
// null.
func IsNullOrEmpty(raw []byte) bool {
	i, j := 0, len(raw)
	for i < j && IsSpace(raw[i]) {
		i++
	}
	for j > i && IsSpace(raw[j-1]) {
		j--
	}
	return i == j || string(raw[i:j]) == "null"
}

// IsSpace reports whether c is JSON whitespace.
func IsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// IsBlank reports whether data holds only JSON whitespace.
func IsBlank(data []byte) bool {
	for _, c := range data {
		if !IsSpace(c) {
			return false
		}
	}
	return true
}

// AppendRaw appends valid JSON raw without its insignificant whitespace:
// clients often send pretty-printed schemas, and the upstream need not
// read them twice.
func AppendRaw(dst, raw []byte) []byte {
	inString, escaped := false, false
	start := 0
	for i, c := range raw {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ' ', '\t', '\n', '\r':
			dst = append(dst, raw[start:i]...)
			start = i + 1
		}
	}
	return append(dst, raw[start:]...)
}
