package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
)

const streamColumns = `id, source_id, log_type, enabled, cursor, status, next_poll_at, last_poll_at,
	last_success_at, last_error, last_error_at, consecutive_failures, last_event_at, last_stored_at,
	last_reconcile_at, events, quarantined, lease_owner, lease_until`

// streamColumnsOf is streamColumns of the table named alias.
const streamColumnsOf = `st.id, st.source_id, st.log_type, st.enabled, st.cursor, st.status, st.next_poll_at, st.last_poll_at,
	st.last_success_at, st.last_error, st.last_error_at, st.consecutive_failures, st.last_event_at, st.last_stored_at,
	st.last_reconcile_at, st.events, st.quarantined, st.lease_owner, st.lease_until`

func scanStream(row pgx.Row) (store.Stream, error) {
	var st store.Stream
	err := row.Scan(&st.ID, textCol{&st.SourceID}, textCol{&st.LogType}, &st.Enabled, textCol{&st.Cursor}, &st.Status,
		timeCol{&st.NextPollAt}, timeCol{&st.LastPollAt}, timeCol{&st.LastSuccessAt},
		textCol{&st.LastError}, timeCol{&st.LastErrorAt}, &st.ConsecutiveFailures, timeCol{&st.LastEventAt},
		timeCol{&st.LastStoredAt}, timeCol{&st.LastReconcileAt}, &st.Events, &st.Quarantined, textCol{&st.LeaseOwner},
		timeCol{&st.LeaseUntil})
	return st, err
}

func scanStreams(rows pgx.Rows) ([]store.Stream, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Stream, error) { return scanStream(r) })
}

// Streams lists the streams of a source ("" for all), ordered by source name
// then log type.
func (s *Store) Streams(ctx context.Context, sourceID string) ([]store.Stream, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+streamColumnsOf+` FROM streams st LEFT JOIN sources so ON so.id = st.source_id
		WHERE $1 = '' OR st.source_id = $1
		ORDER BY so.name COLLATE "C", st.log_type COLLATE "C"`, enc(sourceID))
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	sts, err := scanStreams(rows)
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	return sts, nil
}

func (s *Store) Stream(ctx context.Context, id int64) (store.Stream, error) {
	st, err := scanStream(s.pool.QueryRow(ctx, `SELECT `+streamColumns+` FROM streams WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return st, fmt.Errorf("stream %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return st, fmt.Errorf("read stream %d: %w", id, err)
	}
	return st, nil
}

// ClaimStreams leases the due streams that no live lease holds, the longest
// due first. FOR UPDATE SKIP LOCKED lets replicas claim at once without
// waiting on each other: a row another claim is taking is left to it.
func (s *Store) ClaimStreams(ctx context.Context, owner string, lease time.Duration, max int) ([]store.Stream, error) {
	if owner == "" {
		return nil, errors.New("claim streams: the lease owner is empty")
	}
	if max <= 0 || lease <= 0 {
		return nil, nil
	}
	var sts []store.Stream
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE streams st SET lease_owner = $1, lease_until = $2
			WHERE st.id IN (
				SELECT id FROM streams
				WHERE next_poll_at <= $3 AND enabled AND status <> 'stopped'
					AND (lease_until IS NULL OR lease_until <= $3)
				ORDER BY next_poll_at, id LIMIT $4
				FOR UPDATE SKIP LOCKED)
			RETURNING `+streamColumnsOf,
			enc(owner), now.Add(lease), now, max)
		if err != nil {
			return err
		}
		sts, err = scanStreams(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim streams: %w", err)
	}
	sort.Slice(sts, func(i, j int) bool {
		if !sts[i].NextPollAt.Equal(sts[j].NextPollAt) {
			return sts[i].NextPollAt.Before(sts[j].NextPollAt)
		}
		return sts[i].ID < sts[j].ID
	})
	return sts, nil
}

// ClaimStream leases one stream whatever its schedule, status or enabled
// state, unless another owner holds a live lease.
func (s *Store) ClaimStream(ctx context.Context, id int64, owner string, lease time.Duration) (store.Stream, error) {
	if owner == "" {
		return store.Stream{}, errors.New("claim stream: the lease owner is empty")
	}
	if lease <= 0 {
		return store.Stream{}, errors.New("claim stream: the lease is not positive")
	}
	var st store.Stream
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		st, err = scanStream(tx.QueryRow(ctx, `UPDATE streams SET lease_owner = $1, lease_until = $2
			WHERE id = $3 AND (lease_owner = $1 OR lease_until IS NULL OR lease_until <= $4)
			RETURNING `+streamColumns, enc(owner), now.Add(lease), id, now))
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var holder string
		switch err := tx.QueryRow(ctx, `SELECT lease_owner FROM streams WHERE id = $1`, id).Scan(textCol{&holder}); {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("stream %d: %w", id, store.ErrNotFound)
		case err != nil:
			return err
		}
		return fmt.Errorf("stream %d: %w: %q holds it; try again when its poll ends", id, store.ErrLeaseLost, holder)
	})
	if err != nil {
		return store.Stream{}, fmt.Errorf("claim stream: %w", err)
	}
	return st, nil
}

