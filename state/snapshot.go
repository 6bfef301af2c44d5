package state

import (
	"context"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/pricing"
)

// Snapshots reads every object of a store out and writes objects read
// out of another store in: `caddy agentgate store copy` moves a gateway's
// state from one backend to another with it.
type Snapshots interface {
	// Export calls fn with every object the store holds, one Record each,
	// kinds in the order of RecordKinds (so an Import of the records in
	// that order rebuilds the store). An error from fn stops it and is
	// returned.
	Export(ctx context.Context, fn func(*Record) error) error
	// Import writes records another store exported, as they were: ids,
	// revisions, times, counters, ratings and revisions of knowledge
	// sources are kept, nothing is counted again (usage records do not
	// add to counters, turn records not to statistics; the counter and
	// statistics records that follow set them). An object that exists
	// already is replaced. A record with a key part its kind's writes
	// refuse (CheckRecord) fails the import with ErrInvalidID, and none
	// of recs is written.
	Import(ctx context.Context, recs []*Record) error
}

// Record is one exported object: exactly one field is set.
type Record struct {
	Agent        *adapters.Agent     `json:"agent,omitempty"`
	Version      *AgentVersion       `json:"version,omitempty"`
	Key          *APIKey             `json:"key,omitempty"`
	Declared     *DeclaredKeyRecord  `json:"declared_key,omitempty"`
	Tier         *Tier               `json:"tier,omitempty"`
	Session      *SessionRecord      `json:"session,omitempty"`
	Run          *Run                `json:"run,omitempty"`
	Usage        *UsageRecord        `json:"usage,omitempty"`
	Counter      *CounterRecord      `json:"counter,omitempty"`
	Count        *CountRecord        `json:"count,omitempty"`
	Memory       *Memory             `json:"memory,omitempty"`
	Stats        *StatsRecord        `json:"stats,omitempty"`
	Turn         *TurnRecord         `json:"turn,omitempty"`
	Document     *DocumentRecord     `json:"document,omitempty"`
	Source       *SourceRecord       `json:"source,omitempty"`
	Response     *StoredResponse     `json:"response,omitempty"`
	Conversation *ConversationRecord `json:"conversation,omitempty"`
	Object       *ObjectRecord       `json:"object,omitempty"`
}

// ConversationRecord is a conversation with its items, oldest first.
type ConversationRecord struct {
	Conversation
	Items []ConversationItem `json:"items"`
}

// ObjectRecord is the owner of one object made upstream.
type ObjectRecord struct {
	ID string `json:"id"`
	ObjectOwner
}

// SessionRecord is a session with all its turns, oldest first.
type SessionRecord struct {
	Session
	Messages [][]adapters.Message `json:"messages"`
}

// DeclaredKeyRecord is when a key the configuration declares was first
// seen.
type DeclaredKeyRecord struct {
	ID   string    `json:"id"`
	Seen time.Time `json:"seen"`
}

// CounterRecord is one monthly counter: tokens and known spend.
type CounterRecord struct {
	Scope  string         `json:"scope"`
	Month  string         `json:"month"` // as MonthKey formats it
	Tokens int64          `json:"tokens"`
	Spend  pricing.Micros `json:"spend_usd,omitempty"`
}

// CountRecord is one of a tenant's named counts.
type CountRecord struct {
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	N      int64  `json:"n"`
}

// StatsRecord is one tenant's statistics of one agent.
type StatsRecord struct {
	Tenant  string `json:"tenant"`
	AgentID string `json:"agent_id"`
	AgentStats
}

// DocumentRecord is a knowledge document with its chunks.
type DocumentRecord struct {
	Document
	Chunks []Chunk `json:"chunks"`
}

// SourceRecord is a tenant's knowledge source with its counts and
// revision.
type SourceRecord struct {
	Tenant string `json:"tenant"`
	SourceInfo
}

// RecordKinds are the kinds of Record in export order; Kind names them.
var RecordKinds = []string{"agent", "version", "key", "declared_key", "tier", "session", "run", "usage", "counter", "count",
	"memory", "stats", "turn", "document", "source", "response", "conversation", "object"}

