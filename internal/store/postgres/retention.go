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

// purgeSegmentsSQL picks the segments PurgeEvents deletes whole: of $1,
// whose newest event is before $2, holding no seq that an unresolved alert
// points at or a live dedup group holds ($4: the store's now, or NULL), the
// oldest first, until they hold $3 events. A protected seq within a
// segment's range may be another log type's: the segment is read to tell.
// Compaction moved only events the retention stage had evaluated.
const purgeSegmentsSQL = `WITH protected AS (
		SELECT m.seq FROM alert_matches m JOIN alerts a ON a.id = m.alert_id WHERE a.status <> 'resolved'
		UNION SELECT unnest(g.pending) FROM dedup_groups g WHERE g.pending IS NOT NULL
			AND g.period_end > coalesce($4::timestamptz, clock_timestamp())),
	cand AS (SELECT s.id, s.events, sum(s.events) OVER (ORDER BY s.max_t, s.id) - s.events AS before_it
		FROM event_segments s
		WHERE s.log_type = $1 AND s.max_t < $2 AND NOT EXISTS (SELECT FROM protected p
			WHERE p.seq BETWEEN s.min_seq AND s.max_seq
				AND EXISTS (SELECT FROM opwatch_segment_events(s.data, s.nul) r WHERE r.seq = p.seq)))
	SELECT id, events FROM cand WHERE before_it < $3 ORDER BY before_it`

// PurgeEvents deletes one batch of logType's events before before: whole
// segments of compacted events first (so a batch may exceed batch by a
// segment's events), then hot rows.
func (s *Store) PurgeEvents(ctx context.Context, logType string, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		return 0, fmt.Errorf("purge events of %s: the batch must be positive", logType)
	}
	n := 0
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, purgeLock); err != nil {
			return err
		}
		var err error
		if n, err = purgeSegments(ctx, tx, enc(logType), ceilMicro(before), batch, s.clockArg()); err != nil {
			return err
		}
		if n >= batch {
			return nil
		}
		tag, err := tx.Exec(ctx, purgeEventsSQL, enc(logType), ceilMicro(before), enc(store.RetentionStage), batch-n, s.clockArg())
		n += int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge events of %s before %s: %w", logType, before.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

// purgeSegments deletes the segments purgeSegmentsSQL picks, with their
// events' keys, and returns the events they held.
func purgeSegments(ctx context.Context, tx pgx.Tx, logType string, before time.Time, batch int, now any) (int, error) {
	rows, err := tx.Query(ctx, purgeSegmentsSQL, logType, before, batch, now)
	if err != nil {
		return 0, err
	}
	var ids []int64
	var id, events int64
	n := 0
	if _, err := pgx.ForEachRow(rows, []any{&id, &events}, func() error {
		ids = append(ids, id)
		n += int(events)
		return nil
	}); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if _, err := tx.Exec(ctx, `DELETE FROM event_keys k USING (
			SELECT r.p_event_time AS t, opwatch_event_key(r.log_type, r.account, r.uuid) AS h
			FROM event_segments s, opwatch_segment_events(s.data, s.nul) r WHERE s.id = ANY ($1)) x
		WHERE k.t = x.t AND k.h = x.h`, ids); err != nil {
		return 0, fmt.Errorf("delete the segments' keys: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM event_segments WHERE id = ANY ($1)`, ids); err != nil {
		return 0, fmt.Errorf("delete segments: %w", err)
	}
	return n, nil
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

// lakeStatsSQL groups the hot rows and the segments' sources by log type
// and source. A segment counts as recent whole when its oldest event is at
// or after $1; one that straddles $1 is read for its recent events.
const lakeStatsSQL = `SELECT log_type, source_id, max(label), sum(events)::bigint, sum(raw)::bigint, min(oldest), max(newest),
		sum(recent)::bigint, sum(recent_bytes)::bigint
	FROM (
		SELECT log_type, source_id, max(p_source_label) AS label, count(*) AS events,
			coalesce(sum(octet_length(raw)), 0) AS raw, min(p_event_time) AS oldest, max(p_event_time) AS newest,
			count(*) FILTER (WHERE p_event_time >= $1) AS recent,
			coalesce(sum(octet_length(raw)) FILTER (WHERE p_event_time >= $1), 0) AS recent_bytes
		FROM events GROUP BY log_type, source_id
		UNION ALL
		SELECT s.log_type, j.key COLLATE "C", j.value->>2, (j.value->>0)::bigint, (j.value->>1)::bigint,
			(j.value->>3)::timestamp AT TIME ZONE 'UTC', (j.value->>4)::timestamp AT TIME ZONE 'UTC',
			CASE WHEN s.min_t >= $1 THEN (j.value->>0)::bigint ELSE 0 END,
			CASE WHEN s.min_t >= $1 THEN (j.value->>1)::bigint ELSE 0 END
		FROM event_segments s, json_each(s.sources::json) j
		UNION ALL
		SELECT s.log_type, r.source_id COLLATE "C", NULL, 0, 0, NULL, NULL, 1, octet_length(r.raw)
		FROM event_segments s, opwatch_segment_events(s.data, s.nul) r
		WHERE s.min_t < $1 AND s.max_t >= $1 AND r.p_event_time >= $1
	) g
	GROUP BY log_type, source_id ORDER BY log_type, source_id`

// LakeStats reads the whole events table once, and every segment's
// sources, so it takes as long as reading the hot part of the lake. It
// reads in one snapshot, so that no event counts twice (or not at all)
// while a compaction moves it.
func (s *Store) LakeStats(ctx context.Context, recentSince time.Time) (store.LakeStats, error) {
	var st store.LakeStats
	err := s.readSnapshot(ctx, func(tx pgx.Tx, _ int64) error {
		rows, err := tx.Query(ctx, lakeStatsSQL, ceilMicro(recentSince))
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
		if err := tx.QueryRow(ctx, `SELECT count(*), coalesce(sum(octet_length(raw)), 0), min(at), max(at) FROM quarantine`).
			Scan(&q.Events, &q.RawBytes, timeCol{&q.Oldest}, timeCol{&q.Newest}); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT coalesce(sum(events), 0), coalesce(sum(pg_column_size(data)), 0),
			pg_total_relation_size('events') + pg_total_relation_size('event_segments') +
			pg_total_relation_size('event_keys')
			FROM event_segments`).Scan(&st.Compacted, &st.CompactedBytes, &st.StoredBytes)
	})
	if err != nil {
		return store.LakeStats{}, fmt.Errorf("read the lake's statistics: %w", err)
	}
	return st, nil
}
