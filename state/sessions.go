package state

import (
	"context"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

// Sessions keeps conversations: each session's metadata and its turns
// (the messages one call added), in order.
//
// A session's turns keep their order: a turn appended after another's
// append returned comes after it, whichever instance appended either, and
// concurrent appends to one session each get their own place (none is
// lost or merged). Turns are numbered 1, 2, … without gaps.
type Sessions interface {
	// GetSession returns the session k names, or ErrNotFound. The same id
	// under another tenant, agent or project names another session.
	GetSession(ctx context.Context, k SessionKey) (*Session, error)
	// AppendTurn adds one turn's messages to the session s.Key() names,
	// creating it (created at s.Created unless zero) when it does not
	// exist. s.Updated is the turn's time: a store keeps no clock of its
	// own. It is durable when it returns, and sets s.Turns to the
	// session's number of turns with this one (1: it began the session).
	AppendTurn(ctx context.Context, s *Session, msgs []adapters.Message) error
	// RecentTurns returns the messages of the last n turns of the session
	// k names, oldest first (n <= 0, or no such session, gives none).
	RecentTurns(ctx context.Context, k SessionKey, n int) ([]adapters.Message, error)
}

// Session is a stored conversation's metadata; its messages are read with
// RecentTurns. Tenant, AgentID, Project and ID are its key.
type Session struct {
	ID      string `json:"id"`
	Tenant  string `json:"tenant"`
	AgentID string `json:"agent_id"`
	// Project is the project the session belongs to (Tenzro projects);
	// empty for dialects without projects.
	Project string    `json:"project,omitempty"`
	Turns   int       `json:"turns"`
	Created time.Time `json:"created_at"`
	Updated time.Time `json:"updated_at"`
}

// SessionKey names a session: a conversation id is scoped to the tenant,
// the agent it talks to and the project (where the dialect has projects),
// so an id that is new to an agent starts a new conversation with it.
type SessionKey struct {
	Tenant, AgentID, Project, ID string
}

// Key returns the key that names s.
func (s *Session) Key() SessionKey {
	return SessionKey{Tenant: s.Tenant, AgentID: s.AgentID, Project: s.Project, ID: s.ID}
}

// CheckSessionKey reports which part of k cannot be stored.
func CheckSessionKey(k SessionKey) error {
	switch {
	case !ValidName(k.Tenant):
		return InvalidID("tenant", k.Tenant)
	case !ValidName(k.AgentID):
		return InvalidID("agent id", k.AgentID)
	case !ValidName(k.Project):
		return InvalidID("project", k.Project)
	case !ValidID(k.ID):
		return InvalidID("session id", k.ID)
	}
	return nil
}
