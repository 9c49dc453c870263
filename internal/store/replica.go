package store

import (
	"context"
	"time"
)

// Replica is one opwatch process working on the store.
type Replica struct {
	ID        string // the owner id it takes leases with
	Host      string
	PID       int
	Version   string
	StartedAt time.Time
	SeenAt    time.Time // the store's clock at its last heartbeat (set by the store)
}

// StageLease is the lease of a stage that runs on one replica at a time
// (detect, health): whoever holds it does the stage's work; when it dies,
// another takes over once the lease has run out.
type StageLease struct {
	Stage string
	Owner string
	Until time.Time
}

// Coordination is the part replicas share work through, without a
// coordinator: streams and notifications are leased one by one (Ingest,
// Deliver); stages by name here. Every lease is fenced by the store's clock.
type Coordination interface {
	// Heartbeat records r as alive at the store's now (inserted or
	// updated by ID) and forgets replicas not seen for forget.
	Heartbeat(ctx context.Context, r Replica, forget time.Duration) error
	// Replicas lists the replicas heard from, by ID.
	Replicas(ctx context.Context) ([]Replica, error)
	// ClaimStage leases stage to owner for lease from the store's now when
	// it is free, expired, or owner's own (a renewal); ok is false while
	// another owner holds a live lease.
	ClaimStage(ctx context.Context, stage, owner string, lease time.Duration) (ok bool, err error)
	// ReleaseStage ends owner's lease of stage; nothing when owner does
	// not hold it.
	ReleaseStage(ctx context.Context, stage, owner string) error
	// StageLeases lists the stage leases, live or not, by stage.
	StageLeases(ctx context.Context) ([]StageLease, error)
}
