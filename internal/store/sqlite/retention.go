package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// purgeEventsSQL picks the next batch of events to delete: of ?1, before
// ?2, evaluated by the detect stage (seq at or below its position ?3),
// that no unresolved alert points at and no live dedup group (its period
// ends after the store's now, ?5) holds, oldest first, at most ?4. A group
// whose period ended is never joined again: its pending seqs never become
// an alert's. events_key (log_type, p_event_time, ...) serves the
// range; the alerts' and groups' seqs are few and read once.
const purgeEventsSQL = `DELETE FROM events WHERE seq IN (
	SELECT seq FROM events
	WHERE log_type = ?1 AND p_event_time < ?2 AND seq <= ?3
		AND seq NOT IN (SELECT m.seq FROM alert_matches m JOIN alerts a ON a.id = m.alert_id WHERE a.status <> 'resolved')
		AND seq NOT IN (SELECT j.value FROM dedup_groups g, json_each(g.pending) j WHERE g.pending IS NOT NULL AND g.period_end > ?5)
	ORDER BY p_event_time LIMIT ?4)
RETURNING seq`

// PurgeEvents deletes one batch of logType's events before before, and
// their rows of the indicator index, in one transaction.
func (s *Store) PurgeEvents(ctx context.Context, logType string, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		return 0, fmt.Errorf("purge events of %s: the batch must be positive", logType)
	}
	var n int
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var pos int64
		err := tx.QueryRowContext(ctx, `SELECT position FROM stage_positions WHERE stage = ?`, store.RetentionStage).Scan(&pos)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // nothing evaluated yet: nothing may go
		}
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, purgeEventsSQL, logType, timeText(before), pos, batch, timeText(s.now()))
		if err != nil {
			return err
		}
		var seqs []int64
		for rows.Next() {
			var seq int64
			if err := rows.Scan(&seq); err != nil {
				rows.Close()
				return err
			}
			seqs = append(seqs, seq)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		n = len(seqs)
		if err := purgeIndicators(ctx, tx, seqs); err != nil {
			return err
		}
		if n < batch {
			cold, err := s.purgeSegments(ctx, tx, logType, before, batch-n)
			n += cold
			return err
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("purge events of %s before %s: %w", logType, before.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

// purgeIndicators deletes the index rows of the deleted events seqs, one
// statement per block (the key leads with the block, so each reads only
// its block's rows), and forgets a finished block left without any event,
// except the newest indexed one, which marks how far the index reaches
// (indexedSQL).
func purgeIndicators(ctx context.Context, tx *sql.Tx, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	slices.Sort(seqs)
	var newest int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(block), -1) FROM event_indicator_blocks`).Scan(&newest); err != nil {
		return err
	}
	for i := 0; i < len(seqs); {
		block := seqs[i] >> blockShift
		j := i
		for j < len(seqs) && seqs[j]>>blockShift == block {
			j++
		}
		if block > newest {
			break // not indexed yet, nor any block after it
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM event_indicators WHERE block = ? AND seq IN (SELECT value FROM json_each(?))`,
			block, int64Array(seqs[i:j])); err != nil {
			return fmt.Errorf("delete the indicator index's rows of block %d: %w", block, err)
		}
		if block < newest {
			if _, err := tx.ExecContext(ctx, `DELETE FROM event_indicator_blocks WHERE block = ?1
				AND NOT EXISTS (SELECT 1 FROM events WHERE seq >= ?1 << ?2 AND seq < (?1 + 1) << ?2)`, block, blockShift); err != nil {
				return fmt.Errorf("forget the emptied block %d of the indicator index: %w", block, err)
			}
		}
		i = j
	}
	return nil
}

