package bbolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/agentgate/agentgate/state"
)

// Turn records are written once per answered run, so they are kept in a
// compact binary form rather than JSON: a version byte, then the time as
// Unix seconds (varint), nanoseconds (uvarint) and its zone's offset in
// seconds (varint; 0 is UTC), the latency in milliseconds (varint), a
// byte of flags (1: the turn began its session), then the session id and
// the rating, each a uvarint length and its bytes. The tenant, agent and
// run ids are the record's key (turnRecordKey) and are not repeated.
// Records written before schema 5 are JSON objects, read as such: their
// first byte is '{', never a version.
const turnRecordCodecV1 = 1

const turnNewSession = 1

var errTurnRecordCodec = errors.New("malformed turn record")

func encodeTurnRecord(r *state.TurnRecord) []byte {
	b := make([]byte, 0, 1+4*binary.MaxVarintLen64+1+2*binary.MaxVarintLen64+len(r.SessionID)+len(r.Rating))
	b = append(b, turnRecordCodecV1)
	_, offset := r.Time.Zone()
	b = binary.AppendVarint(b, r.Time.Unix())
	b = binary.AppendUvarint(b, uint64(r.Time.Nanosecond()))
	b = binary.AppendVarint(b, int64(offset))
	b = binary.AppendVarint(b, r.LatencyMs)
	b = append(b, byte(boolInt(r.NewSession)*turnNewSession))
	b = binary.AppendUvarint(b, uint64(len(r.SessionID)))
	b = append(b, r.SessionID...)
	b = binary.AppendUvarint(b, uint64(len(r.Rating)))
	return append(b, r.Rating...)
}

// decodeTurnRecord reads the record stored under key k (tenant \0 agent
// \0 run id) with value v.
func decodeTurnRecord(k, v []byte, r *state.TurnRecord) error {
	if len(v) > 0 && v[0] == '{' {
		return json.Unmarshal(v, r)
	}
	tenant, rest, ok := bytes.Cut(k, []byte{0})
	agent, run, ok2 := bytes.Cut(rest, []byte{0})
	if !ok || !ok2 || len(v) == 0 || v[0] != turnRecordCodecV1 {
		return errTurnRecordCodec
	}
	d := turnDecoder{b: v[1:]}
	sec, nsec, offset := d.varint(), d.uvarint(), d.varint()
	latency := d.varint()
	flags := d.byte()
	session, rating := d.string(), d.string()
	if d.err != nil || len(d.b) != 0 || nsec >= uint64(time.Second) || flags&^turnNewSession != 0 {
		return errTurnRecordCodec
	}
	at := time.Unix(sec, int64(nsec)).UTC()
	if offset != 0 {
		at = at.In(time.FixedZone("", int(offset)))
	}
	*r = state.TurnRecord{Tenant: string(tenant), AgentID: string(agent), RunID: string(run), SessionID: session,
		NewSession: flags&turnNewSession != 0, LatencyMs: latency, Time: at, Rating: rating}
	return nil
}

// turnDecoder reads a turn record's fields in turn; the first malformed
// one sets err, and everything after it reads as zero.
type turnDecoder struct {
	b   []byte
	err error
}

func (d *turnDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errTurnRecordCodec
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *turnDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errTurnRecordCodec
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *turnDecoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errTurnRecordCodec
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *turnDecoder) string() string {
	l := d.uvarint()
	if d.err != nil || uint64(len(d.b)) < l {
		d.err = errTurnRecordCodec
		return ""
	}
	s := string(d.b[:l])
	d.b = d.b[l:]
	return s
}
