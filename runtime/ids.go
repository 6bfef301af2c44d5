package runtime

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns prefix followed by 128 random bits, unguessable and safe
// in URLs: conv_…, run-…, msg_…, resp_…, exec_…, agent_….
func NewID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	var sb strings.Builder
	sb.Grow(len(prefix) + 26)
	sb.WriteString(prefix)
	sb.WriteString(idEncoding.EncodeToString(b[:]))
	return sb.String()
}
