package bbolt

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/agentgate/agentgate/state"
)

// The on-disk layout of schema version 6. Every name below is a bucket at
// the root of the bbolt file; values are JSON unless noted. (Stores of an
// older version are migrated when opened: migrate.go.)
//
//	meta      "magic" → "agentgate", "schema" → 8-byte big-endian version
//	agents    tenant \0 id → adapters.Agent
//	keys      id → state.APIKey
//	keyhash   sha256 (32 bytes) → id
//	agentturns    tenant \0 agent \0 project \0 id → state.Session, and
//	              tenant \0 agent \0 project \0 id \0 seq (8-byte BE, 1-based) → []adapters.Message:
//	              a session's metadata, then its turns (since schema 6; the
//	              metadata was a bucket of its own, agentsessions, before), so
//	              that a turn's commit rewrites one path of one tree; the
//	              bucket's sequence is the number of sessions it holds
//	usage     tenant \0 unix-nanos (8-byte BE, sign bit flipped) seq (8-byte BE) → state.UsageRecord (binary, usagecodec.go; version 3 since schema 4)
//	usageids  record id → usage key (records already stored: a retried batch adds nothing twice)
//	counters  scope \0 YYYY-MM → tokens (8-byte BE int64)
//	spend     scope \0 YYYY-MM → micro-dollars of the records with a known cost (8-byte BE int64)
//	tiers     name → state.Tier (tiers set through the admin API)
//	runs      tenant \0 id → state.Run (paused runs)
//	counts    tenant \0 name → count (8-byte BE int64; counts.go)
//	docs       tenant \0 id → state.Document (knowledge documents; documents.go)
//	chunks     tenant \0 source \0 doc \0 seq (4-byte BE) → state.Chunk (binary, documents.go)
//	docsources tenant \0 source → state.SourceInfo (counts and revision of a knowledge source)
//	memories  tenant \0 agent \0 id → state.Memory (binary: JSON fields, then float32 embedding; memory.go)
//	agentstats tenant \0 agent → state.AgentStats (memory.go)
//	turnrecs  tenant \0 agent \0 run id → state.TurnRecord (answers end users may rate; memory.go; binary since schema 5, turnreccodec.go)
//	versions  tenant \0 agent id \0 n (8-byte BE, 1-based) → state.AgentVersion (made by the first publish)
//	responses tenant \0 response node id (or, before nodes, session id) → state.StoredResponse (made by the first write)
//	conversations tenant \0 id → state.Conversation (conversations.go)
//	convitems tenant \0 conversation \0 seq (8-byte BE) → state.ConversationItem
//	objects   object id → state.ObjectOwner (upstream objects made through the passthrough; objects.go)
//	declaredkeys key id → first sighting of a configuration-declared key (8-byte BE unix nanos; declaredkeys.go)
//
// Tenants, agents, projects, ids and scopes never contain NUL (writes
// reject them), so a prefix ending in \0 selects exactly one tenant or
// session, and the same prefix ending in \x01 is its exclusive upper
// bound.
var (
	bucketMeta    = []byte("meta")
	bucketAgents  = []byte("agents")
	bucketKeys    = []byte("keys")
	bucketKeyHash = []byte("keyhash")
	// bucketSessions holds the sessions' metadata and their turns (it
	// kept the name of schema 2's bucket of turns).
	bucketSessions = []byte("agentturns")
	bucketUsage    = []byte("usage")
	bucketUsageIDs = []byte("usageids")
	bucketCounters = []byte("counters")
	bucketSpend    = []byte("spend")
	bucketTiers    = []byte("tiers")
	bucketRuns     = []byte("runs")
	bucketCounts   = []byte("counts")

	// Knowledge documents (documents.go).
	bucketDocs       = []byte("docs")
	bucketChunks     = []byte("chunks")
	bucketDocSources = []byte("docsources")

	bucketVersions     = []byte("versions")
	bucketResponses    = []byte("responses")
	bucketDeclaredKeys = []byte("declaredkeys")

	dataBuckets = [][]byte{bucketAgents, bucketKeys, bucketKeyHash, bucketSessions, bucketUsage, bucketUsageIDs, bucketCounters, bucketSpend, bucketTiers, bucketRuns, bucketCounts, bucketDocs, bucketChunks, bucketDocSources, bucketVersions, bucketResponses, bucketDeclaredKeys}

	metaMagicKey  = []byte("magic")
	metaSchemaKey = []byte("schema")
	metaMagic     = []byte("agentgate")
)

// schemaVersion is the layout version this build writes and reads; it
// opens stores of older versions by migrating them (migrate.go).
const schemaVersion = 6

// join returns a \0 b as a fresh key.
func join(a, b string) []byte {
	k := make([]byte, 0, len(a)+1+len(b))
	k = append(k, a...)
	k = append(k, 0)
	return append(k, b...)
}

// prefixEnd returns the exclusive upper bound of the keys starting with
// prefix, which must end in \0.
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	end[len(end)-1] = 1
	return end
}

// sessionKey is the key of the session k names.
func sessionKey(k state.SessionKey) []byte {
	// One spare byte of capacity for turnPrefix's separator.
	key := make([]byte, 0, len(k.Tenant)+len(k.AgentID)+len(k.Project)+len(k.ID)+4)
	for _, part := range [...]string{k.Tenant, k.AgentID, k.Project} {
		key = append(key, part...)
		key = append(key, 0)
	}
	return append(key, k.ID...)
}

// turnPrefix is the key prefix of the turns of the session k names.
func turnPrefix(k state.SessionKey) []byte { return append(sessionKey(k), 0) }

// turnKey is the key of turn seq of a session.
func turnKey(prefix []byte, seq uint64) []byte {
	k := make([]byte, len(prefix), len(prefix)+8)
	copy(k, prefix)
	return binary.BigEndian.AppendUint64(k, seq)
}

// usageKey is the key of a usage record of tenant at t; seq breaks ties
// between records of the same instant.
func usageKey(tenant string, t time.Time, seq uint64) []byte {
	return appendUsageKey(make([]byte, 0, usageKeySize(tenant)), tenant, t, seq)
}

// appendUsageKey appends usageKey(tenant, t, seq) to dst.
func appendUsageKey(dst []byte, tenant string, t time.Time, seq uint64) []byte {
	dst = append(dst, tenant...)
	dst = append(dst, 0)
	dst = binary.BigEndian.AppendUint64(dst, sortableNanos(t))
	return binary.BigEndian.AppendUint64(dst, seq)
}

// usageKeySize is the length of a usage key of tenant.
func usageKeySize(tenant string) int { return len(tenant) + 1 + 16 }

// sortableNanos maps t to a uint64 whose byte order is t's order: Unix
// nanoseconds, clamped to the int64 range (zero times included), with the
// sign bit flipped so times before 1970 sort first.
func sortableNanos(t time.Time) uint64 {
	var n int64
	switch {
	case t.Before(minNanoTime):
		n = math.MinInt64
	case t.After(maxNanoTime):
		n = math.MaxInt64
	default:
		n = t.UnixNano()
	}
	return uint64(n) ^ (1 << 63)
}

var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// counterKey is the key of scope's counter for the month of t.
func counterKey(scope string, t time.Time) []byte { return join(scope, state.MonthKey(t)) }

func encodeInt64(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

func decodeInt64(b []byte) int64 {
	if len(b) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}