// PurgeQuarantine deletes one batch of quarantined events stored before
// before (quarantine_at serves it).
func (s *Store) PurgeQuarantine(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		return 0, errors.New("purge quarantine: the batch must be positive")
	}
	res, err := s.exec(ctx, `DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE at < ? ORDER BY at LIMIT ?)`,
		timeText(before), batch)
	if err != nil {
		return 0, fmt.Errorf("purge quarantine before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// LakeStats reads the whole events table once (on a reader: ingest goes
// on), so it takes as long as reading the lake.
func (s *Store) LakeStats(ctx context.Context, recentSince time.Time) (store.LakeStats, error) {
	var st store.LakeStats
	err := func() error {
		since := timeText(recentSince)
		rows, err := s.reader.QueryContext(ctx, `SELECT log_type, source_id, max(p_source_label), count(*),
			sum(octet_length(raw)), min(p_event_time), max(p_event_time),
			sum(p_event_time >= ?1), sum(CASE WHEN p_event_time >= ?1 THEN octet_length(raw) ELSE 0 END)
			FROM events GROUP BY log_type, source_id ORDER BY log_type, source_id`, since)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var g store.LakeGroup
			if err := rows.Scan(&g.LogType, &g.SourceID, &g.SourceLabel, &g.Events, &g.RawBytes,
				timeCol{&g.Oldest}, timeCol{&g.Newest}, &g.Recent, &g.RecentBytes); err != nil {
				return err
			}
			st.Groups = append(st.Groups, g)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if err := s.coldStats(ctx, &st, recentSince); err != nil {
			return err
		}
		q := &st.Quarantine
		if err := s.reader.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(octet_length(raw)), 0), min(at), max(at) FROM quarantine`).
			Scan(&q.Events, &q.RawBytes, timeCol{&q.Oldest}, timeCol{&q.Newest}); err != nil {
			return err
		}
		// The file's size: the readers may not read the page counts (their
		// authorizer allows no such pragma), and the file is what the disk holds.
		fi, err := os.Stat(s.path)
		if err != nil {
			return pathless(err)
		}
		st.StoredBytes = fi.Size()
		return nil
	}()
	if err != nil {
		return store.LakeStats{}, fmt.Errorf("read the lake's statistics: %w", err)
	}
	return st, nil
}

// purgeSegments deletes whole segments of logType whose events are all
// before before, oldest first, until at least want events went, with their
// keys and indicator rows; a segment holding an event that an unresolved
// alert points at or a live dedup group holds stays whole.
func (s *Store) purgeSegments(ctx context.Context, tx *sql.Tx, logType string, before time.Time, want int) (int, error) {
	kept, err := int64Column(ctx, tx, `SELECT m.seq FROM alert_matches m JOIN alerts a ON a.id = m.alert_id WHERE a.status <> 'resolved'
		UNION SELECT j.value FROM dedup_groups g, json_each(g.pending) j WHERE g.pending IS NOT NULL AND g.period_end > ?`, timeText(s.now()))
	if err != nil {
		return 0, err
	}
	slices.Sort(kept)
	n := 0
	afterT, afterID := int64(math.MinInt64), int64(math.MinInt64)
	for n < want {
		type seg struct {
			id, minSeq, maxSeq, maxT int64
			data                     []byte
		}
		var segs []seg
		rows, err := tx.QueryContext(ctx, `SELECT id, min_seq, max_seq, max_t, data FROM event_segments
			WHERE log_type = ? AND max_t < ? AND (max_t, id) > (?, ?) ORDER BY max_t, id LIMIT 16`,
			logType, unixNano(before), afterT, afterID)
		if err != nil {
			return n, err
		}
		for rows.Next() {
			var g seg
			if err := rows.Scan(&g.id, &g.minSeq, &g.maxSeq, &g.maxT, &g.data); err != nil {
				rows.Close()
				return n, err
			}
			segs = append(segs, g)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return n, err
		}
		if len(segs) == 0 {
			return n, nil
		}
		for _, g := range segs {
			afterT, afterID = g.maxT, g.id
			evs, err := s.decodeSegment(g.data)
			if err != nil {
				return n, fmt.Errorf("segment %d: %w", g.id, err)
			}
			if slices.ContainsFunc(evs, func(e store.StoredEvent) bool { _, found := slices.BinarySearch(kept, e.Seq); return found }) {
				continue
			}
			keys := make([][2]int64, len(evs))
			inds := map[int64]bool{}
			for i, e := range evs {
				keys[i] = [2]int64{unixNano(e.EventTime), coldKey(e.LogType, e.Account, e.UUID)}
				addIndicators(inds, e)
			}
			keyJSON, _ := json.Marshal(keys)
			indJSON := hashList(inds)
			if _, err := tx.ExecContext(ctx, `DELETE FROM event_keys WHERE (t, h) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))`, string(keyJSON)); err != nil {
				return n, fmt.Errorf("delete the keys of segment %d: %w", g.id, err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM segment_indicators WHERE segment = ? AND h IN (SELECT value FROM json_each(?))`, g.id, indJSON); err != nil {
				return n, fmt.Errorf("delete the indicators of segment %d: %w", g.id, err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM event_segments WHERE id = ?`, g.id); err != nil {
				return n, fmt.Errorf("delete segment %d: %w", g.id, err)
			}
			n += len(evs)
			if n >= want {
				break
			}
		}
	}
	return n, nil
}

// int64Column reads a one-column query of integers.
func int64Column(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
