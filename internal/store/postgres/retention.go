package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
)

// purgeEventsSQL deletes the next batch of events: of $1, before $2,
// evaluated by the retention stage (seq at or below its position, $3),
// that no unresolved alert points at and no live dedup group holds (one
// whose period ends after the store's now, $5, or the server's clock when
// NULL: a group whose period ended is never joined again), oldest first,
// at most $4. events_key (log_type, p_event_time, ...) serves the
// range; the alerts' and groups' seqs are few, and hashed once. The
// indicator index is part of the row: it goes with it.
const purgeEventsSQL = `DELETE FROM events WHERE seq IN (
	SELECT e.seq FROM events e, stage_positions p
	WHERE p.stage = $3 AND e.log_type = $1 AND e.p_event_time < $2 AND e.seq <= p.position
		AND e.seq NOT IN (SELECT m.seq FROM alert_matches m JOIN alerts a ON a.id = m.alert_id WHERE a.status <> 'resolved')
		AND e.seq NOT IN (SELECT unnest(g.pending) FROM dedup_groups g WHERE g.pending IS NOT NULL
			AND g.period_end > coalesce($5::timestamptz, clock_timestamp()))
	ORDER BY e.p_event_time LIMIT $4)`

// PurgeEvents deletes one batch of logType's events before before.
func (s *Store) PurgeEvents(ctx context.Context, logType string, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		return 0, fmt.Errorf("purge events of %s: the batch must be positive", logType)
	}
	tag, err := s.exec(ctx, purgeEventsSQL, enc(logType), ceilMicro(before), enc(store.RetentionStage), batch, s.clockArg())
	if err != nil {
		return 0, fmt.Errorf("purge events of %s before %s: %w", logType, before.UTC().Format(time.RFC3339), err)
	}
	return int(tag.RowsAffected()), nil
}

// PurgeQuarantine deletes one batch of quarantined events stored before
// before (quarantine_at serves it).
func (s *Store) PurgeQuarantine(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		return 0, errors.New("purge quarantine: the batch must be positive")
	}
	tag, err := s.exec(ctx, `DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE at < $1 ORDER BY at LIMIT $2)`,
		ceilMicro(before), batch)
	if err != nil {
		return 0, fmt.Errorf("purge quarantine before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	return int(tag.RowsAffected()), nil
}

// LakeStats reads the whole events table once, so it takes as long as
// reading the lake.
func (s *Store) LakeStats(ctx context.Context, recentSince time.Time) (store.LakeStats, error) {
	var st store.LakeStats
	err := func() error {
		rows, err := s.pool.Query(ctx, `SELECT log_type, source_id, max(p_source_label), count(*),
			coalesce(sum(octet_length(raw)), 0), min(p_event_time), max(p_event_time),
			count(*) FILTER (WHERE p_event_time >= $1), coalesce(sum(octet_length(raw)) FILTER (WHERE p_event_time >= $1), 0)
			FROM events GROUP BY log_type, source_id ORDER BY log_type, source_id`, ceilMicro(recentSince))
		if err != nil {
			return err
		}
		st.Groups, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.LakeGroup, error) {
			var g store.LakeGroup
			err := r.Scan(textCol{&g.LogType}, textCol{&g.SourceID}, textCol{&g.SourceLabel}, &g.Events, &g.RawBytes,
				timeCol{&g.Oldest}, timeCol{&g.Newest}, &g.Recent, &g.RecentBytes)
			return g, err
		})
		if err != nil {
			return err
		}
		q := &st.Quarantine
		if err := s.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(octet_length(raw)), 0), min(at), max(at) FROM quarantine`).
			Scan(&q.Events, &q.RawBytes, timeCol{&q.Oldest}, timeCol{&q.Newest}); err != nil {
			return err
		}
		return s.pool.QueryRow(ctx, `SELECT pg_total_relation_size('events')`).Scan(&st.StoredBytes)
	}()
	if err != nil {
		return store.LakeStats{}, fmt.Errorf("read the lake's statistics: %w", err)
	}
	return st, nil
}