// Kind names what r holds, one of RecordKinds ("" when nothing).
func (r *Record) Kind() string {
	switch {
	case r.Agent != nil:
		return "agent"
	case r.Version != nil:
		return "version"
	case r.Key != nil:
		return "key"
	case r.Declared != nil:
		return "declared_key"
	case r.Tier != nil:
		return "tier"
	case r.Session != nil:
		return "session"
	case r.Run != nil:
		return "run"
	case r.Usage != nil:
		return "usage"
	case r.Counter != nil:
		return "counter"
	case r.Count != nil:
		return "count"
	case r.Memory != nil:
		return "memory"
	case r.Stats != nil:
		return "stats"
	case r.Turn != nil:
		return "turn"
	case r.Document != nil:
		return "document"
	case r.Source != nil:
		return "source"
	case r.Response != nil:
		return "response"
	case r.Conversation != nil:
		return "conversation"
	case r.Object != nil:
		return "object"
	}
	return ""
}

// CheckRecord reports which part of r's key its kind's writes would
// refuse, if one: a snapshot is client input to Import, and a key part
// with a NUL would read as another tenant's in a key-value backend.
func CheckRecord(r *Record) error {
	names := func(kvs ...string) error { // kind, value, kind, value…; a value must be a ValidName
		for i := 0; i < len(kvs); i += 2 {
			if !ValidName(kvs[i+1]) {
				return InvalidID(kvs[i], kvs[i+1])
			}
		}
		return nil
	}
	ids := func(kvs ...string) error { // as names, each a ValidID
		for i := 0; i < len(kvs); i += 2 {
			if !ValidID(kvs[i+1]) {
				return InvalidID(kvs[i], kvs[i+1])
			}
		}
		return nil
	}
	first := func(errs ...error) error {
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}
	switch {
	case r.Agent != nil:
		return CheckAgent(r.Agent)
	case r.Version != nil:
		return first(names("tenant", r.Version.Tenant), ids("agent id", r.Version.AgentID))
	case r.Key != nil:
		return first(ids("key id", r.Key.ID), names("tenant", r.Key.Tenant))
	case r.Declared != nil:
		return ids("key id", r.Declared.ID)
	case r.Tier != nil:
		return ids("tier", r.Tier.Name)
	case r.Session != nil:
		return CheckSessionKey(r.Session.Key())
	case r.Run != nil:
		return first(names("tenant", r.Run.Tenant), ids("run id", r.Run.ID))
	case r.Usage != nil:
		return CheckUsage(r.Usage)
	case r.Counter != nil:
		return names("counter scope", r.Counter.Scope, "counter month", r.Counter.Month)
	case r.Count != nil:
		return first(names("tenant", r.Count.Tenant), ids("counter", r.Count.Name))
	case r.Memory != nil:
		return CheckMemory(r.Memory)
	case r.Stats != nil:
		return first(names("tenant", r.Stats.Tenant), ids("agent id", r.Stats.AgentID))
	case r.Turn != nil:
		return first(names("tenant", r.Turn.Tenant, "run id", r.Turn.RunID), ids("agent id", r.Turn.AgentID))
	case r.Document != nil:
		return first(names("tenant", r.Document.Tenant), ids("document id", r.Document.ID, "knowledge source", r.Document.Source))
	case r.Source != nil:
		return first(names("tenant", r.Source.Tenant), ids("knowledge source", r.Source.Name))
	case r.Response != nil:
		return first(names("tenant", r.Response.Tenant), ids("response id", r.Response.ID))
	case r.Conversation != nil:
		c := r.Conversation
		if err := first(names("tenant", c.Tenant), ids("conversation id", c.ID)); err != nil {
			return err
		}
		for _, it := range c.Items {
			if err := ids("conversation item id", it.ID); err != nil {
				return err
			}
		}
		return nil
	case r.Object != nil:
		return first(names("tenant", r.Object.Tenant), ids("object id", r.Object.ID))
	}
	return nil
}
