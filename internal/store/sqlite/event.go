package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

func insertQuarantine(ctx context.Context, tx *sql.Tx, t target, qs []store.Quarantined, now time.Time) error {
	for _, q := range qs {
		at := q.At
		if at.IsZero() {
			at = now
		}
		raw := q.Raw
		if raw == nil {
			raw = []byte{}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO quarantine (source_id, log_type, raw, reason, at) VALUES (?, ?, ?, ?, ?)`,
			t.sourceID, t.logType, raw, q.Reason, timeText(at)); err != nil {
			return fmt.Errorf("quarantine event: %w", err)
		}
	}
	return nil
}

// streamTarget reads what a stream's events share. An event's account is
// Event.Account, else its source's, else (not known yet, or the source is
// gone) 'source:' || source_id, the key events had before accounts.
const streamTarget = `SELECT st.source_id, st.log_type, coalesce(so.name, ''),
		coalesce(nullif(so.account_uuid, ''), 'source:' || st.source_id)
	FROM streams st LEFT JOIN sources so ON so.id = st.source_id WHERE st.id = ?`

// CommitPage stores the page and the cursor in one transaction, fenced by the
// lease: checked first (so a lost lease costs nothing) and again by the final
// UPDATE, whose zero rows roll everything back.
func (s *Store) CommitPage(ctx context.Context, c store.PageCommit) (store.CommitResult, error) {
	b, err := s.prepareBatch(ctx, c.Events, s.now())
	if err != nil {
		return store.CommitResult{}, fmt.Errorf("commit page of stream %d: %w", c.StreamID, err)
	}
	var res store.CommitResult
	lost := fmt.Errorf("commit page of stream %d: %w: %q no longer holds a live lease; the page will be fetched again",
		c.StreamID, store.ErrLeaseLost, c.LeaseOwner)
	err = s.withTx(ctx, func(tx *sql.Tx) error {
		now := s.now() // the lease is fenced by the time the write lock was taken
		var t target
		err := tx.QueryRowContext(ctx, streamTarget+` AND st.lease_owner = ? AND st.lease_until > ?`,
			c.StreamID, c.LeaseOwner, timeText(now)).Scan(&t.sourceID, &t.logType, &t.sourceName, &t.account)
		if errors.Is(err, sql.ErrNoRows) || c.LeaseOwner == "" {
			return lost
		}
		if err != nil {
			return err
		}
		if res.Inserted, err = b.insert(ctx, tx, t); err != nil {
			return err
		}
		if err := insertQuarantine(ctx, tx, t, c.Quarantine, now); err != nil {
			return err
		}
		up, err := tx.ExecContext(ctx, `UPDATE streams SET cursor = $1, events = events + $2,
			quarantined = quarantined + $3, last_event_at = coalesce(max(last_event_at, $4), last_event_at, $4),
			last_stored_at = CASE WHEN $2 > 0 THEN $7 ELSE last_stored_at END
			WHERE id = $5 AND lease_owner = $6 AND lease_until > $7`,
			c.Cursor, res.Inserted, len(c.Quarantine), b.lastEvent, c.StreamID, c.LeaseOwner, timeText(now))
		if err != nil {
			return err
		}
		if n, _ := up.RowsAffected(); n == 0 {
			return lost
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			return store.CommitResult{}, err
		}
		return store.CommitResult{}, fmt.Errorf("commit page of stream %d: %w", c.StreamID, err)
	}
	res.Duplicates = len(c.Events) - res.Inserted
	res.Quarantined = len(c.Quarantine)
	return res, nil
}

// InsertEvents stores events for backfill and reconciliation: no cursor, no
// lease, but the stream's counters and last event time still move.
func (s *Store) InsertEvents(ctx context.Context, streamID int64, events []store.Event, quarantine []store.Quarantined) (store.CommitResult, error) {
	now := s.now()
	b, err := s.prepareBatch(ctx, events, now)
	if err != nil {
		return store.CommitResult{}, fmt.Errorf("insert events into stream %d: %w", streamID, err)
	}
	var res store.CommitResult
	err = s.withTx(ctx, func(tx *sql.Tx) error {
		var t target
		err := tx.QueryRowContext(ctx, streamTarget, streamID).Scan(&t.sourceID, &t.logType, &t.sourceName, &t.account)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("stream %d: %w", streamID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if res.Inserted, err = b.insert(ctx, tx, t); err != nil {
			return err
		}
		if err := insertQuarantine(ctx, tx, t, quarantine, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE streams SET events = events + $1, quarantined = quarantined + $2,
			last_event_at = coalesce(max(last_event_at, $3), last_event_at, $3),
			last_stored_at = CASE WHEN $1 > 0 THEN $5 ELSE last_stored_at END WHERE id = $4`,
			res.Inserted, len(quarantine), b.lastEvent, streamID, timeText(s.now()))
		return err
	})
	if err != nil {
		return store.CommitResult{}, fmt.Errorf("insert events into stream %d: %w", streamID, err)
	}
	res.Duplicates = len(events) - res.Inserted
	res.Quarantined = len(quarantine)
	return res, nil
}

func (s *Store) ListQuarantine(ctx context.Context, sourceID string, limit int) ([]store.Quarantined, error) {
	if limit <= 0 {
		limit = -1 // no limit
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT id, source_id, log_type, raw, reason, at FROM quarantine
		WHERE ? = '' OR source_id = ? ORDER BY at DESC, id DESC LIMIT ?`, sourceID, sourceID, limit)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	defer rows.Close()
	var qs []store.Quarantined
	for rows.Next() {
		var q store.Quarantined
		if err := rows.Scan(&q.ID, &q.SourceID, &q.LogType, &q.Raw, &q.Reason, timeCol{&q.At}); err != nil {
			return nil, fmt.Errorf("list quarantine: %w", err)
		}
		qs = append(qs, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	return qs, nil
}
