// Package replica lets several opwatch processes share one store without a
// coordinator: each heartbeats, and a stage that must run in one place at a
// time (detect, health) runs where its lease is held, moving to another
// replica when the holder stops renewing it.
package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// DefaultLease is how long a stage stays with a replica that stopped
// renewing (killed, paused, cut off) before another takes it over.
const DefaultLease = 30 * time.Second

// Runner runs stages under leases for one replica.
type Runner struct {
	Store  store.Coordination
	Self   store.Replica // ID is the lease owner
	Lease  time.Duration // default DefaultLease
	Logger *slog.Logger
}

func (r *Runner) lease() time.Duration {
	if r.Lease <= 0 {
		return DefaultLease
	}
	return r.Lease
}

func (r *Runner) log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// Heartbeat records the replica as alive every third of a lease until ctx
// ends; replicas silent for a day are forgotten. A failed heartbeat is
// logged and tried again: it only feeds `opwatch status`.
func (r *Runner) Heartbeat(ctx context.Context) error {
	every := r.lease() / 3
	for {
		if err := r.Store.Heartbeat(ctx, r.Self, 24*time.Hour); err != nil && ctx.Err() == nil {
			r.log().Warn("replica heartbeat failed", "err", err)
		}
		if !sleep(ctx, every) {
			return nil
		}
	}
}

// Singleton runs run while this replica holds the lease of stage: it waits
// for the lease, renews it every third of a lease while run works, and
// cancels run's context when a renewal fails or finds the lease taken (a
// replica paused past its lease must not go on as if it held it; the
// stages' commits are fenced besides). When run returns early with an
// error the lease is released and taken again after a pause. Singleton
// returns when ctx ends.
func (r *Runner) Singleton(ctx context.Context, stage string, run func(ctx context.Context) error) error {
	lease := r.lease()
	log := r.log().With("stage", stage)
	waiting := false
	for {
		ok, err := r.Store.ClaimStage(ctx, stage, r.Self.ID, lease)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.Warn("cannot claim the stage's lease; trying again", "err", err)
		case !ok:
			if !waiting {
				log.Info("another replica runs this stage; standing by")
				waiting = true
			}
		default:
			waiting = false
			if err := r.hold(ctx, stage, run, log); err != nil {
				log.Error("stage stopped; it starts again shortly", "err", err)
			}
			// Released (or lost): anyone may take it now.
		}
		// Ask often (a cheap query), so that a stage whose replica died is
		// taken over soon after its lease runs out; jitter, so replicas that
		// wait do not ask in step.
		if !sleep(ctx, lease/10+rand.N(lease/20+1)) {
			return nil
		}
	}
}

var errLeaseLost = errors.New("stage lease lost to another replica")

// hold runs run under a held lease until it returns, ctx ends or the lease
// is lost.
func (r *Runner) hold(ctx context.Context, stage string, run func(ctx context.Context) error, log *slog.Logger) error {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan error, 1)
	log.Info("this replica runs the stage")
	go func() { done <- run(runCtx) }()
	t := time.NewTicker(r.lease() / 3)
	defer t.Stop()
	renewed, lost := time.Now(), false
	for {
		select {
		case err := <-done:
			// A fresh context: ctx may be over, and the release is what
			// lets another replica start at once.
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer rcancel()
			if rerr := r.Store.ReleaseStage(rctx, stage, r.Self.ID); rerr != nil {
				log.Warn("cannot release the stage's lease; it runs out by itself", "err", rerr)
			}
			if errors.Is(context.Cause(runCtx), errLeaseLost) {
				return errLeaseLost
			}
			if ctx.Err() != nil {
				return nil
			}
			if err == nil {
				return errors.New("the stage returned")
			}
			return err
		case <-t.C:
			if lost {
				continue // waiting for run to wind down; never claim again here
			}
			ok, err := r.Store.ClaimStage(ctx, stage, r.Self.ID, r.lease())
			switch {
			case ctx.Err() != nil:
				// run sees ctx end and returns
			case err == nil && ok:
				renewed = time.Now()
			case err == nil:
				lost = true
				log.Warn("another replica took the stage's lease; stopping the stage here")
				cancel(errLeaseLost)
			case time.Since(renewed) > r.lease()/2:
				// Renewals keep failing: the lease may run out before
				// the store answers again.
				lost = true
				log.Warn("stage lease not renewed; stopping the stage here", "err", err)
				cancel(fmt.Errorf("%w: %w", errLeaseLost, err))
			default:
				log.Warn("stage lease renewal failed; trying again", "err", err)
			}
		}
	}
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