// ExtendLease renews a live lease from the store's now: a lease that has
// ended stays ended, whatever the holder's clock says.
func (s *Store) ExtendLease(ctx context.Context, streamID int64, owner string, lease time.Duration) error {
	if owner == "" {
		return errors.New("extend lease: the lease owner is empty")
	}
	if lease <= 0 {
		return errors.New("extend lease: the lease is not positive")
	}
	var n int64
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE streams SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND lease_until > $4`,
			now.Add(lease), streamID, enc(owner), now)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("extend lease of stream %d: %w", streamID, err)
	}
	if n == 0 {
		return fmt.Errorf("extend lease of stream %d: %w: %q no longer holds a live lease", streamID, store.ErrLeaseLost, owner)
	}
	return nil
}

// FinishPoll records the outcome at the store's now and releases the lease,
// unless another owner holds the stream by now: then it changes nothing and
// says so.
func (s *Store) FinishPoll(ctx context.Context, o store.PollOutcome) error {
	var cursor any
	if o.Cursor != nil {
		cursor = enc(*o.Cursor)
	}
	var n int64
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		at, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		var reconciled any
		if o.Reconciled {
			reconciled = at
		}
		var tag interface{ RowsAffected() int64 }
		if o.Err == "" && !o.Stopped {
			tag, err = tx.Exec(ctx, `UPDATE streams SET
				status = 'ok', last_poll_at = $1, last_success_at = $1, next_poll_at = $2,
				consecutive_failures = 0,
				cursor = coalesce($3, cursor), last_reconcile_at = coalesce($4, last_reconcile_at),
				lease_owner = '', lease_until = NULL
				WHERE id = $5 AND lease_owner = $6 AND $6 <> ''`,
				at, floorMicro(o.NextPollAt), cursor, reconciled, o.StreamID, enc(o.LeaseOwner))
		} else {
			status, msg := store.StreamError, o.Err
			if o.Stopped {
				status = store.StreamStopped
				if msg == "" {
					msg = "stopped"
				}
			}
			tag, err = tx.Exec(ctx, `UPDATE streams SET
				status = $7, last_poll_at = $1, last_error = $8, last_error_at = $1, next_poll_at = $2,
				consecutive_failures = consecutive_failures + 1,
				cursor = coalesce($3, cursor), last_reconcile_at = coalesce($4, last_reconcile_at),
				lease_owner = '', lease_until = NULL
				WHERE id = $5 AND lease_owner = $6 AND $6 <> ''`,
				at, floorMicro(o.NextPollAt), cursor, reconciled, o.StreamID, enc(o.LeaseOwner), status, enc(msg))
		}
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish poll of stream %d: %w", o.StreamID, err)
	}
	if n == 0 {
		return fmt.Errorf("finish poll of stream %d: %w", o.StreamID, store.ErrLeaseLost)
	}
	return nil
}

func (s *Store) ResetStream(ctx context.Context, streamID int64, cursor *string) error {
	var c any
	if cursor != nil {
		c = enc(*cursor)
	}
	var n int64
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE streams SET status = 'ok', consecutive_failures = 0,
			next_poll_at = $1, cursor = coalesce($2, cursor) WHERE id = $3`, now, c, streamID)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("reset stream %d: %w", streamID, err)
	}
	if n == 0 {
		return fmt.Errorf("reset stream %d: %w", streamID, store.ErrNotFound)
	}
	return nil
}
