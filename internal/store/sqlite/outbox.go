package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

const notificationColumns = `id, alert_id, destination_id, kind, status, attempts, next_attempt_at, last_attempt_at,
	last_error, sent_at, created_at, lease_owner, lease_until`

func scanNotification(row interface{ Scan(...any) error }) (store.Notification, error) {
	var n store.Notification
	err := row.Scan(&n.ID, &n.AlertID, &n.DestinationID, &n.Kind, &n.Status, &n.Attempts, timeCol{&n.NextAttemptAt},
		timeCol{&n.LastAttemptAt}, &n.LastError, timeCol{&n.SentAt}, timeCol{&n.CreatedAt}, &n.LeaseOwner, timeCol{&n.LeaseUntil})
	return n, err
}

func scanNotifications(rows *sql.Rows) ([]store.Notification, error) {
	defer rows.Close()
	var ns []store.Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, err
		}
		ns = append(ns, n)
	}
	return ns, rows.Err()
}

// checkNotifications refuses what no engine could store, before a
// transaction starts.
func checkNotifications(ns []store.Notification) error {
	for i, n := range ns {
		switch {
		case n.ID == "":
			return fmt.Errorf("notification %d of %d has no id", i+1, len(ns))
		case n.AlertID == "" || n.DestinationID == "":
			return fmt.Errorf("notification %s names no alert or no destination", n.ID)
		case n.Kind != store.NotifyTrigger && n.Kind != store.NotifyResolve:
			return fmt.Errorf("notification %s: unknown kind %q (want %s or %s)", n.ID, n.Kind, store.NotifyTrigger, store.NotifyResolve)
		}
	}
	return nil
}

// insertNotifications writes the outbox rows in tx, pending and due at
// NextAttemptAt (now when zero). A notification to a destination that is
// gone (removed since the caller read the destinations) is not stored: it
// could never be sent, and a removed destination keeps no pending rows.
func insertNotifications(ctx context.Context, tx *sql.Tx, ns []store.Notification, now string) error {
	if len(ns) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO notifications (id, alert_id, destination_id, kind, status, next_attempt_at, created_at)
		SELECT ?1, ?2, ?3, ?4, 'pending', ?5, ?6 WHERE EXISTS (SELECT 1 FROM destinations WHERE id = ?3)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, n := range ns {
		due := now
		if !n.NextAttemptAt.IsZero() {
			due = timeText(n.NextAttemptAt)
		}
		if _, err := st.ExecContext(ctx, n.ID, n.AlertID, n.DestinationID, n.Kind, due, now); err != nil {
			switch {
			case isUniqueViolation(err):
				return fmt.Errorf("notification %s: %w", n.ID, store.ErrExists)
			case isForeignKeyViolation(err):
				return fmt.Errorf("notification %s: alert %s: %w", n.ID, n.AlertID, store.ErrNotFound)
			}
			return fmt.Errorf("notification %s: %w", n.ID, err)
		}
	}
	return nil
}

