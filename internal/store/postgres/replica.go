package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
)

// Heartbeat records r as alive at the store's now and forgets the replicas
// silent for forget.
func (s *Store) Heartbeat(ctx context.Context, r store.Replica, forget time.Duration) error {
	if r.ID == "" {
		return errors.New("heartbeat: the replica id is empty")
	}
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		started := now
		if !r.StartedAt.IsZero() {
			started = floorMicro(r.StartedAt)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO replicas (id, host, pid, version, started_at, seen_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (id) DO UPDATE SET host = $2, pid = $3, version = $4, seen_at = $6`,
			enc(r.ID), enc(r.Host), r.PID, enc(r.Version), started, now); err != nil {
			return err
		}
		if forget > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM replicas WHERE seen_at < $1`, ceilMicro(now.Add(-forget))); err != nil {
				return fmt.Errorf("forget silent replicas: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// Replicas lists the replicas heard from, by id.
func (s *Store) Replicas(ctx context.Context) ([]store.Replica, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, host, pid, version, started_at, seen_at FROM replicas ORDER BY id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Replica, error) {
		var x store.Replica
		err := r.Scan(textCol{&x.ID}, textCol{&x.Host}, &x.PID, textCol{&x.Version}, timeCol{&x.StartedAt}, timeCol{&x.SeenAt})
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	return out, nil
}

// ClaimStage takes or renews the lease of stage, fenced by the store's
// clock: a live lease of another owner is never taken. Two claims at once
// are one insert and one update of the same row: PostgreSQL runs them one
// after the other, and the second sees the first's lease.
func (s *Store) ClaimStage(ctx context.Context, stage, owner string, lease time.Duration) (bool, error) {
	if stage == "" || owner == "" {
		return false, errors.New("claim stage: the stage or owner is empty")
	}
	if lease <= 0 {
		return false, errors.New("claim stage: the lease is not positive")
	}
	var n int64
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO stage_leases (stage, lease_owner, lease_until) VALUES ($1, $2, $3)
			ON CONFLICT (stage) DO UPDATE SET lease_owner = $2, lease_until = $3
			WHERE stage_leases.lease_owner = $2 OR stage_leases.lease_until <= $4`,
			enc(stage), enc(owner), now.Add(lease), now)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("claim stage %s: %w", stage, err)
	}
	return n == 1, nil
}

// ReleaseStage ends owner's lease of stage at once, so another replica
// need not wait for it to run out.
func (s *Store) ReleaseStage(ctx context.Context, stage, owner string) error {
	if _, err := s.exec(ctx, `DELETE FROM stage_leases WHERE stage = $1 AND lease_owner = $2`, enc(stage), enc(owner)); err != nil {
		return fmt.Errorf("release stage %s: %w", stage, err)
	}
	return nil
}

// StageLeases lists the stage leases, by stage.
func (s *Store) StageLeases(ctx context.Context) ([]store.StageLease, error) {
	rows, err := s.pool.Query(ctx, `SELECT stage, lease_owner, lease_until FROM stage_leases ORDER BY stage COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list stage leases: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.StageLease, error) {
		var l store.StageLease
		err := r.Scan(textCol{&l.Stage}, textCol{&l.Owner}, timeCol{&l.Until})
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("list stage leases: %w", err)
	}
	return out, nil
}
