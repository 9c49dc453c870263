package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// Heartbeat records r as alive at the store's now and forgets the replicas
// silent for forget.
func (s *Store) Heartbeat(ctx context.Context, r store.Replica, forget time.Duration) error {
	if r.ID == "" {
		return errors.New("heartbeat: the replica id is empty")
	}
	now := s.now()
	started := r.StartedAt
	if started.IsZero() {
		started = now
	}
	_, err := s.exec(ctx, `INSERT INTO replicas (id, host, pid, version, started_at, seen_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET host = $2, pid = $3, version = $4, seen_at = $6`,
		r.ID, r.Host, r.PID, r.Version, timeText(started), timeText(now))
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	if forget > 0 {
		if _, err := s.exec(ctx, `DELETE FROM replicas WHERE seen_at < ?`, timeText(now.Add(-forget))); err != nil {
			return fmt.Errorf("heartbeat: forget silent replicas: %w", err)
		}
	}
	return nil
}

// Replicas lists the replicas heard from, by id.
func (s *Store) Replicas(ctx context.Context) ([]store.Replica, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT id, host, pid, version, started_at, seen_at FROM replicas ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	defer rows.Close()
	var out []store.Replica
	for rows.Next() {
		var r store.Replica
		if err := rows.Scan(&r.ID, &r.Host, &r.PID, &r.Version, timeCol{&r.StartedAt}, timeCol{&r.SeenAt}); err != nil {
			return nil, fmt.Errorf("list replicas: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	return out, nil
}

// ClaimStage takes or renews the lease of stage, fenced by the store's
// clock: a live lease of another owner is never taken.
func (s *Store) ClaimStage(ctx context.Context, stage, owner string, lease time.Duration) (bool, error) {
	if stage == "" || owner == "" {
		return false, errors.New("claim stage: the stage or owner is empty")
	}
	if lease <= 0 {
		return false, errors.New("claim stage: the lease is not positive")
	}
	now := s.now()
	res, err := s.exec(ctx, `INSERT INTO stage_leases (stage, lease_owner, lease_until) VALUES ($1, $2, $3)
		ON CONFLICT (stage) DO UPDATE SET lease_owner = $2, lease_until = $3
		WHERE stage_leases.lease_owner = $2 OR stage_leases.lease_until <= $4`,
		stage, owner, timeText(now.Add(lease)), timeText(now))
	if err != nil {
		return false, fmt.Errorf("claim stage %s: %w", stage, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim stage %s: %w", stage, err)
	}
	return n == 1, nil
}

// ReleaseStage ends owner's lease of stage at once, so another replica
// need not wait for it to run out.
func (s *Store) ReleaseStage(ctx context.Context, stage, owner string) error {
	if _, err := s.exec(ctx, `DELETE FROM stage_leases WHERE stage = ? AND lease_owner = ?`, stage, owner); err != nil {
		return fmt.Errorf("release stage %s: %w", stage, err)
	}
	return nil
}

// StageLeases lists the stage leases, by stage.
func (s *Store) StageLeases(ctx context.Context) ([]store.StageLease, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT stage, lease_owner, lease_until FROM stage_leases ORDER BY stage`)
	if err != nil {
		return nil, fmt.Errorf("list stage leases: %w", err)
	}
	defer rows.Close()
	var out []store.StageLease
	for rows.Next() {
		var l store.StageLease
		if err := rows.Scan(&l.Stage, &l.Owner, timeCol{&l.Until}); err != nil {
			return nil, fmt.Errorf("list stage leases: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list stage leases: %w", err)
	}
	return out, nil
}