// ClaimNotifications is one UPDATE in a write transaction, as ClaimStreams:
// the pending rows due at the store's now and not under a live lease, the
// longest due first. A claim is an attempt: Attempts and LastAttemptAt move.
func (s *Store) ClaimNotifications(ctx context.Context, owner string, lease time.Duration, max int) ([]store.Notification, error) {
	if owner == "" {
		return nil, errors.New("claim notifications: the lease owner is empty")
	}
	if max <= 0 || lease <= 0 {
		return nil, nil
	}
	var ns []store.Notification
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		rows, err := tx.QueryContext(ctx, `UPDATE notifications
			SET lease_owner = $1, lease_until = $2, attempts = attempts + 1, last_attempt_at = $3
			WHERE id IN (
				SELECT id FROM notifications
				WHERE status = 'pending' AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)
				ORDER BY next_attempt_at, created_at, id LIMIT $4)
			RETURNING `+notificationColumns,
			owner, timeText(now.Add(lease)), timeText(now), max)
		if err != nil {
			return err
		}
		ns, err = scanNotifications(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	sort.Slice(ns, func(i, j int) bool {
		a, b := ns[i], ns[j]
		if !a.NextAttemptAt.Equal(b.NextAttemptAt) {
			return a.NextAttemptAt.Before(b.NextAttemptAt)
		}
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.ID < b.ID
	})
	return ns, nil
}

// FinishNotification ends an attempt and releases the lease, only while
// o.LeaseOwner holds a live lease by the store's clock: a deliverer whose
// lease ran out may have been overtaken by another, whose word counts.
func (s *Store) FinishNotification(ctx context.Context, o store.NotificationOutcome) error {
	if o.Sent && o.Failed {
		return fmt.Errorf("finish notification %s: an outcome cannot be both sent and failed", o.ID)
	}
	now := s.now()
	at := timeText(now)
	var errAt any
	if o.Err != "" {
		errAt = at
	}
	var res sql.Result
	var err error
	const fence = ` WHERE id = $1 AND lease_owner = $2 AND $2 <> '' AND lease_until > $3 AND status = 'pending'`
	switch {
	case o.Sent:
		res, err = s.exec(ctx, `UPDATE notifications SET status = 'sent', sent_at = $3,
			last_error = CASE WHEN $4 <> '' THEN $4 ELSE last_error END, last_error_at = coalesce($5, last_error_at),
			lease_owner = '', lease_until = NULL`+fence, o.ID, o.LeaseOwner, at, o.Err, errAt)
	case o.Failed:
		res, err = s.exec(ctx, `UPDATE notifications SET status = 'failed',
			last_error = CASE WHEN $4 <> '' THEN $4 ELSE last_error END, last_error_at = coalesce($5, last_error_at),
			lease_owner = '', lease_until = NULL`+fence, o.ID, o.LeaseOwner, at, o.Err, errAt)
	default:
		next := now
		if !o.NextAttempt.IsZero() {
			next = o.NextAttempt
		}
		res, err = s.exec(ctx, `UPDATE notifications SET next_attempt_at = $6,
			attempts = CASE WHEN $7 AND attempts > 0 THEN attempts - 1 ELSE attempts END,
			last_error = CASE WHEN $4 <> '' THEN $4 ELSE last_error END, last_error_at = coalesce($5, last_error_at),
			lease_owner = '', lease_until = NULL`+fence, o.ID, o.LeaseOwner, at, o.Err, errAt, timeText(next), o.Untried)
	}
	if err != nil {
		return fmt.Errorf("finish notification %s: %w", o.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("finish notification %s: %w: %q no longer holds a live lease; it will be sent again",
			o.ID, store.ErrLeaseLost, o.LeaseOwner)
	}
	return nil
}

// ListNotifications returns the notifications f selects, newest first.
func (s *Store) ListNotifications(ctx context.Context, f store.NotificationFilter) ([]store.Notification, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	where, args := whereEqual(map[string]string{"alert_id": f.AlertID, "destination_id": f.DestinationID, "status": f.Status})
	rows, err := s.reader.QueryContext(ctx, `SELECT `+notificationColumns+` FROM notifications`+where+`
		ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	ns, err := scanNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return ns, nil
}

// DestinationStats sums up the outbox of destination id (store.ErrNotFound
// when there is no such destination).
func (s *Store) DestinationStats(ctx context.Context, id string) (store.DestinationStats, error) {
	var st store.DestinationStats
	var one int
	err := s.reader.QueryRowContext(ctx, `SELECT 1 FROM destinations WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("destination %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return st, fmt.Errorf("stats of destination %s: %w", id, err)
	}
	err = s.reader.QueryRowContext(ctx, `SELECT
			count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'sent'),
			count(*) FILTER (WHERE status = 'failed'), max(sent_at)
		FROM notifications WHERE destination_id = ?`, id).Scan(&st.Pending, &st.Sent, &st.Failed, timeCol{&st.LastSentAt})
	if err != nil {
		return st, fmt.Errorf("stats of destination %s: %w", id, err)
	}
	err = s.reader.QueryRowContext(ctx, `SELECT last_error, last_error_at FROM notifications
		WHERE destination_id = ? AND last_error_at IS NOT NULL ORDER BY last_error_at DESC LIMIT 1`, id).
		Scan(&st.LastError, timeCol{&st.LastErrorAt})
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("stats of destination %s: %w", id, err)
	}
	return st, nil
}

// whereEqual is a WHERE clause holding "column = ?" for each value given
// ("" for none), in column order, so that the planner sees only the
// filters that apply and can use their indexes.
func whereEqual(eq map[string]string) (string, []any) {
	cols := make([]string, 0, len(eq))
	for c, v := range eq {
		if v != "" {
			cols = append(cols, c)
		}
	}
	if len(cols) == 0 {
		return "", nil
	}
	sort.Strings(cols)
	args := make([]any, len(cols))
	for i, c := range cols {
		args[i] = eq[c]
		cols[i] += " = ?"
	}
	return " WHERE " + strings.Join(cols, " AND "), args
}
