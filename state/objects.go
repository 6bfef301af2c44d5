package state

import (
	"context"
	"time"
)

// Objects records which tenant made each object an upstream keeps (files,
// batches, vector stores, uploads, fine-tuning jobs, …) through the
// gateway's passthrough, and at which provider, so a tenant reaches only
// its own: the upstream account is shared, its ids are not.
//
// Ownership is first come: an id a tenant owns is never given to another.
type Objects interface {
	// ClaimObjects records tenant as the owner of ids at provider, in one
	// transaction; ids owned already (by anyone) keep their owner.
	ClaimObjects(ctx context.Context, tenant, provider string, ids []string, at time.Time) error
	// ObjectOwners returns the owners of those of ids that have one.
	ObjectOwners(ctx context.Context, ids []string) (map[string]ObjectOwner, error)
	// ReleaseObject forgets id if tenant owns it (the upstream deleted it).
	ReleaseObject(ctx context.Context, tenant, id string) error
}

// ObjectOwner is who made an upstream object, where and when.
type ObjectOwner struct {
	Tenant   string    `json:"tenant"`
	Provider string    `json:"provider"`
	Created  time.Time `json:"created_at"`
}
