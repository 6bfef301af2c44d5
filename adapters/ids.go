package adapters

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"
)

// idEncoding is base32 with an alphabet in ASCII order, so ids sort as
// their bytes do.
var idEncoding = base32.NewEncoding("234567abcdefghijklmnopqrstuvwxyz").WithPadding(base32.NoPadding)

// NewID returns prefix followed by 26 characters: a 48-bit millisecond
// timestamp, then 80 random bits. Ids are unguessable and, for one
// prefix, sort by creation time, so stores keyed by them (runs, turn
// records, sessions) append to the end of their B-trees instead of
// touching a random page per insert.
//
// The timestamp is the machine's, not the gateway's clock
// (internal/clock): it is an ordering device nothing reads back as a
// date, and under a test's manual clock, which stands still, every id
// would share one timestamp and ids made one after the other would sort
// at random.
func NewID(prefix string) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails on supported platforms
	var enc [26]byte        // idEncoding.EncodedLen(16)
	idEncoding.Encode(enc[:], b[:])
	var sb strings.Builder
	sb.Grow(len(prefix) + len(enc))
	sb.WriteString(prefix)
	sb.Write(enc[:])
	return sb.String()
}

// Quote puts a client-given id or name in single quotes for an error
// message, clipped to 128 bytes so a huge value cannot bloat the answer.
func Quote(s string) string {
	if len(s) > 128 {
		s = s[:128] + "…"
	}
	return "'" + s + "'"
}
