package bbolt

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
)

// Usage records are the store's most frequent write (one per model call),
// so they are kept in a compact binary form rather than JSON: a version
// byte, then each string as a uvarint length and its bytes, each number
// as a varint, in the order below. It takes about a third of the JSON's
// pages, and pages are what a commit writes. Version 2 adds the cost:
// after the estimated flag, a byte saying whether it is known, then (if
// so) its micro-dollars as a varint. Version 3 adds the error text of a
// failed call, a string after the cost. Version 1 records (written before
// costs existed) read back with an unknown cost, and records before
// version 3 with no error text.
const (
	usageCodecV1 = 1
	usageCodecV2 = 2
	usageCodecV3 = 3
)

func encodeUsage(r *state.UsageRecord) []byte {
	n := 1 + 10*6 + 2 + binary.MaxVarintLen64
	for _, s := range usageStrings(r) {
		n += binary.MaxVarintLen64 + len(*s)
	}
	n += binary.MaxVarintLen64 + len(r.Error)
	b := make([]byte, 0, n)
	b = append(b, usageCodecV3)
	b = binary.AppendVarint(b, r.Time.UnixNano())
	for _, s := range usageStrings(r) {
		b = binary.AppendUvarint(b, uint64(len(*s)))
		b = append(b, *s...)
	}
	for _, v := range []int64{int64(r.InputTokens), int64(r.OutputTokens), int64(r.ReasoningTokens), int64(r.CachedTokens), r.LatencyMs} {
		b = binary.AppendVarint(b, v)
	}
	b = append(b, byte(boolInt(r.Estimated)))
	if r.Cost == nil {
		b = append(b, 0)
	} else {
		b = binary.AppendVarint(append(b, 1), int64(*r.Cost))
	}
	b = binary.AppendUvarint(b, uint64(len(r.Error)))
	return append(b, r.Error...)
}

// strings lists the record's string fields in codec order.
func usageStrings(r *state.UsageRecord) [10]*string {
	return [10]*string{&r.ID, &r.Tenant, &r.KeyID, &r.Dialect, &r.AgentID, &r.Model, &r.Provider, &r.SessionID, &r.ParentID, &r.Status}
}

var errUsageCodec = errors.New("malformed usage record")

func decodeUsage(b []byte, r *state.UsageRecord) error {
	if len(b) == 0 || b[0] < usageCodecV1 || b[0] > usageCodecV3 {
		return errUsageCodec
	}
	version := b[0]
	b = b[1:]
	nanos, n := binary.Varint(b)
	if n <= 0 {
		return errUsageCodec
	}
	b = b[n:]
	r.Time = time.Unix(0, nanos).UTC()
	for _, s := range usageStrings(r) {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return errUsageCodec
		}
		*s = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	ints := [5]int64{}
	for i := range ints {
		v, n := binary.Varint(b)
		if n <= 0 {
			return errUsageCodec
		}
		ints[i], b = v, b[n:]
	}
	r.InputTokens, r.OutputTokens, r.ReasoningTokens, r.CachedTokens, r.LatencyMs = int(ints[0]), int(ints[1]), int(ints[2]), int(ints[3]), ints[4]
	if len(b) < 1 {
		return errUsageCodec
	}
	r.Estimated, b = b[0] == 1, b[1:]
	r.Cost, r.Error = nil, ""
	if version == usageCodecV1 {
		return endOfUsage(b)
	}
	if len(b) < 1 {
		return errUsageCodec
	}
	known, b := b[0], b[1:]
	if known != 0 {
		cost, n := binary.Varint(b)
		if n <= 0 {
			return errUsageCodec
		}
		c := pricing.Micros(cost)
		r.Cost, b = &c, b[n:]
	}
	if version == usageCodecV2 {
		return endOfUsage(b)
	}
	l, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) != l {
		return errUsageCodec
	}
	r.Error = string(b[n:])
	return nil
}

// endOfUsage checks that nothing follows a record's last field.
func endOfUsage(rest []byte) error {
	if len(rest) != 0 {
		return errUsageCodec
	}
	return nil
}
